"""Not a failure: a native-arch run of the same agent, to measure emulation's slowdown against.

Before the agent under test starts (apply at 0 s), a second agent container — of the agent's own
image when that is built for this host (a candidate under ``--image``), else of the profile's image
for this host's arch — (role ``native``, node id ``<node>-native``, the same network, env,
config and limits) is started, its ready time measured the same way as the agent's — from
Docker's ``start`` event to the first yes of startle's probe of the declared ready stage —
recorded as a ``harness``/``native_ready`` event, and the container removed. ``emulated_ready`` (harness/checks/architecture.py) compares.
"""

from __future__ import annotations

import copy
import time
from typing import ClassVar, Literal

from pydantic import Field, PrivateAttr

from harness.containers import AgentContainer
from harness.errors import InfrastructureError
from harness.faults.base import Fault, register
from harness.probes import ask
from harness.runtime import native_arch


class NativeAgentContainer(AgentContainer):
    role = "native"


@register
class NativeBaseline(Fault):
    family: ClassVar[str] = "architecture"

    type: Literal["native_baseline"] = "native_baseline"
    timeout_s: float = Field(30, gt=0, description="seconds the native agent gets to become ready")
    profile_needs: ClassVar[tuple[str, ...]] = ("health.ready",)
    _spec: object = PrivateAttr(None)

    def on_create(self, spec) -> None:
        self._spec = copy.deepcopy(spec)  # the agent's own spec (config mount, env, limits): same start

    def native_image(self, world) -> str:
        """The agent's own image when it is built for this host (a candidate under ``--image``, a
        CPU-capped run), else the profile's image for this host's architecture."""
        arch = native_arch()
        if world.client.images.get(self._spec.image).attrs.get("Architecture") == arch:
            return self._spec.image
        image = world.profile.images.get(arch) if isinstance(world.profile.images, dict) else None
        if image is None:
            raise InfrastructureError(f"native_baseline: profile {world.profile.name} has no image for {arch}")
        return image

    def apply(self, world) -> None:
        arch = native_arch()
        spec = copy.deepcopy(self._spec)
        spec.image = self.native_image(world)
        node = world.node_id
        spec.env = {k: v.replace(node, f"{node}-native"[:63]) for k, v in spec.env.items()}
        spec.restart = "no"
        container = NativeAgentContainer(spec, f"{world.prefix}-native", world.labels, world.network)
        probe = world.profile.health.ready
        try:
            container.start()
            wrapped = container.get_wrapped_container()

            address = container.reachable_at  # its own address here, its published port on a remote engine
            deadline = time.time() + self.timeout_s
            ready_at = None
            while time.time() < deadline and ready_at is None:
                t = time.time()
                if ask(probe, address, lambda: wrapped)[0]:
                    ready_at = t
                else:
                    world.run.cancelled.wait(world.profile.health.interval_s)  # the probe's pace
            start = world.timeline.first("docker", "start", lambda e: e.container == "native")
            if ready_at is None or start is None:
                raise InfrastructureError(f"native_baseline: the native {arch} agent was not ready within "
                                          f"{self.timeout_s} s; last logs:\n{container.short_logs(10)}")
            world.timeline.record("harness", "native_ready", "native", image=spec.image, arch=arch,
                                  ready_after_s=round(ready_at - start.t, 3))
        finally:
            try:
                container.get_wrapped_container().remove(force=True)
            except Exception:  # noqa: BLE001  (the world's reap removes it anyway)
                pass
