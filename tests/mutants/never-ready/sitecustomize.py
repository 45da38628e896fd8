"""Mutant: says it is ready in its log, but its /ready endpoint never answers 200.

Must be flagged by: baseline / ready (the harness asks the endpoint itself).
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

_check = agent.Health.check


def check(self, path):
    ok, info = _check(self, path)
    return (False, info) if path == "/ready" else (ok, info)


agent.Health.check = check
