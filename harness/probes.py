"""startle's own health probes: it asks each stage the profile declares, never trusting a claim.

:class:`HealthProbes` asks every declared stage (``startup``, ``ready``, ``live``) from the agent's
start until the scenario ends — an HTTP GET on the container port's published address, a TCP
connect, a ``docker exec`` command, or Docker's HEALTHCHECK status (from the engine's events, not
polled) — and records a ``probe``/``stage`` event each time a stage's answer changes (the first
answer included): ``{"stage", "ok", "how", "detail", "answered"}`` (``answered``: Unix s the
answer came; the event's time is the round's start).

Rounds: every stage is asked once per round, the last stage first (live, ready, startup), and
each answer is stamped with the round's start. For an agent whose stages come in order, a later
stage's yes therefore implies the earlier ones' yes in the same round: a round whose yeses are not
a prefix of startup → ready → live is a real disorder, not an artefact of sampling. A round starts
every ``health.interval_s`` while some stage is not yet true (exec probes: at least 0.5 s, one
process per ask), else every :data:`KEEP_ASKING_S` (a stage that turns false again is seen). A
probe's own timeout is :data:`TIMEOUT_S`. Each (re)start of the agent container starts a round at
once and every stage's next answer is recorded afresh (a restart between two slow rounds would
otherwise go unseen); a round during which the container restarted records nothing (its answers,
all stamped with its start, would straddle two lives of the container). These are readiness probes with the scenario's deadline, like
testcontainers' wait strategies.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable

import requests

from harness.collectors import Collector
from harness.profile import HealthSpec, Probe
from harness.timeline import Event, Timeline

TIMEOUT_S = 1.0
"""Seconds one HTTP/TCP/exec probe may take before it counts as no."""
KEEP_ASKING_S = 1.0
"""Seconds between asks of a stage that is already true."""
EXEC_MIN_INTERVAL_S = 0.5

Address = Callable[[int], "tuple[str, int] | None"]
"""Container port → (host, port) startle can reach, or None (not reachable, e.g. ``--network none``)."""


def ask(probe: Probe, address: Address, container: Callable[[], Any]) -> tuple[bool | None, str]:
    """(answer, detail) of one probe; None: startle could not ask (unreachable, no container)."""
    if probe.http or probe.tcp:
        target = address(probe.port)  # type: ignore[arg-type]
        if target is None:
            return None, "port not reachable from the harness"
        host, port = target
        if probe.http:
            try:
                status = requests.get(f"http://{host}:{port}{probe.http.path}", timeout=TIMEOUT_S).status_code
            except requests.RequestException as exc:
                return False, type(exc).__name__
            return probe.http.accepts(status), f"HTTP {status}"
        try:
            with socket.create_connection((host, port), timeout=TIMEOUT_S):
                return True, "open"
        except OSError as exc:
            return False, exc.strerror or type(exc).__name__
    if probe.exec:
        target = container()
        if target is None:
            return None, "no container"
        try:
            code, _ = target.exec_run(probe.exec, demux=False)
        except Exception as exc:  # noqa: BLE001  (a stopped container cannot exec: that is a no)
            return False, type(exc).__name__
        return code == 0, f"exit {code}"
    return None, "docker health comes from events"


class HealthProbes(Collector):
    """Asks every declared stage until stopped; records each change of answer."""

    name = "health-probes"

    def __init__(self, timeline: Timeline, health: HealthSpec, address: Address,
                 container: Callable[[], Any]) -> None:
        super().__init__(timeline)
        self.health, self.address, self.container = health, address, container
        self.answers: dict[str, bool | None] = {}
        self.epoch = 0
        """Counts the agent container's (re)starts; a round that sees it change records nothing."""
        self.kick = threading.Event()
        """Set by a (re)start of the agent container, or by stop(): the next round starts at once."""

    def run(self) -> None:
        polled = [(s, p) for s, p in self.health.probes().items() if not p.docker][::-1]  # live first
        while not self.stopping.is_set() and polled:
            round_t, epoch = time.time(), self.epoch
            for stage, probe in polled:
                ok, detail = ask(probe, self.address, self.container)
                if self.epoch != epoch:
                    break  # the container restarted during this round: its answers straddle two lives
                self._note(stage, probe, ok, detail, round_t)
            pace = KEEP_ASKING_S if all(self.answers.get(s) for s, _ in polled) else self.health.interval_s
            if any(p.exec for _, p in polled):
                pace = max(pace, EXEC_MIN_INTERVAL_S)
            wait = round_t + pace - time.time()
            if wait > 0 and not self.kick.wait(wait):  # the probes' pace; a restart or stop() wakes it
                continue
            self.kick.clear()

    def stop(self, join_s: float = 5.0) -> None:
        """Stop without waiting for an ask in flight (a probe of a removed container can take
        :data:`TIMEOUT_S`): its answer is dropped by the closed timeline."""
        self.stopping.set()
        self.kick.set()

    def __call__(self, event: Event) -> None:
        """A (re)start of the agent: a round now, its answers recorded afresh. Docker's HEALTHCHECK
        answers, for stages declared as ``docker: healthy``."""
        if event.source != "docker" or event.container != "agent":
            return
        if event.kind == "start":
            self.epoch += 1
            self.answers = {}
            self.kick.set()
            return
        if not event.kind.startswith("health_status"):
            return
        for stage, probe in self.health.probes().items():
            if probe.docker:
                self._note(stage, probe, event.kind.endswith("healthy") and "unhealthy" not in event.kind,
                           event.kind.split(":", 1)[-1].strip(), event.t)

    def _note(self, stage: str, probe: Probe, ok: bool | None, detail: str, t: float) -> None:
        if stage in self.answers and self.answers[stage] == ok:
            return
        self.answers[stage] = ok
        self.timeline.add(Event("probe", "stage", t, "agent",
                                {"stage": stage, "ok": ok, "how": probe.describe(), "detail": detail,
                                 "answered": round(max(t, time.time()), 6)}))
