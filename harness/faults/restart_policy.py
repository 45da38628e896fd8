"""The engine's restart policy for the agent, other than the profile's (``--restart``).

A node's launcher may run the agent with ``--restart no`` (one death and it stays down) or
``on-failure:N`` (N tries, then down) where the profile's is ``unless-stopped``: how often the agent
comes back is part of a field failure's signature (its restart count), so ``startle reproduce``
sets it from the node's evidence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.faults.base import Fault, register


@register
class RestartPolicy(Fault):
    family = "resources"

    type: Literal["restart_policy"] = "restart_policy"
    name: Literal["no", "always", "unless-stopped", "on-failure"] = Field(description="Docker's policy name")
    max_retries: int = Field(0, ge=0, description="on-failure only: restarts before it stays down (0: no bound)")

    def on_create(self, spec) -> None:
        spec.restart = self.name
        spec.restart_max = self.max_retries if self.name == "on-failure" else 0

    def describe(self) -> str:
        return f"restart_policy({self.name}{f':{self.max_retries}' if self.max_retries else ''})"
