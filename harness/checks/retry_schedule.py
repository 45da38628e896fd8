"""The agent's retry schedule follows the policy its profile declares — judged statistically.

No chaos tool judges a retry schedule; this check does. From the center's request log (or the
agent's own ``attempt`` signal with ``source: agent``, when the center cannot see the
attempts) it takes each node's attempts in order, and for every gap after a failed attempt ``n``
that is ordinary backoff (not a breaker pause, not a 429 with Retry-After) it knows the policy's
ceiling ``E_n = min(cap, base · factor^(n-1))``. Then:

1. **Ceiling** (every gap): ``gap_n ≤ E_n + tolerance_s``. Request latency and scheduling add a
   few ms to tens of ms to a gap; ``tolerance_s`` (default 0.25 s) absorbs them on a busy
   2-core host. A fixed interval longer than the first ceilings, or a missing cap, breaks this.
2. **Floor** (``none``/``equal`` jitter only): ``gap_n ≥ E_n`` (resp. ``E_n / 2``) − ``tolerance_s``.
3. **Shape** (``full``/``equal`` jitter): with full jitter ``u_n = (gap_n − overhead_s) / E_n`` is
   U(0, 1) (equal jitter: ``2u − 1`` is). Gaps whose ceiling is at least ``min_envelope_s``
   (default 0.4 s, where a ~20 ms overhead shifts u by ≤ 5 %) are tested for uniformity with a
   one-sample Kolmogorov–Smirnov test; p < ``alpha`` rejects. Gaps that sit at their ceilings
   (exponential without jitter: u ≈ 1 every time) give D ≈ 1 and p ≈ 1e-6 for 7 gaps.

False-rejection rate of the reference policy (base 0.1 s, factor 2, cap 4 s, full jitter,
breaker 10): tests/unit/test_retry_schedule.py simulates 100,000 runs of 9 backoff gaps with
0–30 ms of random overhead each: 2 rejected in 100,000 (2e-5; 8e-5 with another seed), so 20
repeats out of 20 pass with probability > 99.8 %. Every simulated run of a fixed 0.5 s interval
or of exponential backoff without jitter is rejected. The retry-schedule scenario raises the
breaker threshold to 26: its 25 gaps reject a missing cap every time and a jitter spread half the
declared one in >= 99 % of runs (the power table: docs/coverage.md).
``decorrelated`` jitter is only bounded (``base ≤ gap ≤ cap``), its shape is not tested.

The bounds are judged after every attempt; so is the shape, once 3 gaps are in, at ``alpha /
min_gaps`` (Bonferroni over the looks), and only a rejection decides before the end: the
scenario's 25 gaps gave 2 early false alarms in 20,000 simulated runs, and a schedule at its
ceilings is rejected after about 9 gaps instead of 25 (tests/unit/test_retry_schedule.py).

Breaker pauses are left out (the breaker check judges them): after ``breaker_threshold``
consecutive failures, and after a failed half-open trial, the next gap belongs to the breaker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Any, Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, ok_status, register
from harness.profile import RetryPolicySpec


def ks_statistic(values: list[float]) -> float:
    """One-sample Kolmogorov–Smirnov D of ``values`` against U(0, 1) (values outside are clamped)."""
    xs = sorted(min(1.0, max(0.0, v)) for v in values)
    n = len(xs)
    return max(max((i + 1) / n - x, x - i / n) for i, x in enumerate(xs))


def ks_pvalue(d: float, n: int) -> float:
    """P(D_n ≥ d) under H0, Kolmogorov's limit with Stephens' small-sample correction."""
    if n <= 0:
        return 1.0
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    if lam < 0.2:
        return 1.0
    total = sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam) for k in range(1, 101))
    return max(0.0, min(1.0, 2.0 * total))


@dataclass
class Gap:
    """The pause between attempt ``attempt`` (failed with ``status``) and the next one."""

    attempt: int
    start: float
    seconds: float
    status: int | None
    kind: str  # "backoff", "breaker", "retry_after"


def attempt_records(ctx: CheckContext, source: str) -> tuple[list[tuple[float, int | None, int | None]], str | None]:
    """(time, attempt number, status) of each registration attempt, in time order, and the source
    they were read from (:class:`harness.view.Attempts`); a success without an HTTP status (seen on
    the wire) counts as 200."""
    found = ctx.attempts(source)
    return [(a.t, a.number, a.status if a.status is not None else 200 if a.ok else None) for a in found], found.source


def classify_gaps(records: list[tuple[float, int | None, int | None]], policy: RetryPolicySpec) -> list[Gap]:
    """Gaps after failed attempts, each labelled backoff, breaker or retry_after.

    A new run of attempts starts after a success or when the attempt number does not follow
    (the agent restarted): no gap spans two runs.
    """
    gaps: list[Gap] = []
    failures = 0
    after_pause = False
    for (t0, n0, s0), (t1, n1, _s1) in zip(records, records[1:]):
        if ok_status(s0) or (n0 is not None and n1 is not None and n1 != n0 + 1):
            failures, after_pause = 0, False
            continue
        failures += 1
        number = n0 if n0 is not None else failures
        threshold = policy.breaker_threshold
        if threshold and (failures >= threshold or after_pause):
            kind, after_pause = "breaker", True
        elif s0 == 429:
            kind = "retry_after"
        else:
            kind = "backoff"
        gaps.append(Gap(number, t0, t1 - t0, s0, kind))
    return gaps


def judge(gaps: list[Gap], policy: RetryPolicySpec, tolerance_s: float, overhead_s: float,
          min_envelope_s: float, alpha: float, min_gaps: int, shape: bool = True) -> tuple[str, str, dict]:
    """(status, message, measured) for the backoff gaps among ``gaps``; without ``shape`` only
    the bounds are judged (``pass`` means: none broken so far)."""
    backoff = [g for g in gaps if g.kind == "backoff"]
    measured: dict = {"backoff_gaps_s": [round(g.seconds, 3) for g in backoff],
                      "ceilings_s": [round(policy.envelope_s(g.attempt), 3) for g in backoff],
                      "excluded": {k: sum(1 for g in gaps if g.kind == k) for k in ("breaker", "retry_after")},
                      "jitter": policy.jitter}
    if len(backoff) < min_gaps:
        return "fail", (f"only {len(backoff)} backoff gaps observed; need {min_gaps} to judge the schedule"), measured
    for g in backoff:
        ceiling = policy.envelope_s(g.attempt)
        if policy.jitter == "decorrelated":
            ceiling = policy.cap_ms / 1000.0
        if g.seconds > ceiling + tolerance_s:
            return "fail", (f"attempt {g.attempt + 1} came {g.seconds:.2f} s after attempt {g.attempt}; the policy "
                            f"allows at most {ceiling:.2f} s (+{tolerance_s} s tolerance)"), measured
        floor = {"none": ceiling, "equal": ceiling / 2.0,
                 "decorrelated": policy.base_ms / 1000.0}.get(policy.jitter, 0.0)
        if g.seconds < floor - tolerance_s:
            return "fail", (f"attempt {g.attempt + 1} came {g.seconds:.2f} s after attempt {g.attempt}; the policy "
                            f"allows no less than {floor:.2f} s (−{tolerance_s} s tolerance)"), measured
    if not shape:
        return "pass", f"{len(backoff)} backoff gaps within their ceilings so far", measured
    if policy.jitter not in ("full", "equal"):
        return "pass", f"{len(backoff)} backoff gaps within the policy's bounds ({policy.jitter} jitter)", measured
    tested = [g for g in backoff if policy.envelope_s(g.attempt) >= min_envelope_s]
    us = [max(0.0, g.seconds - overhead_s) / policy.envelope_s(g.attempt) for g in tested]
    if policy.jitter == "equal":
        us = [2.0 * u - 1.0 for u in us]
    measured["u"] = [round(u, 3) for u in us]
    if len(us) < 3:
        return "fail", (f"only {len(us)} gaps with a ceiling of at least {min_envelope_s} s; need 3 to test "
                        "their spread"), measured
    d = ks_statistic(us)
    p = ks_pvalue(d, len(us))
    measured.update(ks_d=round(d, 3), ks_p=float(f"{p:.3g}"), alpha=alpha)
    median = sorted(us)[len(us) // 2]
    if p < alpha:
        why = ("they sit at their ceilings (no jitter?)" if median > 0.85 else
               "they bunch near zero" if median < 0.15 else "they are not spread uniformly")
        return "fail", (f"gaps do not follow {policy.jitter} jitter: u = gap/ceiling for {len(us)} gaps has median "
                        f"{median:.2f} (uniform: 0.50), KS D={d:.2f}, p={p:.2g} < {alpha}; {why}"), measured
    return "pass", (f"{len(backoff)} backoff gaps under their ceilings (+{tolerance_s} s); {len(us)} tested for "
                    f"{policy.jitter} jitter: median u {median:.2f}, KS D={d:.2f}, p={p:.2g} ≥ {alpha}"), measured


@register
class RetrySchedule(Check):
    """Attempt gaps follow the profile's declared retry policy (base, factor, cap, jitter)."""

    type: Literal["retry_schedule"] = "retry_schedule"
    source: Literal["center", "agent", "wire"] = Field("center", description=(
        "preferred source of attempts; the best one the profile gives is used when it lacks this one"))
    promise_needs: ClassVar[tuple[str, ...]] = ("retry_policy",)
    needs_attempts: ClassVar[bool] = True
    min_gaps: int = Field(5, ge=1, description="fewer backoff gaps than this is a failure")
    tolerance_s: float = Field(0.25, ge=0, description="seconds a gap may exceed its ceiling (latency, scheduling)")
    overhead_s: float = Field(0.02, ge=0, description="seconds of request overhead subtracted before the shape test")
    min_envelope_s: float = Field(0.4, ge=0, description="only gaps with at least this ceiling enter the shape test")
    alpha: float = Field(1e-4, gt=0, lt=1, description="significance level of the KS test")
    policy_overrides: dict[str, Any] = Field(default_factory=dict, description=(
        "fields of the profile's retry_policy this scenario changed in the agent's config "
        "(e.g. breaker_threshold, when a config_override fault raised it)"))

    def policy(self, ctx: CheckContext) -> RetryPolicySpec:
        declared = ctx.profile.retry_policy
        return declared.model_copy(update=self.policy_overrides) if self.policy_overrides else declared

    def pending_deadline(self, ctx: CheckContext, records, policy: RetryPolicySpec) -> tuple[float, int] | None:
        """(time by which the next attempt is due, attempt) when the last attempt failed and its
        gap is ordinary backoff; None otherwise."""
        if not records or ok_status(records[-1][2]) or records[-1][2] == 429:
            return None
        probe = records + [(records[-1][0], (records[-1][1] or 0) + 1, None)]
        gaps = classify_gaps(probe, policy)
        if not gaps or gaps[-1].kind != "backoff":
            return None
        last = gaps[-1]
        if policy.jitter == "decorrelated":
            ceiling = policy.cap_ms / 1000.0
        else:
            ceiling = policy.envelope_s(last.attempt)
        return last.start + ceiling + self.tolerance_s, last.attempt

    def wake_at(self, ctx: CheckContext) -> float | None:
        records, _ = attempt_records(ctx, self.source)
        pending = self.pending_deadline(ctx, records, self.policy(ctx))
        return None if pending is None else pending[0] + 0.01

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        policy = self.policy(ctx)
        records, source = attempt_records(ctx, self.source)
        gaps = classify_gaps(records, policy)
        done = final or any(ok_status(status) for _, _, status in records)
        if not done:
            # decide early when a gap already broke its ceiling, or the next attempt is overdue
            early = [g for g in gaps if g.kind == "backoff"]
            status, message, measured = judge(early, policy, self.tolerance_s, self.overhead_s,
                                              self.min_envelope_s, self.alpha, 0, shape=False)
            if status == "fail":
                return self.verdict(status, message, attempts=len(records), source=source, **measured)
            if len(early) >= 3:  # the shape, tested after each gap at alpha / min_gaps (Bonferroni over
                # the looks: the false-rejection rate stays under 2 × alpha); only a rejection decides early
                status, message, measured = judge(early, policy, self.tolerance_s, self.overhead_s,
                                                  self.min_envelope_s, self.alpha / self.min_gaps, 0)
                if status == "fail" and "ks_p" in measured:
                    return self.verdict(status, message + f" (decided after {len(early)} gaps, at α / {self.min_gaps})",
                                        attempts=len(records), source=source, **measured)
            pending = self.pending_deadline(ctx, records, policy)
            died = ctx.agent_exited()
            if pending is not None and ctx.clock() > pending[0] and not (died and died.t < pending[0]):
                n = pending[1]
                waited = ctx.clock() - records[-1][0]
                return self.verdict("fail", f"no attempt {n + 1} {waited:.2f} s after attempt {n}; the policy "
                                            f"allows at most {policy.envelope_s(n):.2f} s (+{self.tolerance_s} s "
                                            "tolerance)", attempts=len(records), source=source)
            return None
        status, message, measured = judge(gaps, policy, self.tolerance_s, self.overhead_s,
                                          self.min_envelope_s, self.alpha, self.min_gaps)
        measured.update(attempts=len(records), source=source)
        return self.verdict(status, message, **measured)  # type: ignore[arg-type]
