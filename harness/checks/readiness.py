"""Did the agent come up: registered with the center, ready (or, when it must not, never ready),
through its stages in order, and how much slower under a resource limit."""

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
    needs_attempts: ClassVar[bool] = True

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        found = ctx.registrations()
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
class ReadyNotBeforeRegistered(Check):
    """For an agent whose profile promises it (``health.ready_after_registered``): its ready stage
    says no until it has registered. Fails on a yes of startle's ready probe *answered* before the
    first successful registration (the answer time, not the round's start: a yes answered later
    may be true), or a yes with no registration at all."""

    type: Literal["ready_not_before_registered"] = "ready_not_before_registered"
    profile_needs: ClassVar[tuple[str, ...]] = ("health.ready",)
    needs_attempts: ClassVar[bool] = True

    def unpromised(self, profile) -> list[str]:
        lacking = super().unpromised(profile)
        return lacking + ([] if profile.health.ready_after_registered else ["health.ready_after_registered"])

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        found = ctx.registrations()
        registered = found.items[0].t if found.items else None
        yeses = [e for e in ctx.probes("ready") if e.get("ok")]
        early = next((e for e in yeses if registered is None or (e.get("answered") or e.t) < registered), None)
        at = (lambda t: f"+{t - start:.2f} s" if start is not None else f"{t:.2f}")
        if early is not None and (registered is not None or final):
            answered = early.get("answered") or early.t
            when = f"first registered at {at(registered)}" if registered else "never registered"
            return self.verdict("fail", f"ready said yes at {at(answered)} ({early.get('how')}), before it could "
                                        f"work: {when}", ready_yes_s=round(answered - (start or 0), 3),
                                registered_s=round(registered - (start or 0), 3) if registered else None)
        if registered is None:
            return self.verdict("fail", "never registered: the promise was not put to the test") if final else None
        return self.verdict("pass", f"ready stayed no until the first registration at {at(registered)} "
                                    f"({len([e for e in ctx.probes('ready') if not e.get('ok')])} no before it, "
                                    f"from {found.describe()})", registered_s=round(registered - (start or 0), 3))


@register
class StageOrder(Check):
    """The declared health stages became true, those the profile promises an order for in that
    order (``health.ordered``; default startup → ready → live), as startle's probes saw them; when
    Docker reports the container healthy, that comes after ``ready``."""

    type: Literal["stage_order"] = "stage_order"
    within_s: float = Field(gt=0, description="seconds after start by which every stage is reached")
    stages: list[str] | None = Field(None, description="default: every stage the profile's health declares")
    profile_needs: ClassVar[tuple[str, ...]] = ("health.ready",)

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        wanted = self.stages or ctx.judged_stages()
        seen = {s: e.t for s in wanted if (e := ctx.stage_ok(s)) is not None}
        healthy = ctx.docker_healthy()
        promised = [s for s in (ctx.profile.health.ordered or wanted) if s in wanted]
        got = [s for s in promised if s in seen]
        order = sorted(got, key=lambda s: seen[s])
        start = ctx.agent_started or ctx.timeline.start
        timings = {s: round(seen[s] - start, 3) for s in wanted if s in seen}
        if order != got:
            return self.verdict("fail", f"stages out of order: saw {' → '.join(order)}, expected "
                                        f"{' → '.join(promised)}", stages_s=timings)
        got = [s for s in wanted if s in seen]
        if len(got) == len(wanted):
            text = " → ".join(f"{s} {timings[s]:.2f} s" for s in wanted)
            if healthy is None and not ctx.image_has_healthcheck():
                return self.verdict("pass", text + " (the image has no HEALTHCHECK)", stages_s=timings)
            # ready is recorded on change: every round before its first yes said no. Docker's
            # HEALTHCHECK samples on its own clock, so only a no asked after Docker's healthy (a
            # round at least one probe interval before that yes) shows healthy came first.
            if healthy is not None and "ready" in seen and \
                    healthy.t < seen["ready"] - ctx.probe_resolution("ready"):
                return self.verdict("fail", f"Docker reported healthy {healthy.t - start:.2f} s after start, "
                                            f"while startle's probe still found the agent not ready (ready "
                                            f"at {seen['ready'] - start:.2f} s)", stages_s=timings)
            if healthy is not None:
                return self.verdict("pass", text + f"; Docker healthy at {healthy.t - start:.2f} s",
                                    stages_s=timings, healthy_after_s=round(healthy.t - start, 3))
        if self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
            missing = [s for s in wanted if s not in seen]
            what = f"stage(s) {', '.join(missing)} never reached" if missing else \
                "the image's HEALTHCHECK never reported healthy"
            return self.verdict("fail", f"{what} within {self.within_s} s", stages_s=timings)
        return None


