"""The one small interface every fault implements, and the registry of fault types.

A fault is a pydantic model (its parameters, units in their names) with four hooks:

* ``on_create(spec)``  change how the agent container is created (caps, devices, limits...)
* ``apply(world)``     inject at ``at_s`` seconds after the agent starts (0: before it starts)
* ``clear(world)``     undo, ``duration_s`` seconds later (``None``: never cleared during the run)
* ``describe()``       one line for reports

and may name the profile fields it cannot work without (``needs``; the scenario is then skipped
with the field named, never run on a guess). A fault that changes the world in a way a pooled
world's reset cannot undo (harness/pool.py) says so with ``needs_own_world()``.

Faults register by type name with :func:`register`; scenarios name them by that type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from harness.registry import Registry

if TYPE_CHECKING:
    from harness.profile import Profile
    from harness.runtime import AgentSpec, World

FAULTS = Registry("fault")


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    family: ClassVar[str] = "other"
    """Fault family (the seed's section), used to group results and weight scores."""

    windowed: ClassVar[bool | None] = None
    """Whether the fault has a time window on the timeline (checks such as ``recovers`` use it).
    None: yes when the class overrides ``apply`` (a run-time fault), no for creation-time faults."""

    profile_needs: ClassVar[tuple[str, ...]] = ()
    """Profile fields this fault cannot be injected without (``config.file``, ``launcher``...)."""

    type: str
    at_s: float = Field(0.0, ge=0, description="seconds after the agent starts; 0 = before it starts")
    duration_s: float | None = Field(None, gt=0, description="seconds until cleared; None = never")

    def missing(self, profile: "Profile") -> list[str]:
        """The profile fields this fault needs and the profile leaves undeclared."""
        return [f for f in self.profile_needs if profile.lacks(f)]

    def needs_own_world(self) -> bool:
        """Whether the scenario needs a world of its own, not a pooled one: the fault changes the
        center's or Toxiproxy's container or network beyond what their reset undoes (default: no;
        the center's behaviour, Toxiproxy's proxies and toxics are reset)."""
        return False

    def on_create(self, spec: "AgentSpec") -> None:
        """Creation-time part of the fault (default: none)."""

    def local_only(self) -> str | None:
        """What of this fault needs the engine on this machine (a file or device node made here, a
        kernel switch of this machine), said as the skip reason's start; None (default): it works
        on a remote engine too (docs/remote-engine.md)."""
        return None

    def apply(self, world: "World") -> None:
        """Run-time part of the fault (default: none)."""

    def clear(self, world: "World") -> None:
        """Undo ``apply`` (default: nothing to undo)."""

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.type}({params})"

    def params(self) -> dict[str, Any]:
        return self.model_dump(exclude={"type"}, exclude_none=True)

    @property
    def has_window(self) -> bool:
        if self.windowed is not None:
            return self.windowed
        return type(self).apply is not Fault.apply

    @property
    def clears_at_s(self) -> float | None:
        return None if self.duration_s is None else self.at_s + self.duration_s


def register(cls: type[Fault]) -> type[Fault]:
    """Class decorator: make ``cls`` available to scenarios under its ``type`` default."""
    return FAULTS.register(cls)
