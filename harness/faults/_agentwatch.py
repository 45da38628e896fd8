"""What the harness observes of the agent container beyond Docker's events (shared by faults).

``watch(world, memory=False)`` subscribes, once per scenario, to the agent's Docker ``start``
events and records on the timeline:

* ``harness``/``agent_config``: the container's security context and limits as Docker holds them
  (privileged, user, cap_drop/cap_add, group_add, devices, network mode, memory, pids, cpus), so
  checks can assert them (``security_context``);
* with ``memory=True``, ``harness``/``memory``: the peak memory of the container's cgroup (v1
  ``memory.max_usage_in_bytes``, the kernel's own high-water mark, so sampling misses nothing
  while the cgroup exists) and its limit, read every 50 ms while it runs and recorded when it
  stops (at Docker's ``oom`` or ``die`` event, one record per container start).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from harness.engine import points_elsewhere
from harness.timeline import Event

CGROUP_MEMORY = Path("/sys/fs/cgroup/memory/docker")
SAMPLE_S = 0.05


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class AgentWatch:
    def __init__(self, world: Any, memory: bool) -> None:
        self.world, self.memory = world, memory
        self.stopping = threading.Event()
        self.peaks: dict[str, int] = {}
        self.limit: int | None = None

    def __call__(self, event: Event) -> None:
        if event.source != "docker" or event.container != "agent":
            return
        if event.kind == "start":
            self.inspect()
            if self.memory:
                full_id = self._full_id()
                if full_id:
                    threading.Thread(target=self.sample, args=(full_id,), daemon=True,
                                     name="agent-memory").start()
        elif self.memory and event.kind in ("oom", "die"):
            full_id = self._full_id()
            if full_id and event.kind == "oom":  # the cgroup still exists: read its high-water mark now
                value = _read_int(CGROUP_MEMORY / full_id / "memory.max_usage_in_bytes")
                if value is not None:
                    self.peaks[full_id] = max(self.peaks.get(full_id, 0), value)
            if full_id and full_id in self.peaks and event.kind == "die":
                self.record(full_id, reason="die", exit_code=event.get("exit_code"))

    def _full_id(self) -> str | None:
        agent = self.world.agent_container
        try:
            return agent.get_wrapped_container().id if agent is not None else None
        except Exception:  # noqa: BLE001  (not created yet)
            return None

    def inspect(self) -> None:
        agent = self.world.agent_container
        if agent is None:
            return
        try:
            container = agent.get_wrapped_container()
            container.reload()
        except Exception:  # noqa: BLE001
            return
        host = container.attrs.get("HostConfig", {})
        config = container.attrs.get("Config", {})
        self.world.timeline.record(
            "harness", "agent_config", "agent",
            privileged=bool(host.get("Privileged")), user=config.get("User") or "",
            cap_drop=host.get("CapDrop") or [], cap_add=host.get("CapAdd") or [],
            group_add=host.get("GroupAdd") or [], security_opt=host.get("SecurityOpt") or [],
            devices=[f"{d.get('PathOnHost')}:{d.get('PathInContainer')}" for d in host.get("Devices") or []],
            network_mode=host.get("NetworkMode"), memory_bytes=host.get("Memory"),
            pids_limit=host.get("PidsLimit"), nano_cpus=host.get("NanoCpus"),
            binds=host.get("Binds") or [])

    def sample(self, full_id: str) -> None:
        if points_elsewhere():
            return  # the cgroup is on the engine's host: peak memory not read (docs/remote-engine.md)
        folder = CGROUP_MEMORY / full_id
        self.limit = _read_int(folder / "memory.limit_in_bytes") or self.limit
        while not self.stopping.is_set():
            value = _read_int(folder / "memory.max_usage_in_bytes")
            if value is None:
                break  # the cgroup is gone: the container stopped
            self.peaks[full_id] = max(self.peaks.get(full_id, 0), value)
            if self.stopping.wait(SAMPLE_S):
                break

    def record(self, full_id: str, **fields: Any) -> None:
        peak = self.peaks.get(full_id)
        self.world.timeline.record("harness", "memory", "agent", peak_bytes=peak,
                                   peak_mib=None if peak is None else round(peak / 2**20, 1),
                                   limit_mib=None if not self.limit else round(self.limit / 2**20, 1), **fields)


def watch(world: Any, memory: bool = False) -> AgentWatch:
    """The scenario's watcher (created on first use)."""
    existing = getattr(world, "_startle_agent_watch", None)
    if existing is not None:
        existing.memory = existing.memory or memory
        return existing
    watcher = AgentWatch(world, memory)
    world._startle_agent_watch = watcher
    world.timeline.subscribe(watcher)
    return watcher


def stop(world: Any) -> None:
    watcher = getattr(world, "_startle_agent_watch", None)
    if watcher is not None:
        watcher.stopping.set()
