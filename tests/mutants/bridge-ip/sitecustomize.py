"""Mutant: registers its bridge IP. It ignores ADVERTISE_ADDR and always advertises the address
its hostname resolves to inside the container (its own bridge address).

Must be flagged by: advertise-forwarded / registered (behind a NAT the center cannot connect
back to the bridge address: 422, the agent never registers).
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

_init = agent.Agent.__init__


def __init__(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.env = {k: v for k, v in self.env.items() if k != "ADVERTISE_ADDR"}


agent.Agent.__init__ = __init__
