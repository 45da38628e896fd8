"""Typed expectations. Importing this package registers every module in it: adding a check type
is adding a module here (see base.py for the interface)."""

from harness.checks.base import CHECKS, Check, CheckContext, Verdict, register
from harness.view import FaultWindow
from harness.plugins import import_all

import_all(__name__, __path__)

__all__ = ["CHECKS", "Check", "CheckContext", "FaultWindow", "Verdict", "register"]
