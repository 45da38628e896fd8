"""Typed expectations, evaluated on the timeline.

A check is a pydantic model (its parameters) with one method::

    evaluate(ctx, final) -> Verdict | None

It returns a verdict as soon as the timeline decides it (the run loop calls it after every new
event), or ``None`` while undecided. With ``final=True`` (the scenario's deadline passed, or every
other check is decided and the world is being torn down) it must decide.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from harness.profile import Profile
from harness.registry import Registry
from harness.timeline import Event, Timeline

CHECKS = Registry("check")

Status = Literal["pass", "fail"]


@dataclass
class Verdict:
    """The decision of one check. ``measured`` holds the numbers behind it (seconds, counts)."""

    check: str
    status: Status
    message: str
    measured: dict[str, Any] = field(default_factory=dict)
    decided_at: float = field(default_factory=time.time)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultWindow:
    """When a fault was in force: Unix seconds; ``end`` is None while it still is."""

    fault: str
    start: float
    end: float | None


@dataclass
class CheckContext:
    """What a check may look at: the timeline plus the facts needed to read it."""

    timeline: Timeline
    profile: Profile
    node_id: str
    clock: Callable[[], float] = time.time
    """Unix seconds now; injectable so that checks can be judged on recorded timelines."""

    # --- derived views -------------------------------------------------------------------
    @property
    def agent_started(self) -> float | None:
        """Unix time the agent container first started (Docker's ``start`` event)."""
        event = self.timeline.first("docker", "start", lambda e: e.container == "agent")
        return event.t if event else None

    def fault_windows(self) -> list[FaultWindow]:
        windows: list[FaultWindow] = []
        for event in self.timeline.select("fault"):
            if event.kind == "applied":
                windows.append(FaultWindow(event.get("fault"), event.t, None))
            elif event.kind == "cleared":
                for w in windows:
                    if w.fault == event.get("fault") and w.end is None:
                        w.end = event.t
                        break
        return windows

    def agent_events(self, name: str) -> list[Event]:
        """The agent's JSON log events called ``name`` (per the profile's signals), in time order."""
        return self.timeline.select("agent", name)

    def center_requests(self, path: str | None = None, status: int | None = None) -> list[Event]:
        """The center's request records for this node, optionally one path and status."""
        return self.timeline.select(
            "center", "request",
            lambda e: e.get("node_id") in (self.node_id, None)
            and (path is None or e.get("path") == path)
            and (status is None or e.get("status") == status))

    def agent_exited(self) -> Event | None:
        """The agent container's first ``die`` event, if any."""
        return self.timeline.first("docker", "die", lambda e: e.container == "agent")


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    describes: ClassVar[str] = ""

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        raise NotImplementedError

    # helpers shared by checks
    def verdict(self, status: Status, message: str, **measured: Any) -> Verdict:
        return Verdict(self.type, status, message, measured)

    def deadline_from(self, start: float | None, within_s: float, ctx: CheckContext, final: bool) -> bool:
        """True when ``within_s`` seconds after ``start`` have passed (or the run is final)."""
        return final or (start is not None and ctx.clock() > start + within_s)

    def anchor(self, ctx: CheckContext) -> float | None:
        """The Unix time ``within_s`` counts from (default: the agent's start)."""
        return ctx.agent_started

    def wake_at(self, ctx: CheckContext) -> float | None:
        """When the run loop must re-evaluate this check even if no event arrives (its deadline)."""
        within = getattr(self, "within_s", None)
        anchor = self.anchor(ctx)
        return None if within is None or anchor is None else anchor + within + 0.01


def register(cls):
    """Class decorator: make a check available to scenarios under its ``type`` default."""
    return CHECKS.register(cls)
