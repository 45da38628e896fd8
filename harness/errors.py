"""Errors a user can act on: each names the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path


class StartleError(Exception):
    """Base class of errors that the CLI prints without a traceback."""


class InputError(StartleError):
    """A scenario or profile file is wrong.

    The message reads ``FILE: FIELD: PROBLEM (fix: FIX)`` so that it can be acted on without
    opening the code.
    """

    def __init__(self, path: Path | str, field: str, problem: str, fix: str) -> None:
        self.path, self.field, self.problem, self.fix = str(path), field, problem, fix
        super().__init__(f"{path}: {field}: {problem} (fix: {fix})")


class InfrastructureError(StartleError):
    """The harness could not build the world a scenario needs (engine down, image missing...).

    This is never the agent's fault: a scenario that hits it is reported as ``error``, not ``fail``.
    """
