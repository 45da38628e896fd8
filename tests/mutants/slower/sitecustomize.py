"""Variant: the reference agent, SLOWER_STARTUP_S seconds (default 2.0) slower to start.

It waits before it starts its health server, so its time to ready, registration and everything
after grow by that much in every scenario, while every check still passes (their bounds are far
wider). Must be flagged by: ``startle compare`` (ready … SLOWER), by no check.
"""
import os
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402  (entrypoint.py imports this same module object later)

DELAY_S = float(os.environ.get("SLOWER_STARTUP_S") or 2.0)

_start_health = agent.Agent.start_health


def start_health(self):
    self.stop.wait(DELAY_S)  # returns early on SIGTERM/SIGINT, like the agent's own waits
    _start_health(self)


agent.Agent.start_health = start_health
