"""Liveness: a hung agent is seen as unhealthy by Docker, then restarted, then ready again."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, register


@register
class RestartedAfterHang(Check):
    """After the ``agent_hang`` fault: Docker reports ``unhealthy`` within ``unhealthy_within_s``,
    the container dies and Docker starts it again within ``restart_within_s`` (both from the hang),
    and the restarted agent reaches readiness again within ``ready_within_s`` of its restart."""

    type: Literal["restarted_after_hang"] = "restarted_after_hang"
    unhealthy_within_s: float = Field(gt=0, description="seconds from the hang to Docker's unhealthy")
    restart_within_s: float = Field(gt=0, description="seconds from the hang to the container's restart")
    ready_within_s: float = Field(15, gt=0, description="seconds from the restart to stage ready again")
    fault: str = "agent_hang"

    def anchor(self, ctx: CheckContext) -> float | None:
        hang = ctx.timeline.first("fault", "applied", lambda e: e.get("fault") == self.fault)
        return hang.t if hang else None

    def wake_at(self, ctx: CheckContext) -> float | None:
        hang = self.anchor(ctx)
        return None if hang is None else hang + self.restart_within_s + self.ready_within_s + 0.01

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        hang = self.anchor(ctx)
        if hang is None:
            return self.verdict("fail", "the hang was never injected") if final else None
        agent = lambda e: e.container == "agent" and e.t >= hang  # noqa: E731
        unhealthy = ctx.timeline.first("docker", "health_status: unhealthy", agent)
        died = ctx.timeline.first("docker", "die", agent)
        restart = ctx.timeline.first("docker", "start", lambda e: agent(e) and died is not None and e.t >= died.t)
        ready = None
        if restart is not None:
            ready = ctx.stage_ok("ready", after=restart.t)
        m = {"unhealthy_after_s": None if unhealthy is None else round(unhealthy.t - hang, 3),
             "died_after_s": None if died is None else round(died.t - hang, 3),
             "exit_code": None if died is None else died.get("exit_code"),
             "restarted_after_s": None if restart is None else round(restart.t - hang, 3),
             "ready_after_restart_s": None if ready is None or restart is None else round(ready.t - restart.t, 3)}
        now = ctx.clock()
        if died is not None and (unhealthy is None or unhealthy.t > died.t):
            return self.verdict("fail", f"the container died {m['died_after_s']} s after the hang (exit "
                                        f"{m['exit_code']}) before Docker reported it unhealthy", **m)
        if unhealthy is not None and unhealthy.t - hang > self.unhealthy_within_s:
            return self.verdict("fail", f"unhealthy only {m['unhealthy_after_s']} s after the hang; the bound is "
                                        f"{self.unhealthy_within_s} s", **m)
        if restart is not None and restart.t - hang > self.restart_within_s:
            return self.verdict("fail", f"restarted only {m['restarted_after_s']} s after the hang; the bound is "
                                        f"{self.restart_within_s} s", **m)
        if ready is not None and restart is not None:
            if ready.t - restart.t > self.ready_within_s:
                return self.verdict("fail", f"ready again only {m['ready_after_restart_s']} s after the restart; "
                                            f"the bound is {self.ready_within_s} s", **m)
            return self.verdict("pass", f"hang → unhealthy {m['unhealthy_after_s']} s → exit {m['exit_code']} at "
                                        f"{m['died_after_s']} s → restarted {m['restarted_after_s']} s → ready "
                                        f"{m['ready_after_restart_s']} s later", **m)
        overdue = (unhealthy is None and now > hang + self.unhealthy_within_s) or \
                  (restart is None and now > hang + self.restart_within_s) or \
                  (restart is not None and now > restart.t + self.ready_within_s)
        if final or overdue:
            if unhealthy is None:
                what = f"Docker never reported unhealthy within {self.unhealthy_within_s} s of the hang"
            elif restart is None:
                what = (f"unhealthy at {m['unhealthy_after_s']} s but the container was not restarted within "
                        f"{self.restart_within_s} s of the hang (nothing restarts an unhealthy container "
                        "unless the agent exits)")
            else:
                what = f"restarted at {m['restarted_after_s']} s but not ready again within {self.ready_within_s} s"
            return self.verdict("fail", what, **m)
        return None
