"""Helpers for faults that change the agent's mounted config copy (``<scratch>/config/agent.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONFIG_MOUNT = "/app/config"
CONFIG_FILE = "agent.json"


def config_dir(spec: Any) -> Path:
    for host_path, bind in spec.volumes.items():
        if bind.get("bind") == CONFIG_MOUNT:
            return Path(host_path)
    raise LookupError("the agent spec mounts no config directory (profile without `config`?)")


def update_config(spec: Any, **changes: Any) -> Path:
    """Set top-level keys of the mounted agent.json copy; returns its path."""
    path = config_dir(spec) / CONFIG_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
