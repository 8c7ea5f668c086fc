"""Packet Visualizer: makes TCP and UDP visible."""

from visualizer.core import compiled as _compiled

__version__ = "0.1.0"
APP_NAME = "Packet Visualizer"

# Before anything imports the analysis: the compiled modules only when they are
# built from the sources as they are now (core/compiled.py).
_compiled.install()
