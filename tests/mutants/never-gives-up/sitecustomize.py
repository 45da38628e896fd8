"""Mutant: the registration deadline never expires — it retries a center that always fails for ever.

Must be flagged by: center-500-forever / gives_up.
"""
import sys

sys.path.insert(0, "/app/agent")
import retry  # noqa: E402

retry.Deadline.expired = lambda self: False
retry.Deadline.remaining = lambda self: float("inf")
