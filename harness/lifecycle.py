"""One scenario, start to finish — the fixed lifecycle of DESIGN.md "Data flow".

    world up (network, center, Toxiproxy) → collectors → creation-time faults → faults due at 0
    → agent started as the profile says → loop: run due fault actions, evaluate checks on every
    new event, until all are decided or the deadline passes → final verdicts
    → finally: clear faults, stop collectors, remove everything the scenario created.

The result is a plain, serialisable record (:class:`ScenarioResult`), the scenario's journal.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.checks import Check, CheckContext, Verdict
from harness.checks.base import overall
from harness.collectors import AgentLog, CenterLogs, CenterRequests, Collector, DockerEvents, LaunchedAgentLogs
from harness.engine import remote_limit
from harness.errors import InfrastructureError
from harness.faults import Fault
from harness.pool import WorldPool
from harness.probes import HealthProbes
from harness.profile import Profile, load_profile
from harness.runtime import Run, World, native_arch
from harness.scenario import Scenario
from harness.sentinel import broken
from harness.skip import EndedTooSoon, ScenarioSkipped
from harness.timeline import Timeline

PhaseHook = Callable[[str, str], None]
"""``hook(scenario_name, phase)``: progress reporting (CLI lines, pytest output)."""


class ScenarioCancelled(Exception):
    """The run was cancelled (Ctrl-C, SIGTERM): the scenario stops and removes its world."""


@dataclass
class ScenarioResult:
    """The journal of one scenario. ``status``: pass, fail (the agent's fault), error (the harness's)
    or skip (this host lacks a requirement, the profile a field the scenario needs, or none of its
    checks could be judged; ``error`` holds the reason). A check that alone cannot be judged has a
    ``skip`` verdict with its reason, and counts neither way (:func:`harness.checks.base.overall`)."""

    name: str
    family: str
    status: str = "error"
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    agent_started: float | None = None
    images: dict[str, str] = field(default_factory=dict)
    agent: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    agent_log_tail: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds spent in each lifecycle phase (infrastructure, agent, observe, verdict, cleanup)."""
    profile: str = ""
    deadline_s: float | None = None
    """The scenario's hard stop, seconds after the agent starts."""
    policy: dict[str, Any] = field(default_factory=dict)
    """The profile's declared retry policy (base_ms, factor, cap_ms, jitter, deadline_s, breaker_*)."""
    signals: dict[str, Any] = field(default_factory=dict)
    """The profile's signal matchers (``signals`` of the profile)."""
    profile_spec: dict[str, Any] = field(default_factory=dict)
    """The whole profile as it was used (reports read the timeline through it: :mod:`harness.view`)."""
    timeline: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def wall_s(self) -> float:
        return round(self.finished - self.started, 3)

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        return [v for v in self.verdicts if v["status"] == "fail"]

    @property
    def skipped_checks(self) -> list[dict[str, Any]]:
        """Verdicts of the checks that could not be judged (their ``message`` says why)."""
        return [v for v in self.verdicts if v["status"] == "skip"]

    def summary_line(self) -> str:
        if self.status == "error":
            return f"{self.name}: ERROR {self.error}"
        if self.status == "skip":
            return f"{self.name}: skip ({self.error})"
        skipped = ", ".join(v["check"] for v in self.skipped_checks)
        skipped = f"; not judged: {skipped}" if skipped else ""
        if self.status == "pass":
            return f"{self.name}: pass ({self.wall_s:.1f} s{skipped})"
        reasons = "; ".join(f"{v['check']}: {v['message']}" for v in self.failed_checks)
        return f"{self.name}: FAIL ({self.wall_s:.1f} s{skipped}) {reasons}"

    def to_dict(self, with_timeline: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["wall_s"] = self.wall_s
        if not with_timeline:
            data.pop("timeline")
        return data


@dataclass
class Action:
    """A scheduled fault action: at ``at`` (Unix s) call ``fault.apply`` or ``fault.clear``."""

    at: float
    kind: str  # "apply" | "clear"
    fault: Fault

    def run(self, world: World, timeline: Timeline) -> None:
        requested = time.time()  # the fault changes somewhere between this and the event's time
        getattr(self.fault, self.kind)(world)
        if self.fault.has_window:  # creation-time faults have no window to recover from
            timeline.record("fault", "applied" if self.kind == "apply" else "cleared",
                            fault=self.fault.type, description=self.fault.describe(), requested=round(requested, 6))


def plan_actions(faults: list[Fault], agent_start: float) -> list[Action]:
    """Apply/clear actions in time order, relative to the agent's start (Unix s)."""
    actions: list[Action] = []
    for fault in faults:
        actions.append(Action(agent_start + fault.at_s, "apply", fault))
        if fault.clears_at_s is not None:
            actions.append(Action(agent_start + fault.clears_at_s, "clear", fault))
    return sorted(actions, key=lambda a: (a.at, a.kind != "clear"))


def decide(checks: list[Check], ctx: CheckContext, verdicts: dict[int, Verdict], final: bool) -> None:
    """Evaluate every undecided check once; store the decided ones in ``verdicts`` by index. A check
    that raises :class:`ScenarioSkipped` is that check's skip, never the whole scenario's — except
    :class:`~harness.skip.EndedTooSoon`, which skips the scenario."""
    for index, check in enumerate(checks):
        if index not in verdicts:
            try:
                verdict = check.evaluate(ctx, final)
            except EndedTooSoon:
                raise
            except ScenarioSkipped as exc:
                verdict = check.skip(str(exc))
            if verdict is None and final:
                verdict = check.verdict("fail", "undecided when the scenario ended")
            if verdict is not None:
                verdicts[index] = verdict


def unjudged_verdicts(scenario: Scenario, profile: Profile) -> dict[int, Verdict]:
    """A ``skip`` verdict, naming the fields, for each check ``profile`` lacks fields for (by index)."""
    return {i: scenario.checks[i].skip(f"profile {profile.name} does not declare {'; '.join(lacking)}")
            for i, lacking in scenario.unjudged(profile).items()}


def conclude(result: ScenarioResult, checks: list[Check], verdicts: dict[int, Verdict]) -> None:
    """Record every check's verdict (with its parameters) and the scenario's status from them
    (:func:`overall`); a scenario none of whose checks could be judged is ``skip``, every reason in
    ``error``."""
    result.verdicts = [{**verdicts[i].to_dict(), "expected": checks[i].model_dump(exclude={"type"})}
                       for i in range(len(checks))]
    result.status = overall([verdicts[i].status for i in range(len(checks))])
    if result.status == "skip":
        result.error = "no check could be judged: " + "; ".join(f"{verdicts[i].check}: {verdicts[i].message}"
                                                                for i in range(len(checks)))


def remote_skip_reason(scenario: Scenario, profile: Profile) -> str | None:
    """Why ``scenario`` cannot be judged on a remote engine (None: it can, or the engine is this
    machine's): what it needs of the engine's host is only reachable on this one
    (docs/remote-engine.md). Checked before any container is created."""
    where = remote_limit()
    if where is None:
        return None
    for fault in scenario.typed_faults:
        if (what := fault.local_only()) is not None:
            return f"{what}; {where}"
    if scenario.arch not in ("native", native_arch()):
        return (f"the scenario runs the {scenario.arch} image emulated, and QEMU/binfmt_misc is checked and "
                f"switched on this machine only; {where}")
    tcp = [stage for stage, probe in profile.health.probes().items() if probe.tcp]
    if tcp:
        return (f"startle's TCP probes ({', '.join(tcp)}) would go through the engine's published port, where "
                f"Docker's userland proxy accepts every connection (the container's bridge address is not "
                f"routed here); {where}")
    if profile.center.protocol == "tcp" and not profile.signals.declares("attempt"):
        return f"attempts of this agent are seen only on the wire (a tap on this machine's bridge); {where}"
    return None


def wrong_arch(scenario: Scenario, image: str) -> None:
    """Skip a scenario that needs another architecture than the given ``image`` has (a candidate
    image is usually built for one): it cannot be judged with that image, which is not a failure."""
    if scenario.arch in ("native", native_arch()):
        return
    from docker.errors import NotFound
    from harness.engine import shared_client
    try:
        have = shared_client().images.get(image).attrs.get("Architecture")
    except NotFound:
        return  # the world's image check names it
    if have != scenario.arch:
        raise ScenarioSkipped(f"the scenario needs an {scenario.arch} image and the image under test, {image}, "
                              f"is {have} (build one for {scenario.arch}, or test the profile's images)")


def run_scenario(scenario: Scenario, run: Run, profile: Profile | None = None, image: str | None = None,
                 on_phase: PhaseHook | None = None, launcher: Path | None = None,
                 pool: WorldPool | None = None, until_decided: str | None = None) -> ScenarioResult:
    """Run one scenario; never raises for the agent's behaviour (that is a ``fail`` verdict).

    ``image`` overrides the profile's agent image (mutant tests use it); ``launcher`` the host-side
    launcher script used by faults that start the agent through it (a fault with ``launch``);
    ``pool`` lends the worker's pooled world (harness/pool.py; None: a world of its own).
    ``until_decided`` (a check type) ends the observation once that check has its verdict: the
    checks still undecided are skipped, saying so (mutant tests look at that one check only).
    A fault may raise :class:`~harness.skip.ScenarioSkipped`: the result is ``skip`` with the reason.
    A check that cannot be judged (its profile fields missing, or it says so) is skipped alone; the
    result is ``skip`` only when every check is.
    """
    profile = profile or load_profile(scenario.profile)
    result = ScenarioResult(scenario.name, scenario.family, started=time.time(), profile=profile.name,
                            deadline_s=scenario.deadline_s,
                            policy=profile.retry_policy.model_dump() if profile.retry_policy else {},
                            signals=profile.signals.model_dump(), profile_spec=profile.model_dump(mode="json", by_alias=True))
    marks: list[tuple[str, float]] = []

    def phase(name: str, what: str) -> None:
        if run.cancelled.is_set() and what != "cleanup":
            raise ScenarioCancelled("interrupted before " + what)
        marks.append((what, time.time()))
        if on_phase:
            on_phase(name, what)

    timeline = Timeline(start=result.started)
    run.watch(timeline)
    node_id = f"node-{scenario.name}"[:63]
    world: World | None = None
    collectors: list[Collector] = []
    applied: list[Fault] = []
    starter: Any = None
    try:
        # What the profile must declare, then host requirements (a fault's ``preflight``): a skip
        # costs no container. A check that lacks a field is skipped alone, naming it.
        missing = scenario.missing(profile)
        if missing:
            raise ScenarioSkipped(f"profile {profile.name} does not declare " + "; ".join(missing))
        if (reason := remote_skip_reason(scenario, profile)) is not None:
            raise ScenarioSkipped(reason)
        for fault in scenario.typed_faults:
            if callable(getattr(fault, "preflight", None)):
                fault.preflight()
        if image is not None:
            wrong_arch(scenario, image)
        phase(scenario.name, "infrastructure")
        infra = pool.lease(scenario, profile) if pool is not None else None
        world = World(run, scenario.name, profile, timeline, infrastructure=infra)
        if launcher is not None:
            world.launcher = Path(launcher)
        collectors.append(DockerEvents(timeline, world.world_id, world.execution).start())
        world.start_infrastructure()
        center_log = CenterRequests(timeline, world.center, since=world.center_next_index) \
            if world.center is not None else None
        if center_log is not None:  # the built-in recording center (an own center has no request log)
            collectors.append(center_log.start())

        starter = next((f for f in scenario.typed_faults if callable(getattr(f, "launch", None))), None)
        arch = None if scenario.arch == "native" else scenario.arch
        spec = world.agent_spec(node_id, image=image, arch=arch)
        for fault in scenario.typed_faults:
            fault.on_create(spec)
        world.seal_config(spec)  # before faults due at 0 s: one may start a container with it
        tap = world.wire_tap(spec)
        if tap is not None:
            try:
                collectors.append(tap.start())
            except InfrastructureError as exc:
                if profile.center.protocol == "tcp" and not profile.signals.declares("attempt"):
                    raise ScenarioSkipped(f"attempts of this agent are seen only on the wire, and {exc}") from None
                timeline.record("harness", "collector_error", collector="wire", error=str(exc))
        result.faults = [{"type": f.type, "family": f.family, "description": f.describe(), **f.params()}
                         for f in scenario.typed_faults]

        # Faults due at 0 s are in force before the agent starts.
        for fault in scenario.typed_faults:
            if fault.at_s == 0:
                Action(time.time(), "apply", fault).run(world, timeline)
                applied.append(fault)

        phase(scenario.name, "agent")
        ctx = CheckContext(timeline, profile, node_id)
        if world.center is not None and any(getattr(c, "wants_center_logs", False) for c in scenario.checks):
            center_logs = CenterLogs(timeline, world.center.base_url, node_id, profile.signals)
            timeline.subscribe(center_logs)
            collectors.append(center_logs)
        probes = HealthProbes(timeline, profile.health, world.agent_address, world.agent_docker_container)
        timeline.subscribe(probes)
        if starter is not None:
            # The agent is started by its own launcher: follow every container it creates.
            follower = LaunchedAgentLogs(timeline, world.client, profile.signals)
            timeline.subscribe(follower)
            collectors.append(follower)
            starter.launch(world, spec, node_id)
        else:
            agent = world.start_agent(spec)
            # followed at once: an agent that dies in milliseconds must not wait for what comes next
            collectors.append(AgentLog(timeline, agent.get_wrapped_container(), profile.signals).start())
        started = time.time()
        collectors.append(probes.start())
        result.images = {"agent": spec.image, "agent_id": world.require_image(spec.image)}
        world.record_agent_image(spec.image)
        actions = [a for a in plan_actions(scenario.typed_faults, started)
                   if not (a.kind == "apply" and any(a.fault is f for f in applied))]

        phase(scenario.name, "observe")
        deadline = started + scenario.deadline_s
        checks = scenario.checks
        verdicts = unjudged_verdicts(scenario, profile)
        while True:
            seen = len(timeline)
            now = time.time()
            while actions and actions[0].at <= now:
                action = actions.pop(0)
                action.run(world, timeline)
                (applied.append if action.kind == "apply" else applied.remove)(action.fault)
            if (reason := broken(timeline)) is not None:
                raise InfrastructureError(reason)
            decide(checks, ctx, verdicts, final=False)
            if len(verdicts) == len(checks) and not actions:
                break
            if until_decided is not None and any(checks[i].type == until_decided for i in verdicts):
                for index, check in enumerate(checks):
                    if index not in verdicts:
                        verdicts[index] = check.skip(f"not judged: the run ended once {until_decided} was decided")
                break
            if time.time() >= deadline or run.cancelled.is_set():
                break
            wakes = [deadline] + [a.at for a in actions[:1]]
            wakes += [w for i, c in enumerate(checks) if i not in verdicts and (w := c.wake_at(ctx)) is not None]
            timeline.wait(lambda: len(timeline) > seen or run.cancelled.is_set(), min(wakes))
        if run.cancelled.is_set():
            raise ScenarioCancelled("interrupted while observing")

        phase(scenario.name, "verdict")
        if center_log is not None:
            center_log.drain()
        if (reason := broken(timeline)) is not None:
            raise InfrastructureError(reason)
        decide(checks, ctx, verdicts, final=True)
        conclude(result, checks, verdicts)
        result.agent_started = ctx.agent_started
        if result.status == "skip":
            timeline.record("harness", "skip", reason=result.error)
    except ScenarioCancelled as exc:
        result.status, result.error = "error", str(exc)
    except ScenarioSkipped as exc:
        result.status, result.error = "skip", str(exc)
        timeline.record("harness", "skip", reason=str(exc))
    except InfrastructureError as exc:
        result.status, result.error = "error", str(exc)
    except Exception as exc:  # noqa: BLE001  (any harness crash is an error result, not a lost run)
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}"
    finally:
        phase(scenario.name, "cleanup")
        if starter is not None:
            try:
                starter.stop_launch()
            except Exception:  # noqa: BLE001  (the world is removed next anyway)
                pass
        if world is not None:
            for fault in reversed(applied):
                try:
                    fault.clear(world)
                except Exception:  # noqa: BLE001  (the world is removed next anyway)
                    pass
            try:  # an engine that went away (harness/sentinel.py) has nothing to tell
                # side by side: a crash-looping agent's container answers each read only once its
                # restart in progress is done
                with ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{scenario.name}-state") as reading:
                    state, tail = reading.submit(world.agent_state), reading.submit(world.agent_log_tail, 40)
                    result.agent, result.agent_log_tail = state.result(), tail.result()
            except Exception as exc:  # noqa: BLE001
                result.agent_log_tail = [f"(the agent's state could not be read: {type(exc).__name__})"]
        for collector in collectors:
            collector.stopping.set()  # no more events wanted; streams end when the world goes
        if world is not None:
            world.remove()
            if world.pooled and pool is not None and result.status == "error":
                pool.discard(world.infra)  # after a harness error nothing of it is trusted
        for collector in collectors:
            collector.stop(join_s=2)
        timeline.close()  # a collector still finishing a read adds nothing now
        result.finished = time.time()
        ends = [t for _, t in marks[1:]] + [result.finished]
        result.phases = {what: round(end - t, 3) for (what, t), end in zip(marks, ends)}
        result.timeline = timeline.to_records()
        run.unwatch(timeline)
    return result
