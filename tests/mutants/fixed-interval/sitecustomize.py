"""Mutant: retries at a fixed 0.5 s interval, whatever the attempt — no backoff, no jitter.

Must be flagged by: center-outage / gaps_grow.
"""
import sys

sys.path.insert(0, "/app/agent")
import retry  # noqa: E402  (the agent imports this same module object later)

retry.RetryPolicy.delay = lambda self, attempt, rng=None, prev=None: 0.5
