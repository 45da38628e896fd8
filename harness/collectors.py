"""Background readers that turn what the world does into timeline events.

* :class:`DockerEvents`   the engine's event stream for this scenario's containers
* :class:`AgentLog`       the agent's stdout/stderr, JSON lines parsed, followed across restarts
* :class:`CenterRequests` the center's request log, by long poll (no polling interval)
* :class:`ReadyProbe`     when the agent claims readiness, the harness asks its endpoint itself

Each runs in a daemon thread and stops on :meth:`stop`; none of them sleeps to synchronise.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

import docker
import requests
from docker.errors import NotFound

from harness.clients import CenterAdmin
from harness.config import LABEL_ROLE, LABEL_RUN, LABEL_SCENARIO
from harness.profile import SignalSpec
from harness.timeline import Event, Timeline


class Collector:
    """A daemon thread that feeds the timeline until stopped."""

    name = "collector"

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._guarded, name=self.name, daemon=True)

    def start(self) -> "Collector":
        self.thread.start()
        return self

    def _guarded(self) -> None:
        try:
            self.run()
        except Exception as exc:  # noqa: BLE001  (a collector must never kill the run silently)
            if not self.stopping.is_set():
                self.timeline.record("harness", "collector_error", collector=self.name, error=repr(exc))

    def run(self) -> None:
        raise NotImplementedError

    def stop(self, join_s: float = 5.0) -> None:
        self.stopping.set()
        self.thread.join(timeout=join_s)


class DockerEvents(Collector):
    """Container events (create, start, die, oom, health_status...) of one scenario."""

    name = "docker-events"

    def __init__(self, timeline: Timeline, client: docker.DockerClient, run_id: str, scenario: str) -> None:
        super().__init__(timeline)
        self.client = client
        self.filters = {"type": "container", "label": [f"{LABEL_RUN}={run_id}", f"{LABEL_SCENARIO}={scenario}"]}
        self.since = time.time() - 1
        self.stream: Any = None

    def run(self) -> None:
        self.stream = self.client.events(decode=True, filters=self.filters, since=self.since)
        for raw in self.stream:
            if self.stopping.is_set():
                return
            if (raw.get("Action") or "").startswith("exec_"):
                continue  # each HEALTHCHECK run is an exec; its outcome arrives as health_status
            self.timeline.add(self.to_event(raw))

    @staticmethod
    def to_event(raw: dict[str, Any]) -> Event:
        attributes = dict(raw.get("Actor", {}).get("Attributes", {}))
        fields: dict[str, Any] = {"id": raw.get("id", "")[:12], "image": attributes.get("image")}
        if "exitCode" in attributes:
            fields["exit_code"] = int(attributes["exitCode"])
        return Event("docker", raw.get("Action") or raw.get("status", "?"),
                     raw.get("timeNano", time.time_ns()) / 1e9, attributes.get(LABEL_ROLE, ""), fields)

    def stop(self, join_s: float = 5.0) -> None:
        self.stopping.set()
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:  # noqa: BLE001
                pass
        self.thread.join(timeout=join_s)


def parse_agent_line(line: str, signals: SignalSpec, received: float) -> Event:
    """A JSON log line becomes an event named by its ``event_key``; other lines become ``line``."""
    text = line.rstrip("\r\n")
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and signals.event_key in obj:
            t = obj.get(signals.time_key)
            return Event("agent", str(obj[signals.event_key]),
                         float(t) if isinstance(t, (int, float)) else received, "agent", obj)
    return Event("agent", "line", received, "agent", {"line": text})


class AgentLog(Collector):
    """Follows the agent container's output; after the container stops, waits for its restart."""

    name = "agent-log"

    def __init__(self, timeline: Timeline, container: Any, signals: SignalSpec) -> None:
        super().__init__(timeline)
        self.container = container
        self.signals = signals

    def run(self) -> None:
        since: float | None = None
        starts_seen = 0
        while not self.stopping.is_set():
            buffer = ""
            try:
                stream = self.container.logs(stream=True, follow=True, since=since) if since else \
                    self.container.logs(stream=True, follow=True)
                for chunk in stream:
                    buffer += chunk.decode(errors="replace")
                    while "\n" in buffer:
                        line, buffer = buffer.split("\n", 1)
                        if line.strip():
                            self.timeline.add(parse_agent_line(line, self.signals, time.time()))
            except NotFound:
                return
            if buffer.strip():
                self.timeline.add(parse_agent_line(buffer, self.signals, time.time()))
            # The container stopped. Follow again once Docker starts it again (restart policy).
            starts_seen = max(starts_seen, 1)
            restarted = lambda: self.stopping.is_set() or len(self._starts()) > starts_seen  # noqa: E731
            self.timeline.wait(restarted, deadline=float("inf"))
            if self.stopping.is_set():
                return
            starts = self._starts()
            starts_seen = len(starts)
            since = starts[-1].t

    def _starts(self) -> list[Event]:
        return self.timeline.select("docker", "start", lambda e: e.container == "agent")

    def stop(self, join_s: float = 5.0) -> None:
        self.stopping.set()
        self.timeline.wake()
        self.thread.join(timeout=join_s)


class CenterRequests(Collector):
    """The center's request records, by long poll: each arrives as soon as the center records it."""

    name = "center-requests"

    def __init__(self, timeline: Timeline, admin: CenterAdmin, wait_s: float = 1.0) -> None:
        super().__init__(timeline)
        self.admin = admin
        self.wait_s = wait_s
        self.next_index = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.next_index, records = self.admin.requests_since(self.next_index, self.wait_s)
            except requests.RequestException:
                if self.stopping.is_set():
                    return
                raise
            for record in records:
                self.timeline.add(Event("center", "request", float(record["ts"]), "center", record))

    def drain(self) -> None:
        """Fetch whatever the center recorded since the last poll (call before final verdicts)."""
        try:
            self.next_index, records = self.admin.requests_since(self.next_index, 0)
        except requests.RequestException:
            return
        for record in records:
            self.timeline.add(Event("center", "request", float(record["ts"]), "center", record))


class ReadyProbe:
    """When the agent logs the readiness stage, GET its ready endpoint and record the answer.

    Subscribed to the timeline; runs in the thread that added the event (the log reader).
    """

    def __init__(self, timeline: Timeline, signals: SignalSpec, url: Callable[[], str | None],
                 ready_stage: str = "ready") -> None:
        self.timeline, self.signals, self.url, self.ready_stage = timeline, signals, url, ready_stage

    def __call__(self, event: Event) -> None:
        if event.source != "agent" or event.kind != self.signals.stage_event:
            return
        if event.get(self.signals.stage_field) != self.ready_stage:
            return
        self.probe(reason="agent claimed readiness")

    def probe(self, reason: str) -> Event | None:
        url = self.url()
        if url is None:
            return None
        try:
            status: int | None = requests.get(url, timeout=2).status_code
            error = None
        except requests.RequestException as exc:
            status, error = None, type(exc).__name__
        return self.timeline.record("probe", "ready", "agent", status=status, error=error, url=url, reason=reason)
