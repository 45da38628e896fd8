"""Network faults on the agent ↔ center path, through Toxiproxy toxics (the kernel has no netem).

One fault type per Toxiproxy toxic, parameters named with their units and mapped onto
Toxiproxy's own attributes (its units: latency/jitter/timeout/delay in ms, rate in KB/s, sizes in
bytes). ``apply`` adds the toxic to the ``center`` proxy, ``clear`` removes it.

* ``toxic_latency``    every chunk delayed ``latency_ms`` ± ``jitter_ms``
* ``toxic_timeout``    black hole: data stops; with ``timeout_ms`` > 0 the connection is closed after it
* ``toxic_reset_peer`` connections reset (TCP RST) after ``timeout_ms``
* ``toxic_bandwidth``  throughput limited to ``rate_kb_s`` KB/s
* ``toxic_slicer``     data cut into ``average_size_bytes`` (± ``size_variation_bytes``) slices,
                       ``delay_us`` microseconds apart
* ``flapping``         the proxy goes down for ``down_s``, up for ``up_s``, repeatedly, until cleared
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Literal

from pydantic import Field, PrivateAttr

from harness.faults.base import Fault, register


class Toxic(Fault):
    """A Toxiproxy toxic on one proxy; subclasses map their fields onto the toxic's attributes."""

    family: ClassVar[str] = "network"
    toxic_type: ClassVar[str] = ""

    proxy: str = "center"
    stream: Literal["downstream", "upstream"] = "downstream"
    toxicity_pct: float = Field(100.0, ge=0, le=100, description="percent of connections affected")

    def attributes(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def toxic_name(self) -> str:
        return f"startle-{self.type}-{self.stream}"

    def apply(self, world) -> None:
        world.toxiproxy.add_toxic(self.proxy, self.toxic_type, self.toxic_name, stream=self.stream,
                                  toxicity=self.toxicity_pct / 100.0, **self.attributes())

    def clear(self, world) -> None:
        world.toxiproxy.remove_toxic(self.proxy, self.toxic_name)


@register
class ToxicLatency(Toxic):
    toxic_type = "latency"
    type: Literal["toxic_latency"] = "toxic_latency"
    latency_ms: int = Field(ge=0, description="added delay, milliseconds")
    jitter_ms: int = Field(0, ge=0, description="± this much, milliseconds")

    def attributes(self) -> dict[str, Any]:
        return {"latency": self.latency_ms, "jitter": self.jitter_ms}


@register
class ToxicTimeout(Toxic):
    toxic_type = "timeout"
    type: Literal["toxic_timeout"] = "toxic_timeout"
    timeout_ms: int = Field(0, ge=0, description="close the connection after this; 0 = hold it open, silent")

    def attributes(self) -> dict[str, Any]:
        return {"timeout": self.timeout_ms}


@register
class ToxicResetPeer(Toxic):
    toxic_type = "reset_peer"
    type: Literal["toxic_reset_peer"] = "toxic_reset_peer"
    timeout_ms: int = Field(0, ge=0, description="reset after this, milliseconds (0: at once)")

    def attributes(self) -> dict[str, Any]:
        return {"timeout": self.timeout_ms}


@register
class ToxicBandwidth(Toxic):
    toxic_type = "bandwidth"
    type: Literal["toxic_bandwidth"] = "toxic_bandwidth"
    rate_kb_s: int = Field(ge=0, description="KB per second")

    def attributes(self) -> dict[str, Any]:
        return {"rate": self.rate_kb_s}


@register
class ToxicSlicer(Toxic):
    toxic_type = "slicer"
    type: Literal["toxic_slicer"] = "toxic_slicer"
    average_size_bytes: int = Field(ge=1, description="mean slice size, bytes")
    size_variation_bytes: int = Field(0, ge=0, description="± bytes")
    delay_us: int = Field(0, ge=0, description="pause between slices, microseconds")

    def attributes(self) -> dict[str, Any]:
        return {"average_size": self.average_size_bytes, "size_variation": self.size_variation_bytes,
                "delay": self.delay_us}


@register
class Flapping(Fault):
    """The proxy flaps: down ``down_s``, up ``up_s``, down again... from ``at_s`` until cleared.

    The cycle runs on a timer thread (a schedule, not a synchronisation); each transition is
    recorded on the timeline as ``fault``/``flap`` with ``enabled``.
    """

    family: ClassVar[str] = "network"
    type: Literal["flapping"] = "flapping"
    proxy: str = "center"
    down_s: float = Field(gt=0, description="seconds down per cycle")
    up_s: float = Field(gt=0, description="seconds up per cycle")
    _stop: threading.Event = PrivateAttr(default_factory=threading.Event)
    _thread: threading.Thread | None = PrivateAttr(None)

    def apply(self, world) -> None:
        self._stop.clear()
        world.toxiproxy.set_enabled(self.proxy, False)
        world.timeline.record("fault", "flap", proxy=self.proxy, enabled=False)

        def cycle() -> None:
            enabled = False
            while not self._stop.wait(self.down_s if not enabled else self.up_s):
                enabled = not enabled
                world.toxiproxy.set_enabled(self.proxy, enabled)
                world.timeline.record("fault", "flap", proxy=self.proxy, enabled=enabled)

        self._thread = threading.Thread(target=cycle, name="startle-flapping", daemon=True)
        self._thread.start()

    def clear(self, world) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        world.toxiproxy.set_enabled(self.proxy, True)
