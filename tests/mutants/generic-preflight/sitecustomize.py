"""Mutant: one generic preflight message for every failure ("PREFLIGHT FAIL preflight agent:
startup checks failed (hint: see the documentation)"), exit codes unchanged.

Must be flagged by: device-missing / diagnosis (the message must name the device and the fix).
"""
import sys

sys.path.insert(0, "/app/agent")
import preflight  # noqa: E402

_init = preflight.PreflightFailure.__init__


def __init__(self, check, subject, cause, hint):
    _init(self, check, subject, cause, hint)
    self.check, self.subject = "preflight", "agent"
    self.cause, self.hint = "startup checks failed", "see the documentation"


preflight.PreflightFailure.__init__ = __init__
