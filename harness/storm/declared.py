"""A retry module made from a profile's declared ``retry_policy`` alone (no agent code imported).

``startle storm`` simulates an agent with its own retry module when the profile names one
(``retry_module``); otherwise with this one, which implements the same interface
(harness/storm/policies.py) from the declaration: ``RetryPolicy`` (families constant and
exponential; jitter none, full, equal, decorrelated), ``CircuitBreaker`` and ``Deadline``.
Units: ``*_ms`` milliseconds, ``*_s`` seconds; delays returned in seconds.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

JITTERS = ("none", "full", "equal", "decorrelated")


@dataclass(frozen=True)
class RetryPolicy:
    """Delay after failed attempt n (1-based): ``min(cap, base · factor^(n-1))`` (factor 1 for a
    constant schedule), then jittered: none (that value), full (uniform [0, d]), equal
    ([d/2, d]), decorrelated (uniform [base, 3 · previous], capped)."""

    base_s: float
    factor: float = 2.0
    cap_s: float = 30.0
    deadline_s: float | None = None
    jitter: str = "full"

    @classmethod
    def from_config(cls, retry: Mapping[str, Any]) -> "RetryPolicy":
        jitter = str(retry.get("jitter", "full"))
        if jitter not in JITTERS:
            raise ValueError(f"jitter must be one of {', '.join(JITTERS)}, got {jitter!r}")
        return cls(base_s=float(retry["base_ms"]) / 1000.0, factor=float(retry.get("factor", 2.0)),
                   cap_s=float(retry["cap_ms"]) / 1000.0, deadline_s=retry.get("deadline_s"), jitter=jitter)

    def ceiling(self, attempt: int) -> float:
        exponent = min(attempt - 1, 64)  # past the cap long before: no overflow
        return min(self.cap_s, self.base_s * self.factor ** exponent)

    def delay(self, attempt: int, rng: random.Random | None = None, prev: float | None = None) -> float:
        r = rng or random
        ceiling = self.ceiling(attempt)
        if self.jitter == "none":
            return ceiling
        if self.jitter == "full":
            return r.uniform(0.0, ceiling)
        if self.jitter == "equal":
            return r.uniform(ceiling / 2.0, ceiling)
        return min(self.cap_s, r.uniform(self.base_s, 3.0 * (prev if prev is not None else self.base_s)))


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures, allows one trial after ``cooldown_s``."""

    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold, self.cooldown_s, self._clock = int(threshold), float(cooldown_s), clock
        self.state, self._failures, self._opened_at, self._trial = "closed", 0, 0.0, False

    def _refresh(self) -> None:
        if self.state == "open" and self._clock() - self._opened_at >= self.cooldown_s:
            self.state, self._trial = "half_open", False

    def allow(self) -> bool:
        self._refresh()
        if self.state == "closed":
            return True
        if self.state == "half_open" and not self._trial:
            self._trial = True
            return True
        return False

    def retry_in(self) -> float:
        self._refresh()
        return max(0.0, self._opened_at + self.cooldown_s - self._clock()) if self.state == "open" else 0.0

    def record_success(self) -> None:
        self.state, self._failures, self._trial = "closed", 0, False

    def record_failure(self) -> None:
        self._refresh()
        self._failures += 1
        if self.state == "half_open" or self._failures >= self.threshold:
            self.state, self._opened_at, self._trial = "open", self._clock(), False


class Deadline:
    """An overall budget of ``budget_s`` seconds from now."""

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock, self.budget_s, self._start = clock, float(budget_s), clock()

    def remaining(self) -> float:
        return max(0.0, self.budget_s - (self._clock() - self._start))

    def expired(self) -> bool:
        return self.remaining() <= 0.0
