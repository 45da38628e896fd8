"""Not a failure: a native-arch run of the same agent, to measure emulation's slowdown against.

Before the agent under test starts (apply at 0 s), a second agent container from the profile's
image for this host's arch (role ``native``, node id ``<node>-native``, the same network, env,
config and limits) is started, its ready time measured the same way as the agent's — from
Docker's ``start`` event to its ``stage ready`` log line — recorded as a ``harness``/``native_ready``
event, and the container removed. ``emulated_ready`` (harness/checks/architecture.py) compares.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import ClassVar, Literal

from pydantic import Field, PrivateAttr

from harness.containers import AgentContainer
from harness.errors import InfrastructureError
from harness.faults.base import Fault, register
from harness.runtime import native_arch


class NativeAgentContainer(AgentContainer):
    role = "native"


@register
class NativeBaseline(Fault):
    family: ClassVar[str] = "architecture"

    type: Literal["native_baseline"] = "native_baseline"
    timeout_s: float = Field(30, gt=0, description="seconds the native agent gets to become ready")
    _spec: object = PrivateAttr(None)

    def on_create(self, spec) -> None:
        self._spec = copy.deepcopy(spec)  # the agent's own spec (config mount, env, limits): same start

    def apply(self, world) -> None:
        arch = native_arch()
        image = world.profile.images.get(arch) if isinstance(world.profile.images, dict) else None
        if image is None:
            raise InfrastructureError(f"native_baseline: profile {world.profile.name} has no image for {arch}")
        spec = copy.deepcopy(self._spec)
        spec.image = image
        spec.env["NODE_ID"] = f"node-{world.scenario_name}-native"[:63]
        spec.publish_health = False
        spec.restart = "no"
        container = NativeAgentContainer(spec, f"{world.prefix}-native", world.labels, world.network)
        found: dict = {}

        def follow() -> None:
            for raw in container.get_wrapped_container().logs(stream=True, follow=True):
                for line in raw.decode(errors="replace").splitlines():
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict) and obj.get("event") == "stage" and obj.get("stage") == "ready":
                        found["ready_ts"] = float(obj["ts"])
                        return
                    if isinstance(obj, dict) and obj.get("event") == "agent_start":
                        found["arch"] = obj.get("arch")

        try:
            container.start()
            reader = threading.Thread(target=follow, name="native-baseline", daemon=True)
            reader.start()
            reader.join(self.timeout_s)
            start = world.timeline.first("docker", "start", lambda e: e.container == "native")
            started = start.t if start else None
            if "ready_ts" not in found or started is None:
                raise InfrastructureError(f"native_baseline: the native {arch} agent was not ready within "
                                          f"{self.timeout_s} s; last logs:\n{container.short_logs(10)}")
            world.timeline.record("harness", "native_ready", "native", image=image, arch=found.get("arch", arch),
                                  ready_after_s=round(found["ready_ts"] - started, 3))
        finally:
            try:
                container.get_wrapped_container().remove(force=True)
            except Exception:  # noqa: BLE001  (the world's reap removes it anyway)
                pass
