"""Mutant: full jitter over half the declared spread — sleeps uniform(0, ceiling / 2), never more.

Must be flagged by: retry-schedule / retry_schedule (its 23 tested gaps sit in the lower half of
their envelopes: KS rejects in >= 99 % of runs, docs/coverage.md "Power").
"""
import random
import sys

sys.path.insert(0, "/app/agent")
import retry  # noqa: E402  (the agent imports this same module object later)

retry.RetryPolicy.delay = lambda self, attempt, rng=None, prev=None: (rng or random).uniform(0, self.ceiling(attempt) / 2)
