"""The agent honours ``429 Retry-After``: no attempt before it expires (from the center's log).

For every registration the center answered 429 while it sent ``Retry-After: S`` (S = the
integer ceiling of ``retry_after_s``, as the mock center sends it), the next attempt must arrive
at least ``S − tolerance_s`` later (the agent sleeps S after receiving the answer, so only clock
noise between containers is tolerated: a few ms), and no later than ``S + late_s`` (it does
retry once it may).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, ok_status, register


@register
class HonoursRetryAfter(Check):
    type: Literal["honours_retry_after"] = "honours_retry_after"
    retry_after_s: float = Field(gt=0, description="the Retry-After the center sends, seconds")
    min_answers: int = Field(1, ge=1, description="429 answers that must be seen")
    tolerance_s: float = Field(0.01, ge=0, description="an attempt may come this much early (clock noise)")
    late_s: float = Field(1.5, ge=0, description="and at most this much after Retry-After expired")
    profile_needs: ClassVar[tuple[str, ...]] = ("center.register",)
    promise_needs: ClassVar[tuple[str, ...]] = ("retry_policy",)

    def unpromised(self, profile) -> list[str]:
        lacking = super().unpromised(profile)
        if profile.retry_policy is not None and not profile.retry_policy.honours_retry_after:
            lacking.append("retry_policy.honours_retry_after (declared false: the agent does not promise it)")
        return lacking

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        wait = float(math.ceil(self.retry_after_s))
        records = ctx.register_requests()
        gaps = []
        for a, b in zip(records, records[1:]):
            if a.get("status") != 429:
                continue
            gap = b.t - a.t
            gaps.append(gap)
            if gap < wait - self.tolerance_s:
                return self.verdict("fail", f"attempt {b.get('attempt')} came {gap:.3f} s after a 429 with "
                                            f"Retry-After: {wait:.0f}; no attempt is allowed before {wait:.0f} s "
                                            f"(−{self.tolerance_s} s tolerance)", gaps_s=[round(g, 3) for g in gaps])
            if gap > wait + self.late_s:
                return self.verdict("fail", f"attempt {b.get('attempt')} came only {gap:.2f} s after a 429 with "
                                            f"Retry-After: {wait:.0f} (allowed up to {wait + self.late_s:.1f} s)",
                                    gaps_s=[round(g, 3) for g in gaps])
        last = records[-1] if records else None
        if last is not None and last.get("status") == 429 and ctx.clock() > last.t + wait + self.late_s and not final:
            return self.verdict("fail", f"no attempt {ctx.clock() - last.t:.2f} s after a 429 with Retry-After: "
                                        f"{wait:.0f} (allowed up to {wait + self.late_s:.1f} s)",
                                gaps_s=[round(g, 3) for g in gaps])
        done = final or any(ok_status(r.get("status")) for r in records)
        if not done:
            return None
        if len(gaps) < self.min_answers:
            return self.verdict("fail", f"saw {len(gaps)} 429 answer(s) followed by another attempt; need "
                                        f"{self.min_answers}", gaps_s=[round(g, 3) for g in gaps])
        return self.verdict("pass", f"{len(gaps)} attempt(s) after a 429 with Retry-After: {wait:.0f}, each "
                                    f"{min(gaps):.3f}–{max(gaps):.3f} s later (none before {wait:.0f} s)",
                            gaps_s=[round(g, 3) for g in gaps], min_gap_s=round(min(gaps), 3))

    def wake_at(self, ctx: CheckContext) -> float | None:
        records = ctx.register_requests()
        if records and records[-1].get("status") == 429:
            return records[-1].t + math.ceil(self.retry_after_s) + self.late_s + 0.05
        return None
