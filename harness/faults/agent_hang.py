"""The agent's main loop hangs: a liveness failure, injected for real inside the running agent.

Mechanism: SIGUSR1 to the agent's PID 1, sent from inside the container with ``docker exec``
(``python3 -c 'os.kill(1, SIGUSR1)'``, same uid) — not ``docker kill --signal``: Docker 20.10 marks a
container it sent any signal to as manually stopped, which disables its restart policy. The reference agent handles
SIGUSR1 by blocking its main loop without ticking its liveness clock (CONTRACT.md "Liveness"):
``/healthz`` turns 503 after 10 s, Docker's HEALTHCHECK marks the container ``unhealthy``, and
the agent's watchdog exits 22 after 25 s so that the restart policy restarts it. Another agent
is hung by naming its own signal in ``signal``.
"""

from __future__ import annotations

from typing import Literal

from harness.errors import InfrastructureError
from harness.faults.base import Fault, register


@register
class AgentHang(Fault):
    family = "health"

    type: Literal["agent_hang"] = "agent_hang"
    signal: str = "SIGUSR1"
    """signal that makes the agent's main loop hang"""

    def apply(self, world) -> None:
        if world.agent_container is None:
            raise InfrastructureError("agent_hang needs a running agent container (use at_s > 0)")
        container = world.agent_container.get_wrapped_container()
        code, output = container.exec_run(
            ["python3", "-c", f"import os, signal; os.kill(1, signal.{self.signal})"])
        if code != 0:
            raise InfrastructureError(f"agent_hang: could not signal PID 1 in the agent: {output.decode(errors='replace')}")
