"""The center is unreachable: the Toxiproxy proxy in front of it is disabled, then enabled.

Disabling a Toxiproxy proxy closes its listener and drops its connections, so the agent's
connects are refused — what a field node sees while its control plane is down or cut off.
"""

from __future__ import annotations

from typing import Literal

from harness.faults.base import Fault, register


@register
class ProxyDown(Fault):
    family = "network"

    type: Literal["proxy_down"] = "proxy_down"
    proxy: str = "center"
    """name of the Toxiproxy proxy to disable"""

    def apply(self, world) -> None:
        world.toxiproxy.set_enabled(self.proxy, False)

    def clear(self, world) -> None:
        world.toxiproxy.set_enabled(self.proxy, True)
