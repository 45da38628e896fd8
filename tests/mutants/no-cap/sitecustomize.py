"""Mutant: exponential backoff with full jitter but no cap — uniform(0, base·factor^(n-1)) for ever.

Must be flagged by: retry-schedule / retry_schedule (gaps past the 4 s cap exceed their ceiling).
"""
import random
import sys

sys.path.insert(0, "/app/agent")
import retry  # noqa: E402


def delay(self, attempt, rng=None, prev=None):
    r = rng if rng is not None else random
    return r.uniform(0.0, self.base_s * self.factor ** min(attempt - 1, 60))


retry.RetryPolicy.delay = delay
