"""The network between an agent and the center, as a model parameter of the storm (``--hop-delay-ms``).

On loopback a request's round trip is well under a millisecond, so a storm here has a far
narrower contention window than agents across a real network. A :class:`HopDelay` gives every
hop (the request on its way to the center, the answer on its way back) a delay drawn from a
distribution, in milliseconds:

=================  ===========================================================================
``10``             constant: every hop 10 ms
``uniform:5:15``   uniform between 5 and 15 ms
``normal:10:2``    ``|N(10, 2)|`` ms — the model of the classic backoff-and-jitter simulator
                   (its ``Net(10, 2)``: ``abs(random.normalvariate(mean, sd))``)
=================  ===========================================================================

Where it applies: a simulated agent's request path (:func:`delayed`: the agent's greenlet waits a
draw before the request leaves and another before it acts on the answer; its worker's other
agents go on) and, for real agent containers, Toxiproxy ``latency`` toxics upstream and downstream
on the proxy in front of the center (:meth:`HopDelay.toxic`). It is a message-level model, like
the simulator's: the TCP handshake itself is not delayed (Toxiproxy accepts locally too).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from harness.storm.wire import Answer

KINDS = ("constant", "uniform", "normal")
SYNTAX = "MS (constant), uniform:LO:HI or normal:MEAN:SD, milliseconds per hop"


@dataclass(frozen=True)
class HopDelay:
    """One hop's delay distribution, milliseconds: ``constant`` (``a``), ``uniform`` (``a``..``b``)
    or ``normal`` (``|N(a, b)|``). Invariant: ``0 <= a``, and ``a <= b`` for uniform, ``b >= 0``."""

    kind: str
    a: float
    b: float = 0.0

    @classmethod
    def parse(cls, text: str) -> "HopDelay":
        """``10``, ``uniform:5:15``, ``normal:10:2``; ValueError saying what is wrong otherwise."""
        parts = str(text).strip().split(":")
        try:
            numbers = [float(p) for p in (parts if len(parts) == 1 else parts[1:])]
        except ValueError:
            raise ValueError(f"{text!r} is not a delay: expected {SYNTAX}") from None
        if any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
            raise ValueError(f"{text!r}: delays must be finite numbers of milliseconds")
        if len(parts) == 1:
            delay = cls("constant", numbers[0])
        elif parts[0] in ("uniform", "normal") and len(numbers) == 2:
            delay = cls(parts[0], *numbers)
        else:
            raise ValueError(f"{text!r} is not a delay: expected {SYNTAX}")
        if delay.a < 0 or delay.b < 0:
            raise ValueError(f"{text!r}: delays and spreads cannot be negative")
        if delay.kind == "uniform" and delay.b < delay.a:
            raise ValueError(f"{text!r}: uniform:LO:HI needs LO <= HI")
        return delay

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "HopDelay | None":
        return cls(data["kind"], float(data["a"]), float(data.get("b", 0.0))) if data else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the storm's config and report): kind, a, b, the spec text and the mean."""
        return {"kind": self.kind, "a": self.a, "b": self.b, "spec": self.spec(), "mean_ms": self.mean_ms}

    def spec(self) -> str:
        """The ``--hop-delay-ms`` text that gives this delay back."""
        return f"{self.a:g}" if self.kind == "constant" else f"{self.kind}:{self.a:g}:{self.b:g}"

    @property
    def mean_ms(self) -> float:
        """Mean delay of one hop, ms (for ``normal``, the mean of N's absolute value taken as ``a``:
        exact enough while ``a`` is several ``b`` above 0)."""
        return self.a if self.kind in ("constant", "normal") else (self.a + self.b) / 2.0

    def describe(self) -> str:
        what = {"constant": f"{self.a:g} ms", "uniform": f"uniform {self.a:g}-{self.b:g} ms",
                "normal": f"|N({self.a:g}, {self.b:g})| ms"}[self.kind]
        return f"{what} each way"

    def draw_s(self, rng: random.Random) -> float:
        """One hop's delay, seconds (>= 0)."""
        if self.kind == "constant":
            ms = self.a
        elif self.kind == "uniform":
            ms = rng.uniform(self.a, self.b)
        else:
            ms = abs(rng.normalvariate(self.a, self.b))
        return ms / 1000.0

    def toxic(self) -> dict[str, int]:
        """Toxiproxy ``latency`` toxic attributes for this delay (``latency`` and ``jitter``, whole ms):
        Toxiproxy adds a uniform draw in [-jitter, +jitter] to the latency, so it carries a constant or
        a uniform delay; ValueError for ``normal``."""
        if self.kind == "normal":
            raise ValueError(f"{self.spec()}: Toxiproxy's latency toxic draws latency +- jitter uniformly; "
                             "a normal delay cannot be given to real containers")
        if self.kind == "constant":
            return {"latency": round(self.a), "jitter": 0}
        return {"latency": round((self.a + self.b) / 2.0), "jitter": round((self.b - self.a) / 2.0)}


def delayed(send: Callable[[str, str, Any, float], Answer], delay: HopDelay, rng: random.Random,
            sleep: Callable[[float], None], timeout_s: float) -> Callable[[str, str, Any], Answer]:
    """``send(method, path, body, timeout_s)`` behind a delayed network: the request waits one draw
    before it leaves, the answer one draw before the agent gets it. The agent's timeout covers the
    whole round trip, as a real client's does: the request gets what is left of it after the
    upstream hop, and an answer that would arrive after the timeout is a timeout (``timed out``),
    reported ``timeout_s`` after the send. ``sleep`` is the agent's own (``gevent.sleep`` in a
    worker: only this agent waits)."""

    def send_delayed(method: str, path: str, body: Any) -> Answer:
        up, down = delay.draw_s(rng), delay.draw_s(rng)
        if up >= timeout_s:
            sleep(timeout_s)
            return Answer(None, error="timed out")
        sleep(up)
        answer, took = _timed(send, method, path, body, timeout_s - up)
        if answer.error in ("timed out", "connect timed out"):
            return answer
        if up + took + down > timeout_s:
            sleep(max(0.0, timeout_s - up - took))
            return Answer(None, error="timed out")
        sleep(down)
        return answer

    return send_delayed


def _timed(send, method: str, path: str, body: Any, timeout_s: float) -> tuple[Answer, float]:
    """``send``'s answer and the seconds it took."""
    start = time.monotonic()
    answer = send(method, path, body, timeout_s)
    return answer, time.monotonic() - start
