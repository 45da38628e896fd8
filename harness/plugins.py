"""Import every module of a package, so that its classes register themselves (faults, checks)."""

from __future__ import annotations

import importlib
import pkgutil


def import_all(package_name: str, package_path: list[str]) -> list[str]:
    """Import each submodule of ``package_name`` (found on ``package_path``); returns their names."""
    names = []
    for module in pkgutil.iter_modules(package_path):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package_name}.{module.name}")
            names.append(module.name)
    return names
