"""Mutant: its circuit breaker never opens — failures are counted, the breaker stays closed.

Must be flagged by: breaker-opens / breaker_opens.
"""
import sys

sys.path.insert(0, "/app/agent")
import retry  # noqa: E402

retry.CircuitBreaker.record_failure = lambda self: None
