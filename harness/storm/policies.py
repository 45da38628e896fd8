"""The retry policies a storm compares, built from the agent's own retry module.

The module is loaded by path: the profile's ``retry_module`` (the reference agent's is
``fixtures/agent/retry.py``), or ``--retry-module``; without one, ``harness/storm/declared.py``,
which makes the same classes from the profile's declared ``retry_policy`` alone (no agent code
imported). What the storm uses of it:

- ``RetryPolicy``: ``RetryPolicy.from_config({"base_ms", "factor", "cap_ms", "deadline_s", "jitter"})``
  (or the constructor ``RetryPolicy(base_s=, factor=, cap_s=, deadline_s=, jitter=)``) and
  ``policy.delay(attempt, rng, prev) -> seconds`` (attempt 1-based; ``prev`` the previous delay);
- ``CircuitBreaker`` (optional): ``CircuitBreaker(threshold=, cooldown_s=)`` with ``allow()``,
  ``record_success()``, ``record_failure()``, ``state``, ``retry_in()``;
- ``Deadline`` (optional): ``Deadline(budget_s)`` with ``expired()`` and ``remaining()``.

The policies (``--policy``):

=======================  ==========================================================================
``none``                 no backoff: the next attempt at once (no RetryPolicy: its base must be > 0)
``exponential``          RetryPolicy, jitter ``none``: ``min(cap, base * factor**(n-1))``
``full-jitter``          RetryPolicy, jitter ``full``: ``uniform(0, ceiling(n))``
``equal-jitter``         RetryPolicy, jitter ``equal``
``decorrelated-jitter``  RetryPolicy, jitter ``decorrelated``
``profile``              the profile's declared ``retry_policy`` (base, cap, factor, jitter), its
                         circuit breaker when it declares one and the module has one, and its
                         declared Retry-After rule (below)
=======================  ==========================================================================

What every policy retries is the profile's: the answers in ``retry_policy.retry_statuses`` (and
no answer at all); any 2xx registers; any other answer is final (``rejected``).

Retry-After (read on a 429, as the center's capacity mode sends it): the first five policies wait
``max(Retry-After, policy delay)`` (``retry_after="max"``). ``profile`` follows the declaration:
with ``honours_retry_after`` it waits Retry-After instead of its backoff, plus ``uniform(0, base)``
unless its jitter is ``none`` (a jittered agent spreads a fleet out: the reference agent does
exactly this), and with its breaker open the longer of that and the cooldown
(``retry_after="agent"``); without it, its ordinary backoff (``retry_after="ignore"``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.config import ROOT
from harness.profile import RetryPolicySpec

POLICY_NAMES = ("none", "exponential", "full-jitter", "equal-jitter", "decorrelated-jitter", "profile")
JITTER_OF = {"exponential": "none", "full-jitter": "full", "equal-jitter": "equal",
             "decorrelated-jitter": "decorrelated"}
RETRY_AFTER_RULES = ("max", "agent", "ignore")
DEFAULT_RETRY_STATUSES = tuple(RetryPolicySpec.model_fields["retry_statuses"].default)
"""What a policy retries when no profile says (a profile's ``retry_policy.retry_statuses`` default)."""
DEFAULT_MODULE = str(Path(__file__).resolve().parent / "declared.py")
"""The retry module made from a declaration (harness/storm/declared.py), used when none is named."""

_MODULES: dict[str, ModuleType] = {}


def resolve_module(path: str | Path) -> Path:
    """An absolute path: ``path`` as given when absolute, else relative to the project."""
    p = Path(path)
    return p if p.is_absolute() else (ROOT / p)


def load_retry_module(path: str | Path = DEFAULT_MODULE) -> ModuleType:
    """Import the retry module at ``path`` (once per path and process) under a private name,
    so it never shadows another ``retry`` module. Raises ValueError when it has no RetryPolicy."""
    resolved = resolve_module(path).resolve()
    key = str(resolved)
    if key not in _MODULES:
        if not resolved.is_file():
            raise ValueError(f"retry module {path} does not exist ({resolved})")
        name = "startle_retry_" + hashlib.sha1(key.encode()).hexdigest()[:10]
        spec = importlib.util.spec_from_file_location(name, resolved)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses need their module registered
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        if not hasattr(module, "RetryPolicy"):
            del sys.modules[name]
            raise ValueError(f"retry module {path} has no RetryPolicy class")
        _MODULES[key] = module
    return _MODULES[key]


@dataclass(frozen=True)
class PolicySpec:
    """Everything a simulated agent needs to rebuild a policy in any process (plain JSON).

    ``jitter`` None means no backoff (``none``). Units: ``base_ms``/``cap_ms`` milliseconds,
    ``deadline_s``/``breaker_cooldown_s`` seconds. ``retry_after``: one of :data:`RETRY_AFTER_RULES`
    (see the module docstring). ``retry_statuses``: the HTTP answers retried (other non-2xx are final). ``module``: path of the retry module (relative to the project
    or absolute; a worker on another machine needs the same checkout).
    """

    name: str
    base_ms: float
    cap_ms: float
    factor: float = 2.0
    jitter: str | None = "full"
    deadline_s: float = 120.0
    max_attempts: int | None = None
    breaker_threshold: int | None = None
    breaker_cooldown_s: float | None = None
    retry_after: str = "max"
    module: str = DEFAULT_MODULE
    retry_statuses: tuple[int, ...] = DEFAULT_RETRY_STATUSES

    def __post_init__(self) -> None:
        if self.retry_after not in RETRY_AFTER_RULES:
            raise ValueError(f"retry_after must be one of {', '.join(RETRY_AFTER_RULES)}, got {self.retry_after!r}")
        object.__setattr__(self, "retry_statuses", tuple(int(s) for s in self.retry_statuses))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PolicySpec":
        return cls(**data)

    def retries(self, status: int | None) -> bool:
        """Whether an answer that did not register is retried: no answer, or a declared status."""
        return status is None or status in self.retry_statuses

    def describe(self) -> str:
        """One line for tables and logs."""
        if self.jitter is None:
            text = "no backoff"
        else:
            kind = "no jitter" if self.jitter == "none" else f"{self.jitter} jitter"
            text = f"{kind}, base {self.base_ms:g} ms, x{self.factor:g}, cap {self.cap_ms:g} ms"
        if self.breaker_threshold:
            text += f", breaker {self.breaker_threshold}/{self.breaker_cooldown_s:g} s"
        return text


class _Deadline:
    """Fallback when the retry module has no Deadline: the same two methods, monotonic clock."""

    def __init__(self, budget_s: float, clock=time.monotonic) -> None:
        self.clock = clock
        self.start, self.budget_s = clock(), float(budget_s)

    def remaining(self) -> float:
        return max(0.0, self.budget_s - (self.clock() - self.start))

    def expired(self) -> bool:
        return self.clock() - self.start >= self.budget_s


class Backoff:
    """A :class:`PolicySpec` made live with the retry module's own classes."""

    def __init__(self, spec: PolicySpec, module: ModuleType | None = None) -> None:
        self.spec = spec
        self.module = module or load_retry_module(spec.module)
        self.policy = None
        if spec.jitter is not None:
            config = {"base_ms": spec.base_ms, "factor": spec.factor, "cap_ms": spec.cap_ms,
                      "deadline_s": spec.deadline_s, "jitter": spec.jitter}
            cls = self.module.RetryPolicy
            if hasattr(cls, "from_config"):
                self.policy = cls.from_config(config)
            else:
                self.policy = cls(base_s=spec.base_ms / 1000.0, factor=spec.factor, cap_s=spec.cap_ms / 1000.0,
                                  deadline_s=spec.deadline_s, jitter=spec.jitter)

    @property
    def base_s(self) -> float:
        return self.spec.base_ms / 1000.0

    def delay(self, attempt: int, rng, prev: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): the module's RetryPolicy."""
        if self.policy is None:
            return 0.0
        return float(self.policy.delay(attempt, rng, prev))

    def breaker(self, clock=None):
        """A fresh circuit breaker of the module's, or None (none declared, or no such class).
        ``clock``: a monotonic clock to inject (tests); the module's default when None."""
        if not self.spec.breaker_threshold or not hasattr(self.module, "CircuitBreaker"):
            return None
        extra = {"clock": clock} if clock is not None else {}
        return self.module.CircuitBreaker(threshold=self.spec.breaker_threshold,
                                          cooldown_s=self.spec.breaker_cooldown_s or 0.0, **extra)

    def deadline(self, clock=None):
        """A fresh overall deadline of ``deadline_s`` (the module's Deadline when it has one).
        ``clock``: a monotonic clock to inject (tests); the module's default when None."""
        cls = getattr(self.module, "Deadline", None)
        if cls is None:
            return _Deadline(self.spec.deadline_s, clock or time.monotonic)
        return cls(self.spec.deadline_s, clock=clock) if clock is not None else cls(self.spec.deadline_s)


def make_policies(names: list[str], *, base_ms: float, cap_ms: float, factor: float, deadline_s: float,
                  max_attempts: int | None = None, profile=None, module: str | None = None) -> list[PolicySpec]:
    """The named policies, in the given order. ``profile``: a :class:`harness.profile.Profile`
    (its ``retry_policy`` for ``profile`` and its ``retry_statuses`` for all, its ``retry_module``
    for all); ``module`` overrides the module. The five generic policies take
    ``base_ms``/``cap_ms``/``factor``; all share ``deadline_s``, ``max_attempts`` and what is
    retried (a fair comparison gives every policy the same budget and the same agent)."""
    if module is None and profile is not None and profile.retry_module:
        module = str(profile.resolve(profile.retry_module))
    module = module or DEFAULT_MODULE
    load_retry_module(module)  # fail early on a bad module
    declared = profile.retry_policy if profile is not None else None
    statuses = tuple(declared.retry_statuses) if declared is not None else DEFAULT_RETRY_STATUSES
    out = []
    for name in names:
        if name == "none":
            out.append(PolicySpec(name, base_ms, cap_ms, factor, None, deadline_s, max_attempts, module=module,
                                  retry_statuses=statuses))
        elif name in JITTER_OF:
            out.append(PolicySpec(name, base_ms, cap_ms, factor, JITTER_OF[name], deadline_s, max_attempts,
                                  module=module, retry_statuses=statuses))
        elif name == "profile":
            if profile is None:
                raise ValueError("policy `profile` needs an agent profile")
            rp = profile.retry_policy
            if rp is None:
                raise ValueError(f"policy `profile` needs the profile's retry_policy ({profile.name} declares none)")
            factor = 1.0 if rp.family == "constant" else rp.factor
            out.append(PolicySpec(name, rp.base_ms, rp.cap_ms, factor, rp.jitter, deadline_s, max_attempts,
                                  rp.breaker_threshold, rp.breaker_cooldown_s,
                                  retry_after="agent" if rp.honours_retry_after else "ignore",
                                  module=module, retry_statuses=statuses))
        else:
            raise ValueError(f"unknown policy {name!r} (known: {', '.join(POLICY_NAMES)})")
    return out
