"""Paths and label names shared by the whole harness."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The project checkout (the folder that holds pyproject.toml)."""

SCENARIOS_DIR = ROOT / "scenarios"
PROFILES_DIR = ROOT / "fixtures" / "profiles"
REPORTS_DIR = Path(os.environ.get("STARTLE_REPORTS", ROOT / "reports"))

LABEL_MANAGED = "startle.managed"
"""Every container, network and volume startle creates carries ``startle.managed=true``."""
LABEL_RUN = "startle.run"
"""The run id, so that one run's leftovers can be reaped."""
LABEL_PID = "startle.pid"
"""The pid of the process that owns the run; a run whose pid is gone is stale."""
LABEL_HOST = "startle.host"
"""The hostname of that process (a pid means nothing on another host)."""
LABEL_SCENARIO = "startle.scenario"
LABEL_WORLD = "startle.world"
"""A fresh id per scenario execution: Docker events are filtered by it, so a scenario that runs
twice in one run never sees the previous execution's containers."""
LABEL_ROLE = "startle.role"
"""center, toxiproxy or agent."""
