"""The agent's main loop hangs: a liveness failure, injected for real inside the running agent.

Mechanism: the profile's ``hang`` command, run inside the container with ``docker exec`` (the
reference agent's: ``python3 -c 'os.kill(1, SIGUSR1)'``, same uid) — not ``docker kill --signal``:
Docker 20.10 marks a container it sent any signal to as manually stopped, which disables its
restart policy. The reference agent handles SIGUSR1 by blocking its main loop without ticking its
liveness clock (CONTRACT.md "Liveness"): ``/healthz`` turns 503 after 10 s, Docker's HEALTHCHECK
marks the container ``unhealthy``, and its watchdog exits 22 so that the restart policy restarts it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.errors import InfrastructureError
from harness.faults.base import Fault, register


@register
class AgentHang(Fault):
    family = "health"

    type: Literal["agent_hang"] = "agent_hang"
    profile_needs: ClassVar[tuple[str, ...]] = ("hang",)

    def apply(self, world) -> None:
        if world.agent_container is None:
            raise InfrastructureError("agent_hang needs a running agent container (use at_s > 0)")
        container = world.agent_container.get_wrapped_container()
        code, output = container.exec_run(world.profile.hang)
        if code != 0:
            raise InfrastructureError(f"agent_hang: the profile's hang command exited {code}: "
                                      f"{output.decode(errors='replace')}")
