"""The agent's config is changed for one scenario: a few of its settings set.

Used to give a scenario a short registration deadline or a different breaker threshold without a
second config folder. Settings are named the way startle names them (``registration_deadline_s``,
``breaker_threshold``); the profile's ``config.keys`` says where each lives in the agent's main
config file (JSON, YAML, TOML or INI). ``keys`` names key paths of that file directly (a node's own
settings, read from its evidence by ``startle reproduce``). ``on_create`` edits the scenario's own rendered copy
(``World.agent_spec`` makes it before faults' ``on_create`` run), never the profile's templates.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from harness.faults._config import set_keys
from harness.faults.base import Fault, register


@register
class ConfigOverride(Fault):
    family = "config"

    type: Literal["config_override"] = "config_override"
    set: dict[str, Any] = Field({}, description="startle's setting name → value, e.g. registration_deadline_s: 4 "
                                "(the setting's own unit)")
    keys: dict[str, Any] = Field({}, description="key path in the agent's main config file → value, e.g. "
                                 "heartbeat_interval_s: 3 (what a node's own file says; startle reproduce)")

    def missing(self, profile) -> list[str]:
        lacking = [] if not profile.lacks("config.file") else ["config.file"]
        return lacking + [f"config.keys.{name}" for name in self.set if profile.lacks(f"config.keys.{name}")]

    def on_create(self, spec) -> None:
        set_keys(spec.config, {**{spec.config.keys[name]: value for name, value in self.set.items()}, **self.keys})

    def describe(self) -> str:
        return "config_override(" + ", ".join(f"{k}={v}" for k, v in {**self.set, **self.keys}.items()) + ")"
