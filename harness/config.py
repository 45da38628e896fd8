"""Paths and label names shared by the whole harness."""

from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
PACKAGED = Path(__file__).resolve().parent / "_data"
ROOT = CHECKOUT if (CHECKOUT / "fixtures").is_dir() else PACKAGED
"""Where startle's own files are: the checkout (it holds fixtures/, scenarios/, tests/mutants/), or,
installed from a wheel, the package data the wheel carries in ``harness/_data`` (setup.py copies
them there). Everything a *user* brings — profiles, scenarios, reports — is relative to the
working directory instead."""

SCENARIOS_DIR = ROOT / "scenarios"
"""The built-in scenarios (selectable by name or family)."""
PROFILES_DIR = ROOT / "fixtures" / "profiles"
"""The built-in profiles (the reference agent's and the third-party agents')."""
REPORTS_DIR = Path(os.environ.get("STARTLE_REPORTS", Path.cwd() / "reports"))
"""Run reports: ``./reports`` of the working directory (``STARTLE_REPORTS`` overrides)."""
PROJECT_FILE = Path("startle.yaml")
"""A user's project settings in the working directory (``startle init`` writes it)."""

LABEL_MANAGED = "startle.managed"
"""Every container, network and volume startle creates carries ``startle.managed=true``."""
LABEL_RUN = "startle.run"
"""The run id, so that one run's leftovers can be reaped."""
LABEL_PID = "startle.pid"
"""The pid of the process that owns the run; a run whose pid is gone is stale."""
LABEL_HOST = "startle.host"
"""The hostname of that process (a pid means nothing on another host)."""
LABEL_SCENARIO = "startle.scenario"
"""The scenario's name (a pooled infrastructure's: ``pool-…``); a scenario's cleanup reaps by it."""
LABEL_WORLD = "startle.world"
"""The id of the infrastructure (network, center, Toxiproxy) and of everything run against it:
a scenario's own, or a pooled one shared by a worker's scenarios (harness/pool.py)."""
LABEL_EXECUTION = "startle.execution"
"""A fresh id per scenario execution, on what the scenario creates (not on the infrastructure):
its Docker events are filtered by it, so a scenario never sees the containers of an earlier one on
the same pooled world, nor a previous execution of itself."""
LABEL_ROLE = "startle.role"
"""center, toxiproxy or agent."""
