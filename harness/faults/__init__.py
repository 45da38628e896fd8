"""Fault plugins, one module per family. Importing this package registers every module in it:
adding a fault type is adding a module here (see base.py for the interface)."""

from harness.faults.base import FAULTS, Fault, register
from harness.plugins import import_all

import_all(__name__, __path__)

__all__ = ["FAULTS", "Fault", "register"]
