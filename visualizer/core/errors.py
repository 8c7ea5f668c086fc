"""The errors the core raises on purpose, each with the CLI exit code it maps to.

Rule (as in h11): misuse and bad input raise one of these, with a message a
user can act on; anything else that escapes is a bug.
"""

from __future__ import annotations


class VisualizerError(Exception):
    """Base class: ``str(err)`` is the one line shown to the user."""

    exit_code = 1


class BadInput(VisualizerError):
    """Bad usage or bad input: unreadable file, unknown scenario, bad filter..."""

    exit_code = 2


class CaptureNotPermitted(VisualizerError):
    """The capture socket could not be opened for lack of privilege."""

    exit_code = 3


class CaptureFailed(VisualizerError):
    """The capture process failed for a reason other than privilege."""

    exit_code = 1
