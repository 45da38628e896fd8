"""The center answers badly: scripted HTTP errors, Retry-After, delay, or no answer at all.

Uses the mock center's admin API (fixtures/center/API.md). ``clear`` restores normal answers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.faults.base import Fault, register


@register
class CenterFailure(Fault):
    family = "center"

    type: Literal["center_failure"] = "center_failure"
    status: int = Field(503, ge=400, le=599, description="HTTP status of the failed answers")
    fail_next: int | None = Field(None, ge=1, description="fail this many requests, then answer normally")
    retry_after_s: int | None = Field(None, ge=0, description="seconds, sent as Retry-After")
    delay_ms: int = Field(0, ge=0, description="added before every answer, milliseconds")
    paths: list[str] | None = Field(None, description="paths (or route names) that fail; default: the "
                                    "profile's register route")

    def missing(self, profile) -> list[str]:
        if profile.center.image is not None:
            return ["center.routes (the built-in recording center: this profile runs its own center image)"]
        return ["center.register"] if self.paths is None and profile.lacks("center.register") else []

    def apply(self, world) -> None:
        world.center.behaviour(
            status=self.status,
            fail_next=self.fail_next or 0,
            fail_forever=self.fail_next is None,
            retry_after_s=self.retry_after_s,
            delay_ms=self.delay_ms,
            paths=self.paths or [world.profile.center.register_path],
        )

    def clear(self, world) -> None:
        world.center.behaviour(fail_next=0, fail_forever=False, retry_after_s=None, delay_ms=0)
