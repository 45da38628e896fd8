"""Seed 3.1: dynamic environment. ``env`` unsets or overrides the agent's variables (the launcher
got them wrong); ``metadata_region`` makes the center's metadata endpoint (the seed's IMDS) answer
a given region, which the agent must pick up when ``EDGE_REGION`` is not set."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.faults.base import Fault, register


@register
class Env(Fault):
    family = "env"

    type: Literal["env"] = "env"
    unset: list[str] = Field([], description="variables removed from the agent's environment")
    values: dict[str, str] = Field({}, description="variables set (or overridden)")

    def on_create(self, spec) -> None:
        for key in self.unset:
            spec.env.pop(key, None)
        spec.env.update(self.values)


@register
class MetadataRegion(Fault):
    family = "env"

    type: Literal["metadata_region"] = "metadata_region"
    region: str = Field(description="what GET /v1/metadata answers as region")

    def on_create(self, spec) -> None:
        spec.env.pop("EDGE_REGION", None)

    def apply(self, world) -> None:
        world.center.behaviour(region=self.region)
