"""Did the agent come up: registered with the center, ready, through its stages in order."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, register


@register
class Registered(Check):
    """The center recorded a successful registration of this node within ``within_s`` of agent start."""

    type: Literal["registered"] = "registered"
    within_s: float = Field(gt=0, description="seconds after the agent container started")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        ok = ctx.center_requests(ctx.profile.center.register_path, status=200)
        if start is not None and ok:
            took = ok[0].t - start
            if took <= self.within_s:
                return self.verdict("pass", f"registered {took:.2f} s after start (bound {self.within_s} s)",
                                    registered_after_s=round(took, 3), attempts=ok[0].get("attempt"))
            return self.verdict("fail", f"registered only {took:.2f} s after start; the bound is {self.within_s} s",
                                registered_after_s=round(took, 3))
        if self.deadline_from(start, self.within_s, ctx, final):
            tried = len(ctx.center_requests(ctx.profile.center.register_path))
            return self.verdict("fail", f"no successful registration within {self.within_s} s of start "
                                        f"({tried} register requests reached the center)", requests=tried)
        return None


@register
class Ready(Check):
    """The agent said it is ready and its ready endpoint answered 200, within ``within_s`` of start.

    The agent's own word is not enough: the harness probes the endpoint when the agent claims
    readiness (a ``probe``/``ready`` event on the timeline).
    """

    type: Literal["ready"] = "ready"
    within_s: float = Field(gt=0, description="seconds after the agent container started")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        probes = ctx.timeline.select("probe", "ready", lambda e: e.get("status") == 200)
        if start is not None and probes:
            took = probes[0].t - start
            if took <= self.within_s:
                return self.verdict("pass", f"ready {took:.2f} s after start (bound {self.within_s} s)",
                                    ready_after_s=round(took, 3))
            return self.verdict("fail", f"ready only {took:.2f} s after start; the bound is {self.within_s} s",
                                ready_after_s=round(took, 3))
        if self.deadline_from(start, self.within_s, ctx, final):
            claimed = ctx.timeline.select("probe", "ready")
            detail = (f"; the agent claimed readiness but its endpoint answered {claimed[-1].get('status')}"
                      if claimed else "; the agent never reported readiness")
            died = ctx.agent_exited()
            if died:
                detail += f"; the container exited with code {died.get('exit_code')}"
            return self.verdict("fail", f"not ready within {self.within_s} s of start{detail}")
        return None


@register
class StageOrder(Check):
    """The agent's health stages were reached in the profile's order (startup → ready → live).

    Stages come from the agent's ``stage`` log events; ``live`` must also be confirmed by Docker's
    health status turning ``healthy`` after ``ready``.
    """

    type: Literal["stage_order"] = "stage_order"
    within_s: float = Field(gt=0, description="seconds after start by which every stage is reached")
    stages: list[str] | None = Field(None, description="default: the profile's signals.stages")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        signals = ctx.profile.signals
        wanted = self.stages or signals.stages
        seen: dict[str, float] = {}
        for event in ctx.agent_events(signals.stage_event):
            seen.setdefault(str(event.get(signals.stage_field)), event.t)
        healthy = ctx.timeline.first("docker", "health_status: healthy", lambda e: e.container == "agent")
        got = [s for s in wanted if s in seen]
        order = sorted(got, key=lambda s: seen[s])
        start = ctx.agent_started or ctx.timeline.start
        timings = {s: round(seen[s] - start, 3) for s in got}
        if order != got:
            return self.verdict("fail", f"stages out of order: saw {' → '.join(order)}, expected "
                                        f"{' → '.join(wanted)}", stages_s=timings)
        if len(got) == len(wanted) and healthy is not None:
            before_live = wanted[-2] if len(wanted) > 1 else None
            if before_live and healthy.t < seen[before_live]:
                return self.verdict("fail", f"Docker reported healthy {healthy.t - start:.2f} s after start, "
                                            f"before the agent was {before_live}", stages_s=timings)
            return self.verdict("pass", " → ".join(f"{s} {timings[s]:.2f} s" for s in wanted)
                                + f"; Docker healthy at {healthy.t - start:.2f} s",
                                stages_s=timings, healthy_after_s=round(healthy.t - start, 3))
        if self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
            missing = [s for s in wanted if s not in seen]
            what = f"stage(s) {', '.join(missing)} never reached" if missing else "Docker never reported healthy"
            return self.verdict("fail", f"{what} within {self.within_s} s", stages_s=timings)
        return None
