"""Giving up and being restarted: the agent exits at its deadline with its documented code, and
Docker's restart policy brings it back with growing delays (from Docker's own events).

* ``gives_up``         the first incarnation exits with the profile's give-up code about
                       ``deadline_s`` after its first registration attempt (from the center's log
                       or the agent's ``attempt`` signal): within [−``early_s``, +``late_s``].
* ``restart_backoff``  at least ``min_restarts`` restarts, each incarnation exiting with
                       the profile's code for ``reason``; every incarnation lived at least ``min_uptime_s`` (a container
                       that dies at once and is restarted at once is a tight crash loop: failure),
                       and the restart delays (die → next start) grow: the last one is the longest
                       (within ``tolerance_s``) and at least ``min_growth`` × the shortest before it.
                       Docker 20.10 doubles its delay from 100 ms (reset after 10 s of uptime); a
                       container start adds ~0.3–0.5 s on this host, so the die → start gaps grow
                       by less than ×2 each.
* ``stays_down``       it exits (within ``within_s`` when given) and is not started again for ``for_s`` seconds (a
                       launcher's ``--restart no``, or ``on-failure:N`` spent): decided at once when
                       it is restarted, passed ``for_s`` after the exit.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, register


def this_agent(ctx: CheckContext):
    """A predicate for Docker events of this scenario's agent container: the one created last.

    A same-named scenario that ran just before in the same run may leak its teardown events
    (``die``, even a ``start`` from its restart policy) into this timeline.
    """
    creates = ctx.timeline.select("docker", "create", lambda e: e.container == "agent")
    ident = creates[-1].get("id") if creates else None
    return lambda e: e.container == "agent" and (ident is None or e.get("id") == ident)


def lifetimes(ctx: CheckContext) -> tuple[list[float], list[tuple[float, int | None]]]:
    """(start times, (die time, exit code)) of the agent container, in time order."""
    mine = this_agent(ctx)
    starts = [e.t for e in ctx.timeline.select("docker", "start", mine)]
    first = starts[0] if starts else float("inf")  # a die before the first start is not this agent's
    dies = [(e.t, e.get("exit_code")) for e in ctx.timeline.select("docker", "die", mine) if e.t >= first]
    return starts, dies


@register
class GivesUp(Check):
    type: Literal["gives_up"] = "gives_up"
    reason: str = Field("give-up", description="the profile's exit_codes key of its give-up exit")
    deadline_s: float | None = Field(None, gt=0, description="its registration deadline; default the profile's")
    early_s: float = Field(0.2, ge=0, description="it may give up this much before the deadline")
    late_s: float = Field(2.0, ge=0, description="and exit this much after it")
    needs_attempts: ClassVar[bool] = True

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        deadline = self.deadline(ctx)
        if deadline is None:
            return self.verdict("fail", "the profile's retry policy declares no deadline: nothing to give up at")
        starts, dies = lifetimes(ctx)
        died = ctx.timeline.first("docker", "die", lambda e: this_agent(ctx)(e) and bool(starts) and e.t >= starts[0])
        tried = ctx.attempts()
        first = tried.times[0] if tried.items else None
        if died is None:
            if final:
                return self.verdict("fail", f"the agent never gave up (no exit within the run; deadline {deadline} s)")
            if first is not None and ctx.clock() > first + deadline + self.late_s:
                return self.verdict("fail", f"still running {ctx.clock() - first:.2f} s after its first attempt; "
                                            f"its deadline is {deadline} s (+{self.late_s} s)")
            return None
        code = died.get("exit_code")
        wanted = self.exit_code_for(ctx, self.reason, None)
        if first is None:
            return self.verdict("fail", f"exited with code {code} before any registration attempt", exit_code=code)
        gave_up = next(iter(ctx.signal("give_up")), None)
        # the agent's own give-up time when it logged one (the exit follows its last log export)
        took = (gave_up.t if gave_up is not None and gave_up.t <= died.t else died.t) - first
        measured = {"exit_code": code, "gave_up_after_s": round(took, 3), "exited_after_s": round(died.t - first, 3),
                    "deadline_s": deadline, "attempts": len([t for t in tried.times if t <= died.t]),
                    "source": tried.source}
        if gave_up is not None:
            measured["agent_attempts"] = gave_up.get("attempts")
        if code != wanted:
            return self.verdict("fail", f"exited with code {code} after {died.t - first:.2f} s; the declared "
                                        f"give-up code is {wanted}", **measured)
        if took < deadline - self.early_s or died.t - first > deadline + self.late_s:
            return self.verdict("fail", f"gave up {took:.2f} s and exited {died.t - first:.2f} s after its first "
                                        f"attempt; the deadline is {deadline} s (−{self.early_s}/+{self.late_s} s)",
                                **measured)
        return self.verdict("pass", f"gave up {took:.2f} s after its first attempt (deadline {deadline} s) and "
                                    f"exited with {code} at {died.t - first:.2f} s", **measured)

    def deadline(self, ctx: CheckContext) -> float | None:
        policy = ctx.profile.retry_policy
        return self.deadline_s or (policy.deadline_s if policy else None)

    def unpromised(self, profile) -> list[str]:
        lacking = super().unpromised(profile)
        if not self.deadline_s and (profile.retry_policy is None or profile.retry_policy.deadline_s is None):
            lacking.append("retry_policy.deadline_s")
        return lacking

    def wake_at(self, ctx: CheckContext) -> float | None:
        tried = ctx.attempts()
        deadline = self.deadline(ctx)
        return None if not tried.items or deadline is None else tried.times[0] + deadline + self.late_s + 0.05


@register
class RestartBackoff(Check):
    type: Literal["restart_backoff"] = "restart_backoff"
    min_restarts: int = Field(3, ge=1, description="restarts that must be observed")
    reason: str | None = Field(None, description="each incarnation exits with the profile's code for this "
                               "(None: any code)")
    min_uptime_s: float = Field(1.0, ge=0, description="shorter lives are a tight crash loop")
    tolerance_s: float = Field(0.3, ge=0, description="the last delay may be this much shorter than the longest before it")
    min_growth: float = Field(1.5, ge=1, description="last delay ≥ this × the shortest earlier delay")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        starts, dies = lifetimes(ctx)
        delays = [next_start - died for (died, _), next_start in zip(dies, starts[1:])]
        uptimes = [died - start for start, (died, _) in zip(starts, dies)]
        codes = [code for _, code in dies]
        measured = {"restarts": len(starts) - 1, "delays_s": [round(d, 3) for d in delays],
                    "uptimes_s": [round(u, 3) for u in uptimes], "exit_codes": codes}
        for i, up in enumerate(uptimes):
            if up < self.min_uptime_s:
                return self.verdict("fail", f"tight crash loop: incarnation {i + 1} lived {up:.2f} s "
                                            f"(less than {self.min_uptime_s} s)", **measured)
        for i, code in enumerate(codes):
            wanted = self.exit_code_for(ctx, self.reason, None)
            if wanted is not None and code != wanted:
                return self.verdict("fail", f"incarnation {i + 1} exited with code {code}, expected {wanted}",
                                    **measured)
        if len(delays) >= self.min_restarts:
            last, earlier = delays[-1], delays[:-1]
            growth = last / min(earlier) if min(earlier) > 0 else float("inf")
            measured["growth"] = round(growth, 2)
            if last < max(earlier) - self.tolerance_s:
                i = earlier.index(max(earlier))
                return self.verdict("fail", f"the last restart delay ({last:.2f} s) is shorter than delay {i + 1} "
                                            f"({earlier[i]:.2f} s): restarts do not back off", **measured)
            if growth < self.min_growth:
                return self.verdict("fail", f"restart delays did not grow: the last was {last:.2f} s, the shortest "
                                            f"before it {min(earlier):.2f} s (×{growth:.1f}, need ×{self.min_growth})",
                                    **measured)
            return self.verdict("pass", f"{len(delays)} restarts, delays " + ", ".join(f"{d:.2f}" for d in delays)
                                + f" s (last ×{growth:.1f} the shortest); each incarnation exited "
                                f"{self.exit_code_for(ctx, self.reason, None) or 'non-zero'} "
                                f"after {min(uptimes):.2f}–{max(uptimes):.2f} s", **measured)
        if final:
            return self.verdict("fail", f"only {len(delays)} restart(s) observed, need {self.min_restarts}", **measured)
        return None


@register
class StaysDown(Check):
    type: Literal["stays_down"] = "stays_down"
    for_s: float = Field(3.0, gt=0, description="seconds after its first exit without a new start")
    within_s: float | None = Field(None, gt=0, description="the exit must come this soon after the start "
                                   "(None: any time in the run)")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        starts, dies = lifetimes(ctx)
        if not dies:
            if final or (self.within_s is not None and self.deadline_from(self.anchor(ctx), self.within_s, ctx, final)):
                return self.verdict("fail", "the agent never exited"
                                    + (f" within {self.within_s} s" if self.within_s is not None else ""))
            return None
        died, code = dies[0]
        again = next((t for t in starts if t > died), None)
        if again is not None:
            return self.verdict("fail", f"exited with {code}, then started again {again - died:.2f} s later",
                                exit_code=code, restarted_after_s=round(again - died, 3))
        if final or ctx.clock() > died + self.for_s:
            return self.verdict("pass", f"exited with {code} and stayed down {self.for_s} s", exit_code=code)
        return None

    def wake_at(self, ctx: CheckContext) -> float | None:
        _, dies = lifetimes(ctx)
        return dies[0][0] + self.for_s + 0.01 if dies else super().wake_at(ctx)
