"""Make Ctrl-C reach a child as it would from a terminal.

A shell starts background jobs with SIGINT ignored, and Python keeps an
ignored SIGINT ignored: a child of a test suite launched that way (``cmd &``,
some CI runners) would never see the interrupt the test sends. Passing
``preexec_fn=default_sigint`` gives the child the terminal's behaviour.
"""

from __future__ import annotations

import signal


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
