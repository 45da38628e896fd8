"""Fault plugins, one module per family. Importing this package registers them all."""

from harness.faults.base import FAULTS, Fault, register
from harness.faults import center_failure, proxy_down  # noqa: F401  (registration)

__all__ = ["FAULTS", "Fault", "register"]
