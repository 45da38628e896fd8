"""Mutant: exponential backoff without jitter — always sleeps the full ceiling min(cap, base·factor^(n-1)).

Must be flagged by: retry-schedule / retry_schedule (gaps sit at their ceilings: u ≈ 1, KS rejects).
"""
import sys

sys.path.insert(0, "/app/agent")
import retry  # noqa: E402  (the agent imports this same module object later)

retry.RetryPolicy.delay = lambda self, attempt, rng=None, prev=None: self.ceiling(attempt)
