"""The circuit breaker opens after its threshold and half-opens after its cooldown — as the center saw it.

From the center's request log (else the best source of attempts the profile gives; the verdict's
``measured.source`` says which): in the first run of consecutive failed registrations, the first
``breaker_threshold`` attempts come at backoff pace (every gap shorter than 90 % of the cooldown:
the breaker did not open early); after failure number ``threshold`` there is a pause of
``breaker_cooldown_s`` (no attempt before ``cooldown − early_tolerance_s``, and one by
``cooldown + late_tolerance_s``: it half-opens); each half-open trial that fails is followed by
another such pause (it re-opens; no burst of attempts). Threshold and cooldown are the profile's
declared ``retry_policy`` values unless the check overrides them. The agent's own ``breaker`` log
events are reported alongside for diagnosis.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, ok_status, register


@register
class BreakerOpens(Check):
    type: Literal["breaker_opens"] = "breaker_opens"
    threshold: int | None = Field(None, ge=1, description="default: the profile's breaker_threshold")
    cooldown_s: float | None = Field(None, gt=0, description="default: the profile's breaker_cooldown_s")
    min_pauses: int = Field(1, ge=1, description="breaker pauses (open → half-open) that must be seen")
    early_tolerance_s: float = Field(0.05, ge=0, description="a pause may be this much shorter than the cooldown")
    late_tolerance_s: float = Field(1.0, ge=0, description="a pause may be this much longer than the cooldown")

    promise_needs: ClassVar[tuple[str, ...]] = ("retry_policy.breaker_threshold", "retry_policy.breaker_cooldown_s")
    needs_attempts: ClassVar[bool] = True

    def settings(self, ctx: CheckContext) -> tuple[int | None, float | None]:
        policy = ctx.profile.retry_policy
        return (self.threshold or (policy.breaker_threshold if policy else None),
                self.cooldown_s or (policy.breaker_cooldown_s if policy else None))

    def records(self, ctx: CheckContext) -> tuple[list[tuple[float, int | None]], str | None]:
        """(time, status; a success without status counts as 200) of each attempt, the center's first,
        and the source they were read from."""
        found = ctx.attempts("center")
        return [(a.t, a.status if a.status is not None else 200 if a.ok else None) for a in found], found.source

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        threshold, cooldown = self.settings(ctx)
        if not threshold or not cooldown:
            return self.verdict("fail", "the profile declares no circuit breaker (breaker_threshold, breaker_cooldown_s)")
        records, source = self.records(ctx)
        transitions = [f"{e.get('state')}@{e.t - (ctx.agent_started or e.t):.2f}s"
                       for e in ctx.signal("breaker")]
        measured: dict = {"threshold": threshold, "cooldown_s": cooldown, "agent_breaker_events": transitions,
                          "source": source}
        failures, pauses = 0, []
        for i, (t0, s0) in enumerate(records):
            if ok_status(s0):
                break
            failures += 1
            nxt = records[i + 1] if i + 1 < len(records) else None
            gap = None if nxt is None else nxt[0] - t0
            if failures < threshold:
                if gap is not None and gap >= 0.9 * cooldown:
                    return self.verdict("fail", f"a pause of {gap:.2f} s after only {failures} consecutive failures: "
                                                f"the breaker opened before its threshold of {threshold} (or the backoff outgrew its cap)", **measured)
                continue
            # failure number `threshold`, or a failed half-open trial: a cooldown pause is due
            if gap is None:
                overdue = ctx.clock() - t0
                if overdue > cooldown + self.late_tolerance_s and not final and not ctx.agent_exited():
                    return self.verdict("fail", f"no half-open trial {overdue:.2f} s after the breaker opened "
                                                f"(cooldown {cooldown} s + {self.late_tolerance_s} s)",
                                        pauses_s=[round(p, 3) for p in pauses], **measured)
                break
            if gap < cooldown - self.early_tolerance_s:
                which = "after the threshold was reached" if not pauses else "after a failed half-open trial"
                return self.verdict("fail", f"attempt came {gap:.2f} s {which} ({failures} consecutive failures); "
                                            f"the breaker allows none for {cooldown} s "
                                            f"(−{self.early_tolerance_s} s tolerance)",
                                    pauses_s=[round(p, 3) for p in pauses], **measured)
            if gap > cooldown + self.late_tolerance_s:
                return self.verdict("fail", f"the breaker stayed open {gap:.2f} s; it should half-open after "
                                            f"{cooldown} s (+{self.late_tolerance_s} s)",
                                    pauses_s=[round(p, 3) for p in pauses], **measured)
            pauses.append(gap)
        measured["pauses_s"] = [round(p, 3) for p in pauses]
        ended = final or any(ok_status(s) for _, s in records) or ctx.agent_exited() is not None
        if len(pauses) >= self.min_pauses and ended:
            return self.verdict("pass", f"breaker opened after {threshold} consecutive failures and half-opened "
                                        f"after {min(pauses):.2f}–{max(pauses):.2f} s (cooldown {cooldown} s); "
                                        f"{len(pauses)} pause(s), one trial each", **measured)
        if ended:
            return self.verdict("fail", f"saw {len(pauses)} breaker pause(s), need {self.min_pauses} "
                                        f"({failures} consecutive failures reached the center)", **measured)
        return None

    def wake_at(self, ctx: CheckContext) -> float | None:
        _, cooldown = self.settings(ctx)
        records, _ = self.records(ctx)
        if not records or not cooldown:
            return None
        return records[-1][0] + cooldown + self.late_tolerance_s + 0.05
