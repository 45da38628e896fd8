"""Seed 2.2: host CPU / memory / pids limits at container creation.

``memory_limit``: ``--memory memory_mb`` with swap off for it (``--memory-swap`` = the same), and
the agent's init working set raised with its setting ``init_buffer_mb`` (reference CONTRACT.md: the
agent fills that many MiB during startup, as a real agent loading a model or a device table
would). A cap below the working set gets the agent OOM-killed. The harness records the cgroup's
peak memory (``harness``/``memory`` events).

``cpu_limit``: ``--cpus cpus`` (0.1 = a tenth of one core).

``pids_limit``: ``--pids-limit pids`` (threads count: the agent needs several).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.faults import _agentwatch
from harness.faults._config import set_setting
from harness.faults.base import Fault, register


class _WatchedLimit(Fault):
    """A creation-time limit whose effect is watched on the running agent (state, memory peak)."""

    family = "resources"

    def apply(self, world) -> None:
        _agentwatch.watch(world)


@register
class MemoryLimit(_WatchedLimit):
    type: Literal["memory_limit"] = "memory_limit"
    memory_mb: int = Field(gt=4, description="--memory, MiB (swap disallowed beyond it)")
    init_buffer_mb: int = Field(0, ge=0, description="the agent's init working set on top of Python, MiB")

    def missing(self, profile) -> list[str]:
        wanted = "config.keys.init_buffer_mb"
        return [wanted] if self.init_buffer_mb and profile.lacks(wanted) else []

    def on_create(self, spec) -> None:
        spec.memory_mb = self.memory_mb
        spec.memswap_mb = self.memory_mb
        if self.init_buffer_mb:
            set_setting(spec, "init_buffer_mb", self.init_buffer_mb)

    def apply(self, world) -> None:
        _agentwatch.watch(world, memory=True)

    def clear(self, world) -> None:
        _agentwatch.stop(world)


@register
class CpuLimit(_WatchedLimit):
    type: Literal["cpu_limit"] = "cpu_limit"
    cpus: float = Field(gt=0, description="--cpus, cores")

    def on_create(self, spec) -> None:
        spec.cpus = self.cpus


@register
class PidsLimit(_WatchedLimit):
    type: Literal["pids_limit"] = "pids_limit"
    pids: int = Field(ge=1, description="--pids-limit, tasks (processes + threads)")

    def on_create(self, spec) -> None:
        spec.pids_limit = self.pids
