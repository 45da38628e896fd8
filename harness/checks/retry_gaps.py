"""The agent backs off: its attempt gaps during a fault grow.

Gaps are taken from the agent's own attempt signal (during a network fault the center sees
nothing), or from the center's request log (``source: center``) when the center is what fails;
from the best source the profile gives when it lacks the preferred one (:mod:`harness.view`).

With full jitter a single gap may be shorter than the one before it, so growth is judged on
halves: mean(second half of the gaps) / mean(first half) ≥ ``min_ratio``.

Circuit-breaker pauses are not backoff and are left out: when the profile declares a breaker,
the gap after ``breaker_threshold`` consecutive failures (and after each failed half-open trial
that follows) is a pause if it lasts at least 90 % of ``breaker_cooldown_s``. Without this, a
fixed-interval agent whose breaker opens once would look like one whose gaps grow.

For the reference policy (base 0.1 s, factor 2, cap 4 s, full jitter, breaker 10 / 5 s) over a
10–12 s outage, a simulation of 50,000 runs (breaker pauses removed, about 9 gaps left) gave a ratio
below 1.5 in 0.05 % of runs and below 2 in 0.18 %; a fixed interval gives 1.0. This check only
says "the gaps grow"; whether they follow the declared policy is a separate statistical check.

Decorrelated jitter (declared) stops growing on average once it nears its cap, so for it "backs
off" means: every gap within the declared [base, cap], and not one fixed interval. A fault too
short to hold ``min_gaps`` gaps of the declared policy (each at its mean) is not judged: this
check is skipped with that reason (the scenario's other checks still are).
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


@register
class GapsGrow(Check):
    type: Literal["gaps_grow"] = "gaps_grow"
    source: Literal["agent", "center", "wire"] = Field("agent", description=(
        "preferred source of attempts; the best one the profile gives is used when it lacks this one"))
    min_gaps: int = Field(4, ge=2, description="fewer gaps than this during the fault is a failure")
    min_ratio: float = Field(1.5, gt=1, description="mean(later half) / mean(earlier half) at least this")
    tolerance_s: float = Field(0.25, ge=0, description="decorrelated jitter: a gap may leave [base, cap] by this")
    needs_attempts: ClassVar[bool] = True

    def _decorrelated(self, gaps: list[float], policy, measured: dict) -> Verdict:
        """Decorrelated jitter does not grow on average once it reaches its cap (each gap is drawn
        from [base, 3 × the previous]): it backs off when every gap stays within the declared
        [base, cap] and the gaps are not one fixed interval (longest / shortest ≥ ``min_ratio``)."""
        lo, hi = policy.base_ms / 1000.0 - self.tolerance_s, policy.cap_ms / 1000.0 + self.tolerance_s
        outside = [g for g in gaps if not lo <= g <= hi]
        spread = max(gaps) / min(gaps) if min(gaps) > 0 else float("inf")
        measured.update(spread=round(spread, 2), bounds_s=[round(lo, 3), round(hi, 3)])
        listed = ", ".join(f"{g:.2f}" for g in gaps)
        if outside:
            return self.verdict("fail", f"gap {outside[0]:.2f} s is outside the declared decorrelated-jitter bounds "
                                        f"[{lo:.2f}, {hi:.2f}] s; gaps were {listed} s", **measured)
        if spread < self.min_ratio:
            return self.verdict("fail", f"gaps are one fixed interval, not decorrelated jitter: longest / shortest "
                                        f"×{spread:.2f} (need ×{self.min_ratio}); gaps were {listed} s", **measured)
        return self.verdict("pass", f"gaps vary within the declared decorrelated-jitter bounds [{lo:.2f}, {hi:.2f}] s "
                                    f"(longest / shortest ×{spread:.1f}): {listed} s", **measured)


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
            return self._decorrelated(gaps, policy, measured)
        half = len(gaps) // 2
        early, late = mean(gaps[:half]), mean(gaps[-half:])
        ratio = late / early if early > 0 else float("inf")
        measured.update(early_mean_s=round(early, 3), late_mean_s=round(late, 3), ratio=round(ratio, 2))
        if ratio >= self.min_ratio:
            return self.verdict("pass", f"gaps grow: later half averages {late:.2f} s vs {early:.2f} s "
                                        f"(×{ratio:.1f}, need ×{self.min_ratio})", **measured)
        return self.verdict("fail", f"gaps do not grow: later half averages {late:.2f} s vs {early:.2f} s "
                                    f"(×{ratio:.1f}, need ×{self.min_ratio}); gaps were "
                                    + ", ".join(f"{g:.2f}" for g in gaps) + " s", **measured)
