"""The agent backs off: its attempt gaps during a fault grow.

Gaps are taken from the agent's own attempt signal (during a network fault the center sees
nothing), or from the center's request log (``source: center``) when the center is what fails;
from the best source the profile gives when it lacks the preferred one (:mod:`harness.view`).

With full jitter a single gap may be shorter than the one before it, so growth is judged on
halves: mean(second half of the gaps) / mean(first half) ≥ ``min_ratio``, over the gaps until twice
the declared policy's way to its cap (:func:`growth_span`); a policy whose own gaps would not grow
that much there (a constant one, or a cap reached at once) is not judged: skipped, saying so.

Circuit-breaker pauses are not backoff and are left out: when the profile declares a breaker,
the gap after ``breaker_threshold`` consecutive failures (and after each failed half-open trial
that follows) is a pause if it lasts at least 90 % of ``breaker_cooldown_s``. Without this, a
fixed-interval agent whose breaker opens once would look like one whose gaps grow.

For the reference policy (base 0.1 s, factor 2, cap 4 s, full jitter, breaker 10 / 5 s) over a
10–12 s outage, a simulation of 50,000 runs (breaker pauses removed, about 9 gaps left) gave a ratio
below 1.5 in 0.05 % of runs and below 2 in 0.18 %; a fixed interval gives 1.0. This check only
says "the gaps grow"; whether they follow the declared policy is a separate statistical check.

Decorrelated jitter (declared) stops growing on average once it nears its cap, so for it "backs
off" means: every gap within the declared [base, cap], and the gaps are not one fixed interval
(:func:`judge_decorrelated`). A fault too short to hold ``min_gaps`` gaps of the declared policy
(each at its mean) is not judged: this check is skipped with that reason (the scenario's other
checks still are).
"""

from __future__ import annotations

from statistics import mean
from typing import ClassVar, Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, register


def expected_gaps(ctx: CheckContext, window_s: float) -> int:
    """How many retry gaps the declared policy fits in ``window_s`` seconds when every gap takes
    its mean (full jitter E/2, equal 3E/4, none E, decorrelated (base + cap)/2); a large number
    when no policy is declared (nothing to excuse a short window with)."""
    policy = ctx.profile.retry_policy
    if policy is None or window_s == float("inf"):
        return 10**6
    share = {"full": 0.5, "equal": 0.75, "none": 1.0}
    used, n = 0.0, 0
    while n < 1000:
        if policy.jitter == "decorrelated":
            mean = (policy.base_ms + policy.cap_ms) / 2000.0
        else:
            mean = policy.envelope_s(n + 1) * share[policy.jitter]
        used += max(mean, 1e-3)
        if used > window_s:
            return n
        n += 1
    return n


def growth_span(policy, min_gaps: int) -> int | None:
    """How many gaps, from the first, the halves test looks at: twice as many as the declared policy
    takes to reach its cap (at least ``min_gaps``; None: every gap, no policy declared). Past the
    cap the gaps stop growing by design: a long fault would otherwise dilute the growth (a capped
    exponential with 22 gaps in 40 s, 17 of them at its cap, shows ×1.46)."""
    if policy is None:
        return None
    n = 1
    while policy.envelope_s(n) < policy.cap_ms / 1000.0 and n < 1000:
        n += 1
    return max(min_gaps, 2 * n)


def declared_ratio(policy, count: int) -> float | None:
    """mean(later half) / mean(earlier half) of the declared policy's own mean gaps over its first
    ``count`` gaps (jitter scales every mean alike); None without a policy."""
    if policy is None or count < 2:
        return None
    ceilings = [policy.envelope_s(n) for n in range(1, count + 1)]
    half = count // 2
    return mean(ceilings[-half:]) / mean(ceilings[:half])


def split_breaker_pauses(gaps: list[float], ctx: CheckContext) -> tuple[list[float], list[float]]:
    """(backoff gaps, breaker pauses) of a run of consecutive failed attempts, in seconds."""
    policy = ctx.profile.retry_policy
    if policy is None or not policy.breaker_threshold or not policy.breaker_cooldown_s:
        return gaps, []
    backoff, pauses = [], []
    failures_since_pause = 0
    for gap in gaps:
        failures_since_pause += 1
        due = failures_since_pause >= policy.breaker_threshold or (pauses and failures_since_pause == 1)
        if due and gap >= 0.9 * policy.breaker_cooldown_s:
            pauses.append(gap)
            failures_since_pause = 0
        else:
            backoff.append(gap)
    return backoff, pauses


