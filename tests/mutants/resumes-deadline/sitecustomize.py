"""Mutant: the registration deadline survives a restart. The first Deadline records its start
(wall clock) in /app/state/deadline.json, and every later one — in a container Docker restarted,
whose writable layer is kept — resumes that start instead of beginning a new budget. The first life
gives up at its deadline with exit 20 as promised; every restart finds the deadline already spent
and gives up at once with exit 20, before any attempt: a tight crash loop.

Must be flagged by: center-500-forever / restart_backoff (incarnation 2 lives well under
min_uptime_s); gives_up judges the first life only and passes.
"""
import json
import os
import sys
import time

sys.path.insert(0, "/app/agent")
import retry  # noqa: E402  (agent.py imports Deadline from this same module object later)

STATE = os.path.join(os.environ.get("STATE_DIR", "/app/state"), "deadline.json")
_init = retry.Deadline.__init__


def __init__(self, budget_s, clock=time.monotonic):
    _init(self, budget_s, clock)
    try:
        with open(STATE) as f:
            started = float(json.load(f)["started"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            with open(STATE, "w") as f:
                json.dump({"started": time.time()}, f)
        except OSError:
            pass
        return
    self.start -= max(0.0, time.time() - started)  # resume the old budget


retry.Deadline.__init__ = __init__
