"""Mutant: from its 3rd retry on it waits 20 s (a cap far above the declared 4 s): after an
outage it comes back long after the center did.

Must be flagged by: center-outage / recovers.
"""
import sys

sys.path.insert(0, "/app/agent")
import retry  # noqa: E402

_delay = retry.RetryPolicy.delay


def delay(self, attempt, rng=None, prev=None):
    return 20.0 if attempt >= 3 else _delay(self, attempt, rng, prev)


retry.RetryPolicy.delay = delay
