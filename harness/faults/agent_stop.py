"""``docker stop``, the way the engine stops an agent (an upgrade, a reboot, ``docker compose down``):
SIGTERM, then SIGKILL after ``grace_s`` seconds. The stop runs in the background from ``at_s``; the
``stops_gracefully`` check (harness/checks/exits.py) judges how the agent ended. Docker marks a
container it stopped as manually stopped: the restart policy does not start it again.
"""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import Field

from harness.errors import InfrastructureError
from harness.faults.base import Fault, register


@register
class AgentStop(Fault):
    family = "shutdown"

    type: Literal["agent_stop"] = "agent_stop"
    grace_s: int = Field(10, ge=1, description="seconds between SIGTERM and SIGKILL (docker stop -t)")

    def apply(self, world) -> None:
        if world.agent_container is None:
            raise InfrastructureError("agent_stop needs a running agent container (use at_s > 0)")
        container = world.agent_container.get_wrapped_container()
        world.timeline.record("harness", "stop_sent", "agent", grace_s=self.grace_s)
        threading.Thread(target=container.stop, kwargs={"timeout": self.grace_s}, name="agent-stop",
                         daemon=True).start()  # returns when the agent exited: its die event says how