def judge_decorrelated(gaps: list[float], base_s: float, cap_s: float, tolerance_s: float, min_ratio: float,
                       fixed_run: int, measured: dict) -> tuple[str, str]:
    """(status, message) for gaps (s) of an agent declaring decorrelated jitter in [base, cap].

    Decorrelated jitter draws each delay from [base, 3 × previous], capped, so it does not grow on
    average once near its cap. It backs off when every gap is within [base, cap] (± tolerance) and
    the gaps after the first vary: longest / shortest ≥ ``min_ratio`` (the first is left out: it
    follows an attempt made wherever the agent's retry clock stood, and a whole-second clock makes
    it up to a tick short). Gaps that do not vary are one fixed interval — a **fail** — only when
    there are ``fixed_run`` of them: an agent whose retry clock ticks whole seconds draws from
    {base, …, 3·base − 1} ticks and repeats its base with probability up to 1/2 a draw, so a dozen
    equal gaps by chance have p ≤ 2⁻¹¹. Fewer are a **skip**: not told apart.
    tests/unit/test_checks.py calibrates this on mosquitto's bridge code (20,000 simulated outages).
    """
    lo, hi = base_s - tolerance_s, cap_s + tolerance_s
    steady = sorted(gaps[1:])
    spread = steady[-1] / steady[0] if steady and steady[0] > 0 else 1.0
    measured.update(spread=round(spread, 2), bounds_s=[round(lo, 3), round(hi, 3)])
    listed = ", ".join(f"{g:.2f}" for g in gaps)
    outside = [g for g in gaps if not lo <= g <= hi]
    if outside:
        return "fail", (f"gap {outside[0]:.2f} s is outside the declared decorrelated-jitter bounds "
                        f"[{lo:.2f}, {hi:.2f}] s; gaps were {listed} s")
    if spread >= min_ratio:
        return "pass", (f"gaps vary within the declared decorrelated-jitter bounds [{lo:.2f}, {hi:.2f}] s "
                        f"(longest / shortest after the first ×{spread:.1f}): {listed} s")
    interval = steady[len(steady) // 2] if steady else gaps[0]
    if len(steady) >= fixed_run:
        return "fail", (f"gaps are one fixed interval, not decorrelated jitter: {len(steady)} gaps after the first "
                        f"of about {interval:.2f} s (longest / shortest ×{spread:.2f}, need ×{min_ratio}; "
                        f"{fixed_run} such are not chance); gaps were {listed} s")
    return "skip", (f"{len(steady)} gaps after the first of about {interval:.2f} s: too few to tell a fixed interval "
                    f"from decorrelated jitter that kept drawing its base ({fixed_run} needed, or a spread of "
                    f"×{min_ratio}); gaps were {listed} s")

@register
class GapsGrow(Check):
    type: Literal["gaps_grow"] = "gaps_grow"
    source: Literal["agent", "center", "wire"] = Field("agent", description=(
        "preferred source of attempts; the best one the profile gives is used when it lacks this one"))
    min_gaps: int = Field(4, ge=2, description="fewer gaps than this during the fault is a failure")
    min_ratio: float = Field(1.5, gt=1, description="mean(later half) / mean(earlier half) at least this")
    tolerance_s: float = Field(0.25, ge=0, description=(
        "decorrelated jitter: seconds a gap may leave [base, cap] by, and two gaps may differ by and be equal"))
    fixed_run: int = Field(12, ge=2, description=(
        "decorrelated jitter: this many gaps that do not vary are a fixed interval (fewer: not judged)"))
    needs_attempts: ClassVar[bool] = True

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        windows = ctx.fault_windows()
        if not windows:
            return self.verdict("fail", "no fault window on the timeline") if final else None
        window = windows[0]
        if window.end is None and not final:
            return None
        end = window.end if window.end is not None else float("inf")
        tried = ctx.attempts(self.source)
        times = [t for t in tried.times if window.start <= t <= end]
        gaps, pauses = split_breaker_pauses([b - a for a, b in zip(times, times[1:])], ctx)
        measured = {"gaps_s": [round(g, 3) for g in gaps], "attempts": len(times), "source": tried.source,
                    "breaker_pauses_s": [round(p, 3) for p in pauses]}
        if len(gaps) < self.min_gaps and expected_gaps(ctx, end - window.start) < self.min_gaps:
            fits = expected_gaps(ctx, end - window.start)
            return self.skip(f"the {end - window.start:.1f} s fault holds about {fits} gap{'' if fits == 1 else 's'} "
                             f"of the agent's declared policy, fewer than the {self.min_gaps} needed to judge growth",
                             **measured)
        if len(gaps) < self.min_gaps:
            return self.verdict("fail", f"only {len(gaps)} gaps between attempts during the fault; "
                                        f"need {self.min_gaps} to judge growth", **measured)
        policy = ctx.profile.retry_policy
        if policy is not None and policy.jitter == "decorrelated":
            status, message = judge_decorrelated(gaps, policy.base_ms / 1000.0, policy.cap_ms / 1000.0,
                                                 self.tolerance_s, self.min_ratio, self.fixed_run, measured)
            return self.skip(message, **measured) if status == "skip" else self.verdict(status, message, **measured)
        span = growth_span(policy, self.min_gaps)
        judged = gaps[:span]
        own = declared_ratio(policy, len(judged))
        measured.update(judged_gaps=len(judged))
        if own is not None and own < self.min_ratio:
            return self.skip(f"the declared policy reaches its cap too soon to show growth: its own gaps would grow "
                             f"×{own:.2f} over these {len(judged)}, below the ×{self.min_ratio} needed", **measured)
        half = len(judged) // 2
        early, late = mean(judged[:half]), mean(judged[-half:])
        ratio = late / early if early > 0 else float("inf")
        measured.update(early_mean_s=round(early, 3), late_mean_s=round(late, 3), ratio=round(ratio, 2))
        if ratio >= self.min_ratio:
            return self.verdict("pass", f"gaps grow: later half averages {late:.2f} s vs {early:.2f} s "
                                        f"(×{ratio:.1f}, need ×{self.min_ratio})", **measured)
        return self.verdict("fail", f"gaps do not grow: later half averages {late:.2f} s vs {early:.2f} s "
                                    f"(×{ratio:.1f}, need ×{self.min_ratio}); gaps were "
                                    + ", ".join(f"{g:.2f}" for g in judged) + " s", **measured)
