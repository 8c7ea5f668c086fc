"""Packet Visualizer: makes TCP and UDP visible."""

import os as _os

# Before numpy is imported: its OpenBLAS starts a thread per core that spins for
# about 0.1 s of CPU, and nothing here multiplies matrices. One thread never spins.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from visualizer.core import compiled as _compiled

__version__ = "0.1.0"
APP_NAME = "Packet Visualizer"

# Before anything imports the analysis: the compiled modules only when they are
# built from the sources as they are now (core/compiled.py).
_compiled.install()
