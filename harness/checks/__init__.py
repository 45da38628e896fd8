"""Typed expectations. Importing this package registers every check type."""

from harness.checks.base import CHECKS, Check, CheckContext, FaultWindow, Verdict, register
from harness.checks import readiness, recovery, retry_gaps  # noqa: F401  (registration)

__all__ = ["CHECKS", "Check", "CheckContext", "FaultWindow", "Verdict", "register"]