@register
class NeverReady(Check):
    """Readiness never became true: startle's ready probe never said yes, and the agent never
    claimed it (its ``ready`` signal, when declared).

    Decided as a pass when the agent exits (``until: exit``) or when ``within_s`` has passed."""

    type: Literal["never_ready"] = "never_ready"
    within_s: float = Field(30, gt=0, description="seconds after the agent container started to watch")
    until: Literal["exit", "deadline"] = "exit"
    profile_needs: ClassVar[tuple[str, ...]] = ("health.ready",)

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started or ctx.timeline.start
        claim, probe = ctx.stage_claim("ready"), ctx.stage_ok("ready")
        if claim or probe:
            first = min(e.t for e in (claim, probe) if e is not None)
            how = f"the ready probe said yes ({probe.get('detail')})" if probe else "it claimed readiness"
            return self.verdict("fail", f"became ready {first - start:.2f} s after start ({how}); readiness "
                                        "must stay false", ready_after_s=round(first - start, 3))
        died = ctx.agent_exited()
        if self.until == "exit" and died is not None:
            return self.verdict("pass", f"never ready; exited with code {died.get('exit_code')} "
                                        f"{died.t - start:.2f} s after start", exit_code=died.get("exit_code"))
        if self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
            return self.verdict("pass", f"never ready within {self.within_s} s of start")
        return None


@register
class SlowerInit(Check):
    """Under a resource limit the agent is still ready within ``within_s`` (the launcher's deadline),
    and the slowdown against an unlimited run of the same agent (the ``native_baseline`` fault,
    listed before the limiting fault so that its copy keeps the profile's limits) is measured and
    at least ``min_ratio`` (proof the limit was in force). Ready = Docker ``start`` → the ready probe's yes."""

    type: Literal["slower_init"] = "slower_init"
    within_s: float = Field(gt=0, description="seconds after the agent container started")
    min_ratio: float = Field(1.5, gt=0, description="limited / unlimited ready time at least this")
    profile_needs: ClassVar[tuple[str, ...]] = ("health.ready",)

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        ready = ctx.stage_ok("ready")
        native = ctx.timeline.first("harness", "native_ready")
        if start is not None and ready is not None:
            took = round(ready.t - start, 3)
            measured = {"ready_s": took}
            resolution = ctx.probe_resolution("ready")
            if took < 3 * resolution:
                return self.skip(f"the agent was ready {took:.3f} s after start under the limit, within 3 rounds "
                                 f"of the probes ({resolution:g} s apart): too fast for a slowdown to be measured",
                                 **measured)
            if took > self.within_s:
                return self.verdict("fail", f"ready only {took} s after start; the deadline is {self.within_s} s",
                                    **measured)
            if native is None:
                return self.verdict("fail", f"ready in {took} s, but no unlimited run was measured (add the "
                                            "native_baseline fault before the limit)", **measured)
            base = float(native.get("ready_after_s"))
            ratio = round(took / max(base, 1e-3), 2)
            measured.update(unlimited_ready_s=base, slowdown_x=ratio)
            if ratio < self.min_ratio:
                return self.verdict("fail", f"ready in {took} s vs {base} s unlimited: only {ratio}x slower, "
                                            f"expected at least {self.min_ratio}x (was the limit applied?)", **measured)
            return self.verdict("pass", f"ready in {took} s vs {base} s unlimited ({ratio}x slower), within the "
                                        f"{self.within_s} s deadline", **measured)
        if self.deadline_from(start, self.within_s, ctx, final):
            died = ctx.agent_exited()
            return self.verdict("fail", f"not ready within the {self.within_s} s deadline"
                                + (f"; exited with code {died.get('exit_code')}" if died else ""))
        return None
