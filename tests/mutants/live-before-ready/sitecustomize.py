"""Mutant: /healthz answers 200 from the start, before the agent is ready (stages out of order).

Must be flagged by: baseline / stage_order.
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

_check = agent.Health.check


def check(self, path):
    ok, info = _check(self, path)
    return (True, info) if path == "/healthz" else (ok, info)


agent.Health.check = check
