"""Mutant: a hard-coded 250 ms request timeout (the config's request_timeout_s is ignored), tuned on
a LAN where the center answers in a few ms. Through a slow link no answer ever arrives in time:
every metadata lookup and registration attempt times out, so it never registers.

Must be flagged by: toxic-latency / request_time (300 ± 100 ms each way: ≥ 400 ms per request, so
no registration succeeds and none is timed; the reference's 2 s timeout registers in ~0.6 s).
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402  (the entrypoint imports this same module object later)

IMPATIENT_TIMEOUT_S = 0.25

_init = agent.Agent.__init__


def __init__(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.timeout = IMPATIENT_TIMEOUT_S  # every request of the agent (metadata, register, heartbeat, logs)


agent.Agent.__init__ = __init__
