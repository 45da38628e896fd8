"""The agent's mounted config is changed for one scenario: a few keys of ``agent.json`` set.

Used to give a scenario a short registration deadline (``retry.deadline_s``) or a different
breaker threshold without a second config folder. ``on_create`` edits the scenario's own copy of
the config (``World.agent_spec`` makes the copy before faults' ``on_create`` run), never the
fixture. Keys are dotted paths into the JSON object: ``{"retry.deadline_s": 4}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from harness.faults.base import Fault, register


def set_dotted(obj: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        obj = obj.setdefault(key, {})
    obj[leaf] = value


@register
class ConfigOverride(Fault):
    family = "config"

    type: Literal["config_override"] = "config_override"
    file: str = "agent.json"
    set: dict[str, Any] = Field(description="dotted key → value, e.g. retry.deadline_s: 4 (the key's own unit)")

    def config_file(self, spec) -> Path:
        for host, bind in spec.volumes.items():
            if Path(host).is_dir() and (Path(host) / self.file).is_file():
                return Path(host) / self.file
        raise RuntimeError(f"config_override: no mounted config folder holds {self.file}")

    def on_create(self, spec) -> None:
        path = self.config_file(spec)
        config = json.loads(path.read_text())
        for dotted, value in self.set.items():
            set_dotted(config, dotted, value)
        path.write_text(json.dumps(config, indent=2) + "\n")

    def describe(self) -> str:
        return "config_override(" + ", ".join(f"{k}={v}" for k, v in self.set.items()) + ")"
