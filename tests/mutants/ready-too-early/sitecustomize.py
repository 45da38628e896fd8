"""Mutant: /ready answers 200 as soon as the health server is up — before the agent registered.

Must be flagged by: ready-waits-for-center / ready_not_before_registered.
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

_check = agent.Health.check


def check(self, path):
    ok, info = _check(self, path)
    return (self.started, info) if path == "/ready" else (ok, info)


agent.Health.check = check
