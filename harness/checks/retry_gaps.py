"""The agent backs off: its attempt gaps during a fault grow.

Gaps are taken from the agent's own attempt log events (during a network fault the center sees
nothing), or from the center's request log (``source: center``) when the center is what fails.

With full jitter a single gap may be shorter than the one before it, so growth is judged on
halves: mean(second half of the gaps) / mean(first half) ≥ ``min_ratio``. For the reference
policy (base 0.2 s, factor 2, cap 4 s, breaker 8 / 5 s) over a 10 s outage, a simulation of 20,000
runs gave a ratio below 2 in 0.015 % of runs; a fixed interval gives a ratio of 1.
"""

from __future__ import annotations

from statistics import mean
from typing import Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, register


@register
class GapsGrow(Check):
    type: Literal["gaps_grow"] = "gaps_grow"
    source: Literal["agent", "center"] = "agent"
    min_gaps: int = Field(4, ge=2, description="fewer gaps than this during the fault is a failure")
    min_ratio: float = Field(2.0, gt=1, description="mean(later half) / mean(earlier half) at least this")

    def attempt_times(self, ctx: CheckContext) -> list[float]:
        if self.source == "center":
            return [e.t for e in ctx.center_requests(ctx.profile.center.register_path)]
        return [e.t for e in ctx.agent_events(ctx.profile.signals.attempt)]

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        windows = ctx.fault_windows()
        if not windows:
            return self.verdict("fail", "no fault window on the timeline") if final else None
        window = windows[0]
        if window.end is None and not final:
            return None
        end = window.end if window.end is not None else float("inf")
        times = [t for t in self.attempt_times(ctx) if window.start <= t <= end]
        gaps = [b - a for a, b in zip(times, times[1:])]
        measured = {"gaps_s": [round(g, 3) for g in gaps], "attempts": len(times)}
        if len(gaps) < self.min_gaps:
            return self.verdict("fail", f"only {len(gaps)} gaps between attempts during the fault; "
                                        f"need {self.min_gaps} to judge growth", **measured)
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
