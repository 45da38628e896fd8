"""Seed 3.1: dynamic environment. ``env`` unsets or overrides the agent's variables (the launcher
got them wrong) — by name, or by what they hold (``unset_holding: [node_id]`` removes every
variable of the profile's ``env`` whose template holds ``{node_id}``; ``break_holding`` gives them
a broken value); ``metadata_region`` makes the center's metadata endpoint (the seed's IMDS) answer
a given region, which the agent must pick up when its region variable (``knobs.region``) is unset."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.faults.base import Fault, register


@register
class Env(Fault):
    family = "env"

    type: Literal["env"] = "env"
    unset: list[str] = Field([], description="variables removed from the agent's environment")
    values: dict[str, str] = Field({}, description="variables set (or overridden)")
    unset_holding: list[str] = Field([], description="placeholders (node_id, center_url...): every variable "
                                     "whose template holds one is removed")
    break_holding: dict[str, str] = Field({}, description="placeholder → value given to every variable "
                                          "whose template holds it")
    _names: dict[str, list[str]] = {}

    def missing(self, profile) -> list[str]:
        self._names = {p: holding(profile.env, p) for p in [*self.unset_holding, *self.break_holding]}
        return [f"env (no variable holds {{{p}}})" for p, names in self._names.items() if not names]

    def on_create(self, spec) -> None:
        for key in self.unset + [n for p in self.unset_holding for n in self._names.get(p, [])]:
            spec.env.pop(key, None)
        for placeholder, value in self.break_holding.items():
            for name in self._names.get(placeholder, []):
                spec.env[name] = value
        spec.env.update(self.values)


def holding(env: dict[str, str], placeholder: str) -> list[str]:
    """The variables of a profile's ``env`` whose template holds ``{placeholder}``."""
    return [k for k, v in env.items() if "{" + placeholder + "}" in v]


@register
class MetadataRegion(Fault):
    family = "env"

    type: Literal["metadata_region"] = "metadata_region"
    region: str = Field(description="what the center's metadata route answers as region")
    profile_needs: ClassVar[tuple[str, ...]] = ("center.metadata",)

    def on_create(self, spec) -> None:
        if "region" in spec.knobs:
            spec.env.pop(spec.knobs["region"], None)

    def apply(self, world) -> None:
        world.center.behaviour(region=self.region)
