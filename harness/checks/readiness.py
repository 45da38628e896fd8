"""Did the agent come up: registered with the center, ready, through its stages in order."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, register


@register
class Registered(Check):
    """A successful registration (connection) within ``within_s`` of agent start — from the best
    source of attempts the profile gives (:meth:`harness.view.View.attempts`)."""

    type: Literal["registered"] = "registered"
    within_s: float = Field(gt=0, description="seconds after the agent container started")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        found = ctx.registrations()
        if found.source is None:
            return self.verdict("fail", "no source of attempts: the profile declares no attempt signal and no "
                                        "register route, and nothing was seen on the wire") if final else None
        if start is not None and found.items:
            took = found.items[0].t - start
            measured = {"registered_after_s": round(took, 3), "attempt": found.items[0].number,
                        "source": found.source}
            if took <= self.within_s:
                return self.verdict("pass", f"registered {took:.2f} s after start (bound {self.within_s} s; "
                                            f"from {found.describe()})", **measured)
            return self.verdict("fail", f"registered only {took:.2f} s after start; the bound is {self.within_s} s",
                                **measured)
        if self.deadline_from(start, self.within_s, ctx, final):
            tried = ctx.attempts(found.source)
            return self.verdict("fail", f"no successful registration within {self.within_s} s of start "
                                        f"({len(tried)} attempts seen in {tried.describe()})",
                                attempts=len(tried), source=found.source)
        return None


@register
class Ready(Check):
    """startle's own probe of the declared ready stage said yes within ``within_s`` of start.

    The agent's claim is never enough: readiness is what the probe (HTTP, TCP, exec or Docker's
    HEALTHCHECK, as the profile declares) answers.
    """

    type: Literal["ready"] = "ready"
    within_s: float = Field(gt=0, description="seconds after the agent container started")
    profile_needs: ClassVar[tuple[str, ...]] = ("health.ready",)

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        ok = ctx.stage_ok("ready")
        if start is not None and ok is not None:
            took = ok.t - start
            if took <= self.within_s:
                return self.verdict("pass", f"ready {took:.2f} s after start ({ok.get('how')}: {ok.get('detail')}; "
                                            f"bound {self.within_s} s)", ready_after_s=round(took, 3))
            return self.verdict("fail", f"ready only {took:.2f} s after start; the bound is {self.within_s} s",
                                ready_after_s=round(took, 3))
        if self.deadline_from(start, self.within_s, ctx, final):
            probes = ctx.probes("ready")
            claim = ctx.stage_claim("ready")
            detail = f"; the probe ({probes[-1].get('how')}) last said {probes[-1].get('detail')}" if probes else \
                "; the probe never got an answer"
            if claim is not None:
                detail += f"; the agent claimed readiness {claim.t - (start or claim.t):.2f} s after start"
            died = ctx.agent_exited()
            if died:
                detail += f"; the container exited with code {died.get('exit_code')}"
            return self.verdict("fail", f"not ready within {self.within_s} s of start{detail}")
        return None


@register
class StageOrder(Check):
    """The declared health stages became true in order (startup → ready → live), as startle's
    probes saw them; when Docker reports the container healthy, that comes after ``ready``."""

    type: Literal["stage_order"] = "stage_order"
    within_s: float = Field(gt=0, description="seconds after start by which every stage is reached")
    stages: list[str] | None = Field(None, description="default: every stage the profile's health declares")
    profile_needs: ClassVar[tuple[str, ...]] = ("health.ready",)

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        wanted = self.stages or ctx.judged_stages()
        seen = {s: e.t for s in wanted if (e := ctx.stage_ok(s)) is not None}
        healthy = ctx.docker_healthy()
        got = [s for s in wanted if s in seen]
        order = sorted(got, key=lambda s: seen[s])
        start = ctx.agent_started or ctx.timeline.start
        timings = {s: round(seen[s] - start, 3) for s in got}
        if order != got:
            return self.verdict("fail", f"stages out of order: saw {' → '.join(order)}, expected "
                                        f"{' → '.join(wanted)}", stages_s=timings)
        if len(got) == len(wanted):
            text = " → ".join(f"{s} {timings[s]:.2f} s" for s in wanted)
            if healthy is None and not ctx.image_has_healthcheck():
                return self.verdict("pass", text + " (the image has no HEALTHCHECK)", stages_s=timings)
            if healthy is not None and "ready" in seen and healthy.t < seen["ready"]:
                return self.verdict("fail", f"Docker reported healthy {healthy.t - start:.2f} s after start, "
                                            "before the agent was ready", stages_s=timings)
            if healthy is not None:
                return self.verdict("pass", text + f"; Docker healthy at {healthy.t - start:.2f} s",
                                    stages_s=timings, healthy_after_s=round(healthy.t - start, 3))
        if self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
            missing = [s for s in wanted if s not in seen]
            what = f"stage(s) {', '.join(missing)} never reached" if missing else \
                "the image's HEALTHCHECK never reported healthy"
            return self.verdict("fail", f"{what} within {self.within_s} s", stages_s=timings)
        return None
