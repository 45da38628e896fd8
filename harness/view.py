"""The one profile-aware view of a timeline: where attempts, registrations, health stages,
backoffs and fault windows come from, for any agent.

Checks (as :class:`harness.checks.CheckContext`, a :class:`View`), tables, plots, ``compare`` and
the storm read the timeline through this module only; no other module names an agent's event.

Attempts (registration / connection attempts toward the center) come from the best source there
is, and every figure says which (:attr:`Attempts.source`):

* ``agent``        the agent's own ``attempt`` signal (with ``attempt_result`` / ``registered``),
                   when the profile declares it: sees every attempt, also during an outage;
* ``center+wire``  HTTP: the center's requests on the declared ``register`` route (with their
                   status), plus the TCP connections seen on the wire that never reached the
                   center (refused, reset, timed out): an outage is seen too;
* ``wire``         any protocol: every TCP connection toward the center (answered = success).

Health stages are judged by startle's own probes (``probe``/``stage`` events) of what the profile
declares, never by the agent's claim.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Literal

from harness.profile import Profile
from harness.timeline import Event, Timeline

Source = Literal["agent", "center", "center+wire", "wire"]
PREFERENCE: tuple[Source, ...] = ("agent", "center+wire", "wire")
"""Default order in which attempt sources are tried."""

UNANSWERED = ("refused", "reset", "closed", "abandoned", "timed_out")
"""Wire outcomes of a connection that carried no answer from the center."""


def accepted(status: int | None) -> bool:
    """Whether an HTTP answer means the attempt succeeded: any 2xx (a 204 of a write route too)."""
    return status is not None and 200 <= status < 300


@dataclass(frozen=True)
class Route:
    """A declared ``METHOD /path`` route of the center (``method`` ``*``: any method)."""

    method: str
    path: str

    @classmethod
    def parse(cls, declared: str | None) -> "Route | None":
        if declared is None:
            return None
        method, path = declared.split(" ", 1)
        return cls(method, path)

    def matches(self, method: str | None, path: str | None) -> bool:
        """Whether a request record (its method may be unknown: None) is on this route."""
        return path == self.path and (self.method == "*" or method in (None, self.method))

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Attempt:
    """One attempt: Unix time ``t``, its number (when the agent logs it), HTTP ``status`` (None when
    there was none), ``outcome`` (``ok``, ``failed``, ``refused``/``reset``/``timed_out``/``closed``,
    ``unknown``) and the event it was read from."""

    t: float
    number: int | None
    status: int | None
    outcome: str
    event: Event | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass
class Attempts:
    """Attempts in time order, with the source they were read from."""

    source: Source | None
    items: list[Attempt] = field(default_factory=list)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def times(self) -> list[float]:
        return [a.t for a in self.items]

    def successes(self) -> list[Attempt]:
        return [a for a in self.items if a.ok]

    def describe(self) -> str:
        return describe_source(self.source)


@dataclass(frozen=True)
class FaultWindow:
    """When a fault was in force: Unix seconds; ``end`` is None while it still is."""

    fault: str
    start: float
    end: float | None
    lifted_from: float | None = None
    """When the harness asked to lift it: certainly in force until then (``end``: certainly lifted)."""
    applied_from: float | None = None
    """When the harness asked to apply it: certainly not in force before (``start``: certainly in force)."""


class View:
    """A timeline read through a profile. ``clock`` is injectable so verdicts can be replayed."""

    def __init__(self, timeline: Timeline, profile: Profile, node_id: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.timeline, self.profile, self.node_id, self.clock = timeline, profile, node_id, clock

    @classmethod
    def of_journal(cls, records: list[dict[str, Any]], profile_spec: dict[str, Any],
                   profile_name: str = "") -> "View":
        """A recorded scenario (its timeline records and the journal's ``profile_spec``) as a view.
        A journal written before profiles were recorded whole gets the profile of that name when it
        still exists, else an empty one (figures that need a declaration are then missing)."""
        return cls(Timeline.from_records(records), recorded_profile(profile_spec, profile_name))

    # --- the container -----------------------------------------------------------------------
    @property
    def agent_started(self) -> float | None:
        """Unix time the agent container first started: Docker's ``start`` event, or the agent's
        first log line when that is earlier (the engine emits the event after the process runs, and
        a fast agent logs before it: measured up to 10 ms)."""
        event = self.timeline.first("docker", "start", lambda e: e.container == "agent")
        if event is None:
            return None
        line = self.timeline.first("agent")
        return min(event.t, line.t) if line is not None else event.t

    def agent_exited(self) -> Event | None:
        """The agent container's first ``die`` event, if any."""
        return self.timeline.first("docker", "die", lambda e: e.container == "agent")

    @staticmethod
    def learned_at(event: Event) -> float:
        """When startle learned of a Docker event (its time plus ``lag_s``): a grace for what follows
        it (the agent's last log lines) counts from here, not from an engine that reported late."""
        return event.t + float(event.get("lag_s") or 0)

    def agent_starts(self) -> list[Event]:
        return self.timeline.select("docker", "start", lambda e: e.container == "agent")

    # --- faults ------------------------------------------------------------------------------
    def fault_windows(self) -> list[FaultWindow]:
        windows: list[FaultWindow] = []
        for event in self.timeline.select("fault"):
            if event.kind == "applied":
                windows.append(FaultWindow(event.get("fault"), event.t, None,
                                           applied_from=min(event.get("requested") or event.t, event.t)))
            elif event.kind == "cleared":
                for i, w in enumerate(windows):
                    if w.fault == event.get("fault") and w.end is None:
                        windows[i] = replace(w, end=event.t, lifted_from=event.get("requested") or event.t)
                        break
        return windows

    def last_lifted(self) -> float | None:
        """When the harness asked to lift the last fault (Unix s; what recovery is measured from),
        None while a fault is still in force or there was none."""
        windows = self.fault_windows()
        return max(w.lifted_from for w in windows) if windows and all(w.end is not None for w in windows) else None

    # --- the agent's log signals -------------------------------------------------------------
    def declares(self, signal: str) -> bool:
        return self.profile.signals.declares(signal)

    def signal(self, name: str) -> list[Event]:
        """The agent's log events of the declared signal ``name``, in time order."""
        return self.timeline.select("agent", name)

    def lines(self) -> list[str]:
        """Every line of the agent's output, as text, in time order."""
        return [str(e.get("line")) for e in self.timeline.select("agent") if e.get("line") is not None]

    def backoffs(self) -> list[tuple[float, float | None]]:
        """(Unix s, announced sleep in s or None) of the agent's ``backoff`` signal."""
        out = []
        for e in self.signal("backoff"):
            try:
                out.append((e.t, float(e.get("sleep_s"))))
            except (TypeError, ValueError):
                out.append((e.t, None))
        return out

    # --- the center --------------------------------------------------------------------------
    def center_requests(self, path: str | None = None, status: int | None = None) -> list[Event]:
        """The center's request records for this node, optionally one path and status."""
        return self.timeline.select(
            "center", "request",
            lambda e: e.get("node_id") in (self.node_id, None)
            and (path is None or e.get("path") == path)
            and (status is None or e.get("status") == status))

    def register_requests(self) -> list[Event]:
        """The center's records of the declared ``register`` route (empty when none is declared)."""
        return self._route_requests(self.profile.center.register)

    def _route_requests(self, declared: str | None) -> list[Event]:
        route = Route.parse(declared)
        if route is None:
            return []
        return [e for e in self.center_requests(route.path) if route.matches(e.get("method"), route.path)]

    def heartbeat_requests(self) -> list[Event]:
        """The center's records of the declared ``heartbeat`` route."""
        return self._route_requests(self.profile.center.heartbeat)

    def metadata_requests(self) -> list[Event]:
        """The center's records of the declared ``metadata`` route (the seed's instance metadata)."""
        route = self.profile.center.metadata
        return [] if route is None else [e for e in self.timeline.select("center", "request")
                                         if e.get("path") == route.split(" ", 1)[1]]

    def wire(self) -> list[Event]:
        """Every TCP connection toward the center seen on the wire since the agent started, by time
        of its first SYN (harness/wire.py)."""
        start = self.agent_started
        return self.timeline.select("wire", "connect", lambda e: start is None or e.t >= start)

    # --- attempts ----------------------------------------------------------------------------
    def sources(self) -> list[Source]:
        """The attempt sources this profile gives, best first (:func:`attempt_sources`)."""
        return attempt_sources(self.profile)

    def attempts(self, prefer: Source | None = None, fallback_when_empty: bool = False) -> Attempts:
        """Attempts from ``prefer`` when this profile has it, else from the best source it has.

        The source is chosen from the profile alone, so a verdict never changes source halfway
        through a run; ``fallback_when_empty`` (reports of finished runs) moves on to the next
        source when the chosen one saw nothing."""
        available = self.sources()
        if prefer == "center" and "center+wire" in available:
            found = Attempts("center", self._center_attempts())
            if found.items or not fallback_when_empty:
                return found
        order = ([prefer] if prefer in available else []) + [s for s in PREFERENCE if s in available and s != prefer]
        tried = (self._from(source) for source in order)
        first = next(tried, Attempts(None))
        if first.items or not fallback_when_empty:
            return first
        return next((found for found in tried if found.items), first)

    def _from(self, source: Source) -> Attempts:
        if source == "agent":
            return Attempts("agent", self._agent_attempts())
        if source == "center+wire":
            return Attempts("center+wire", self._merge(self._center_attempts(), self._wire_attempts(unanswered=True)))
        return Attempts("wire", self._wire_attempts(unanswered=False))

    def _agent_attempts(self) -> list[Attempt]:
        results: dict[Any, Event] = {}
        for e in self.signal("attempt_result"):
            results.setdefault(e.get("attempt"), e)
        registered = self.signal("registered")
        items = []
        starts = self.signal("attempt")
        for i, e in enumerate(starts):
            number = _int(e.get("attempt"))
            result = results.get(e.get("attempt")) if number is not None else None
            until = starts[i + 1].t if i + 1 < len(starts) else float("inf")
            status = _int(result.get("status")) if result is not None else None
            won = any(e.t <= r.t < until and (number is None or _int(r.get("attempt")) in (None, number))
                      for r in registered)
            outcome = "ok" if won or accepted(status) else \
                "failed" if result is not None or until != float("inf") else "unknown"
            items.append(Attempt(e.t, number, status, outcome, e))
        return items

    def _center_attempts(self) -> list[Attempt]:
        return [Attempt(e.t, _int(e.get("attempt")), _int(e.get("status")),
                        "ok" if accepted(_int(e.get("status"))) else "failed", e)
                for e in self.register_requests()]

    def _wire_attempts(self, unanswered: bool) -> list[Attempt]:
        items = []
        for e in self.wire():
            outcome = str(e.get("outcome"))
            if unanswered and outcome not in UNANSWERED:
                continue
            items.append(Attempt(e.t, None, None, "ok" if outcome == "answered" else outcome, e))
        return items

    @staticmethod
    def _merge(*lists: Iterable[Attempt]) -> list[Attempt]:
        return sorted((a for items in lists for a in items), key=lambda a: a.t)

    def registrations(self, prefer: Source | None = "center") -> Attempts:
        """The successful attempts (registered / answered). By default the center's word first (it
        is the center that accepts a registration), then the agent's, then the wire's."""
        found = self.attempts(prefer)
        if found.source == "agent" and not found.successes() and self.signal("registered"):
            return Attempts("agent", [Attempt(e.t, _int(e.get("attempt")), None, "ok", e)
                                      for e in self.signal("registered")])
        return Attempts(found.source, found.successes())

    # --- health ------------------------------------------------------------------------------
    def probes(self, stage: str) -> list[Event]:
        """startle's probe answers for ``stage`` (each change of answer), in time order."""
        return self.timeline.select("probe", "stage", lambda e: e.get("stage") == stage)

    def stage_ok(self, stage: str, after: float | None = None) -> Event | None:
        """The first probe that found ``stage`` true (after ``after``, Unix s)."""
        return next((e for e in self.probes(stage) if e.get("ok") and (after is None or e.t >= after)), None)

    def probe_resolution(self, stage: str) -> float:
        """Seconds between two asks of ``stage``'s probe (harness/probes.py): a stage time shorter
        than a few of these says "within the first rounds", not how long it took."""
        from harness.probes import EXEC_MIN_INTERVAL_S
        probe = getattr(self.profile.health, stage, None)
        interval = self.profile.health.interval_s
        return max(interval, EXEC_MIN_INTERVAL_S) if probe is not None and probe.exec else interval

    def stage_claim(self, stage: str, after: float | None = None) -> Event | None:
        """The agent's own first claim of ``stage`` (its log signal), for information only."""
        return next((e for e in self.signal(stage) if after is None or e.t >= after), None)

    def judged_stages(self) -> list[str]:
        """The stages the profile lets startle probe, in order."""
        return list(self.profile.health.probes())

    def image_has_healthcheck(self) -> bool:
        """Whether the agent's image declares a Docker HEALTHCHECK (recorded at the agent's start)."""
        event = self.timeline.first("harness", "agent_image")
        return bool(event and event.get("healthcheck"))

    def docker_healthy(self) -> Event | None:
        return self.timeline.first("docker", "health_status: healthy", lambda e: e.container == "agent")


def attempt_sources(profile: Profile) -> list[Source]:
    """The attempt sources ``profile`` gives, best first; empty: attempts cannot be judged."""
    found: list[Source] = []
    if profile.signals.declares("attempt"):
        found.append("agent")
    if profile.center.protocol == "http" and profile.center.register_path is not None:
        found.append("center+wire")
    if profile.center.protocol == "tcp":
        found.append("wire")  # for HTTP an answered connection is no success: the center's log says
    return found


NO_ATTEMPT_SOURCE = ("signals.match.attempt or center.register (no source of attempts: an HTTP agent's "
                     "connections on the wire cannot be told apart)")
"""What a profile with no :func:`attempt_sources` lacks, as a check's skip names it."""


def describe_source(source: str | None) -> str:
    """A source of attempts in words (``center+wire`` → the center's request log and ...)."""
    return {"agent": "the agent's attempt log signal", "center": "the center's request log",
            "center+wire": "the center's request log and unanswered connections on the wire",
            "wire": "TCP connections on the wire"}.get(source or "", "no source")


def recorded_profile(spec: dict[str, Any], name: str = "") -> Profile:
    """The profile a journal recorded (see :meth:`View.of_journal`)."""
    if spec:
        try:
            return Profile.model_validate(spec)
        except ValueError:
            pass
    from harness.errors import InputError
    from harness.profile import load_profile
    try:
        return load_profile(name) if name else Profile(name="unknown", images={})
    except InputError:
        return Profile(name=name or "unknown", images={})


def _int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None
