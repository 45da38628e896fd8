"""Mutant: every preflight failure exits 1 — the cause is logged, but the exit code says nothing.

Must be flagged by: config-missing / exits (the contract's code for a missing config is 11).
"""
import sys

sys.path.insert(0, "/app/agent")
import preflight  # noqa: E402

preflight.PreflightFailure.exit_code = property(lambda self: 1, lambda self, value: None)
