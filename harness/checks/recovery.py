"""After a fault clears, the agent recovers within a bound."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.skip import EndedTooSoon
from harness.checks.base import Check, CheckContext, Verdict, register


@register
class Recovers(Check):
    """A successful registration within ``within_s`` after the last fault clears (the center's log
    when the profile declares a register route, else the best attempt source).

    Recovery time = first successful attempt after the harness asked to lift the last fault − that
    request (the fault may go any time until the call returns, so the figure errs long, never short).
    A registration that succeeded *during* the fault (before the lift was asked) is a failure of the
    fault or of the check's premise, and is reported as such.
    """

    type: Literal["recovers"] = "recovers"
    within_s: float = Field(gt=0, description="seconds after the last fault cleared")
    needs_attempts: ClassVar[bool] = True

    def bound(self, ctx: CheckContext) -> float:
        """``within_s``, or longer when the agent's declared policy may itself wait longer between two
        attempts (its cap, + 1 s): an agent is judged against its own promise, not the reference's."""
        policy = ctx.profile.retry_policy
        return max(self.within_s, policy.cap_ms / 1000.0 + 1.0) if policy is not None else self.within_s

    def wake_at(self, ctx: CheckContext) -> float | None:
        anchor = self.anchor(ctx)
        return None if anchor is None else anchor + self.bound(ctx) + 0.01

    def anchor(self, ctx: CheckContext) -> float | None:
        return ctx.last_lifted()

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        windows = ctx.fault_windows()
        found = ctx.registrations(prefer="center")
        if not windows:
            return self.verdict("fail", "no fault window on the timeline: nothing to recover from") if final else None
        if any(w.end is None for w in windows):
            return self.verdict("fail", "the fault was never cleared during the run") if final else None
        cleared = ctx.last_lifted()
        during = [a for a in found if any(w.start <= a.t < w.lifted_from for w in windows)]
        if during:
            return self.verdict("fail", f"registered at {during[0].t - windows[0].start:.2f} s into the fault: "
                                        "the fault did not cut the agent off", registered_during_fault=True,
                                source=found.source)
        after = [a for a in found if a.t >= cleared]
        bound = self.bound(ctx)
        widened = f" (the declared policy may wait {bound - 1:.1f} s between attempts)" if bound > self.within_s else ""
        if after:
            took = after[0].t - cleared
            status = "pass" if took <= bound else "fail"
            relation = "within" if status == "pass" else "beyond"
            return self.verdict(status, f"registered {took:.2f} s after the fault cleared, {relation} the "
                                        f"{bound:g} s bound{widened} (from {found.describe()})",
                                recovery_s=round(took, 3), source=found.source, bound_s=bound)
        if final and ctx.clock() < cleared + bound:
            raise EndedTooSoon(f"recovers: the scenario ended {ctx.clock() - cleared:.1f} s after the fault cleared, "
                               f"before the {bound:g} s the agent's declared policy may take (fix: a longer "
                               "deadline_s for this agent)")
        if self.deadline_from(cleared, bound, ctx, final):
            return self.verdict("fail", f"no registration within {bound:g} s after the fault cleared{widened} "
                                        f"(in {found.describe()})", source=found.source)
        return None
