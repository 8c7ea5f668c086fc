"""How a scenario run fails: the errors its sides raise and the driver reports.

A side that fails raises ``ScenarioFailed`` (or a subclass); the driver stops
the other sides and puts the first failure in ``RunResult.error``. Bad
parameters and busy ports are ``BadInput`` and are raised by ``prepare``
before anything runs.
"""

from __future__ import annotations

from visualizer.core.errors import VisualizerError


class ScenarioFailed(VisualizerError):
    """A side of a scenario could not finish: a reset, a refusal, a timeout..."""

    exit_code = 1


class SocketCallFailed(ScenarioFailed):
    """A socket call returned an error; ``errno`` says which.

    Scenarios that expect an error (a refused connect, say) catch this and
    look at ``errno``; the call is in the log either way.
    """

    def __init__(self, message: str, errno: int | None) -> None:
        super().__init__(message)
        self.errno = errno


class CallTimedOut(ScenarioFailed):
    """A blocking call waited past the run's timeout or its own limit."""


class RunAborted(Exception):
    """Raised inside a side when another side has failed: it just stops.

    Never reaches a caller: the driver reports the failure that caused it.
    """
