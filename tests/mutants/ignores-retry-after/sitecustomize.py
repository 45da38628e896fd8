"""Mutant: ignores Retry-After — a 429 is an ordinary failure, retried on the backoff schedule.

Must be flagged by: center-429-retry-after / honours_retry_after (attempts before Retry-After expires).
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

agent.parse_retry_after = lambda value, now=None: None
