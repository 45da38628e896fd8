"""Background readers that turn what the world does into timeline events.

* :class:`DockerEvents`   the engine's event stream for this scenario's containers
* :class:`AgentLog`       the agent's stdout/stderr, JSON lines parsed, followed across restarts
* :class:`CenterRequests` the center's request log, by long poll (no polling interval)

Each runs in a daemon thread and stops on :meth:`stop`; none of them sleeps to synchronise.
"""

from __future__ import annotations

import threading
from datetime import datetime
import time
from typing import Any

import docker
import requests
from docker.errors import APIError, NotFound

from harness.clients import CenterAdmin
from harness.config import LABEL_EXECUTION, LABEL_ROLE, LABEL_WORLD
from harness.engine import docker_client
from harness.profile import SignalSpec
from harness.signals import read_line
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

    def __init__(self, timeline: Timeline, world_id: str, execution: str | None = None) -> None:
        """Events of the containers of world ``world_id``; with ``execution``, of those this
        scenario execution created and of the infrastructure (which carries no execution id), not
        of the containers of earlier scenarios on a pooled world. The stream has a client of its
        own (its connection is held for the whole scenario; the SDK reads events without a read
        timeout), made on the collector's thread: events since its creation are replayed."""
        super().__init__(timeline)
        self.client: docker.DockerClient | None = None
        self.filters = {"type": "container", "label": [f"{LABEL_WORLD}={world_id}"]}
        self.execution = execution
        self.since = time.time() - 1  # nothing of this scenario exists yet: the margin only absorbs clock rounding
        self.stream: Any = None

    def run(self) -> None:
        try:
            self.client = docker_client()
            self.stream = self.client.events(decode=True, filters=self.filters, since=self.since)
            for raw in self.stream:
                if self.stopping.is_set():
                    return
                if (raw.get("Action") or "").startswith("exec_"):
                    continue  # each HEALTHCHECK run is an exec; its outcome arrives as health_status
                owner = raw.get("Actor", {}).get("Attributes", {}).get(LABEL_EXECUTION)
                if self.execution is not None and owner not in (None, self.execution):
                    continue
                self.timeline.add(self.to_event(raw))
            reason = "its event stream ended"
        except Exception as exc:  # noqa: BLE001  (connection reset, socket gone: the engine went away)
            reason = f"its event stream failed: {type(exc).__name__}"
        if not self.stopping.is_set():
            self.timeline.record("harness", "engine_lost", reason=reason)

    @staticmethod
    def to_event(raw: dict[str, Any]) -> Event:
        """The timeline event of one engine event; ``lag_s`` is how late it reached startle."""
        attributes = dict(raw.get("Actor", {}).get("Attributes", {}))
        t = raw.get("timeNano", time.time_ns()) / 1e9
        fields: dict[str, Any] = {"id": raw.get("id", "")[:12], "image": attributes.get("image"),
                                  "lag_s": round(max(0.0, time.time() - t), 3)}
        if "exitCode" in attributes:
            fields["exit_code"] = int(attributes["exitCode"])
        return Event("docker", raw.get("Action") or raw.get("status", "?"), t, attributes.get(LABEL_ROLE, ""), fields)

    def stop(self, join_s: float = 5.0) -> None:
        self.stopping.set()
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:  # noqa: BLE001
                pass
        self.thread.join(timeout=join_s)
        if self.client is not None:
            self.client.close()


def split_docker_timestamp(line: str, received: float) -> tuple[float, str]:
    """``2026-12-01T20:25:51.123456789Z text`` (``docker logs --timestamps``) → (Unix s, text)."""
    stamp, sep, text = line.partition(" ")
    if sep and stamp[:4].isdigit() and "T" in stamp:
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp(), text
        except ValueError:
            pass
    return received, line


class AgentLog(Collector):
    """Follows the agent container's output (each line read through the profile's signal matchers,
    :func:`harness.signals.read_line`); after the container stops, waits for its restart."""

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
                stream = self.container.logs(stream=True, follow=True, timestamps=True, since=since) if since \
                    else self.container.logs(stream=True, follow=True, timestamps=True)
                for chunk in stream:
                    buffer += chunk.decode(errors="replace")
                    while "\n" in buffer:
                        line, buffer = buffer.split("\n", 1)
                        self._add(line)
            except APIError as exc:  # gone, or "removal of container … is already in progress" (409)
                if isinstance(exc, NotFound) or exc.status_code == 409:
                    return
                raise
            self._add(buffer)
            # The container stopped. Follow again once Docker starts it again (restart policy).
            starts_seen = max(starts_seen, 1)
            restarted = lambda: self.stopping.is_set() or len(self._starts()) > starts_seen  # noqa: E731
            self.timeline.wait(restarted, deadline=float("inf"))
            if self.stopping.is_set():
                return
            starts = self._starts()
            starts_seen = len(starts)
            since = starts[-1].t

    def _add(self, raw: str) -> None:
        t, text = split_docker_timestamp(raw, time.time())
        if text.strip():
            for event in read_line(text, self.signals, t):
                self.timeline.add(event)

    def _starts(self) -> list[Event]:
        return self.timeline.select("docker", "start", lambda e: e.container == "agent")

    def stop(self, join_s: float = 5.0) -> None:
        self.stopping.set()
        self.timeline.wake()
        self.thread.join(timeout=join_s)


class CenterRequests(Collector):
    """The center's request records, by long poll (:class:`harness.clients.RequestLog`): each
    arrives as soon as the center records it. ``since``: the first record index to read (a pooled
    center holds older scenarios' records)."""

    name = "center-requests"

    def __init__(self, timeline: Timeline, admin: CenterAdmin, wait_s: float = 1.0, since: int = 0) -> None:
        super().__init__(timeline)
        self.log = admin.request_log(since)
        self.wait_s = wait_s

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                records = self.log.read(self.wait_s)
            except requests.RequestException:
                if self.stopping.is_set():
                    return
                raise
            self._add(records)

    def _add(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.timeline.add(Event("center", "request", float(record["ts"]), "center", record))

    def stop(self, join_s: float = 5.0) -> None:
        """Stop without waiting for the long poll in flight (up to ``wait_s``): its answer is
        dropped by the closed timeline, and the thread ends with it."""
        self.stopping.set()

    def drain(self) -> None:
        """Fetch whatever the center recorded since the last poll (call before final verdicts)."""
        try:
            self._add(self.log.drain())
        except requests.RequestException:
            return


class LaunchedAgentLogs(Collector):
    """The agent's output when a launcher (not the harness) creates its containers.

    Subscribed to the timeline: on each Docker ``start`` of an agent container it has not seen,
    it follows that container's output with an :class:`AgentLog` (which also follows restarts).
    Container ids are recorded as ``container_id`` on nothing: the Docker events carry them.
    """

    name = "launched-agent-logs"

    def __init__(self, timeline: Timeline, client: docker.DockerClient, signals: SignalSpec) -> None:
        super().__init__(timeline)
        self.client = client
        self.signals = signals
        self.followers: dict[str, AgentLog] = {}
        self.lock = threading.Lock()

    def start(self) -> "LaunchedAgentLogs":
        return self  # no thread of its own: it runs in the Docker events thread

    def __call__(self, event: Event) -> None:
        if self.stopping.is_set() or event.source != "docker" or event.kind != "start" or event.container != "agent":
            return
        cid = str(event.get("id") or "")
        with self.lock:
            if not cid or cid in self.followers:
                return
            try:
                container = self.client.containers.get(cid)
            except NotFound:
                return
            self.followers[cid] = AgentLog(self.timeline, container, self.signals).start()

    def stop(self, join_s: float = 5.0) -> None:
        self.stopping.set()
        with self.lock:
            followers = list(self.followers.values())
        for follower in followers:
            follower.stop(join_s=join_s / max(1, len(followers)))


class CenterLogs(Collector):
    """The log lines the center received from this node (``GET /admin/logs``), as events.

    Subscribed to the timeline: each time the agent reports a ``log_export`` that sent lines, the
    center's log is fetched and every line not seen yet becomes a ``center``/``log_line`` event
    (``seq``, ``event`` and ``line_ts`` parsed from the shipped line, time = the center's arrival
    time). Used only when a check asks for it (``wants_center_logs``); one GET per export.
    """

    name = "center-logs"

    def __init__(self, timeline: Timeline, base_url: str, node_id: str, signals: SignalSpec) -> None:
        super().__init__(timeline)
        self.admin, self.node_id, self.signals = CenterAdmin(base_url), node_id, signals
        self.seen = 0
        self.lock = threading.Lock()

    def start(self) -> "CenterLogs":
        return self  # runs in the thread that records the agent's log_export events

    def stop(self, join_s: float = 5.0) -> None:
        self.stopping.set()

    def __call__(self, event: Event) -> None:
        if self.stopping.is_set() or event.source != "agent" or event.kind != "log_export":
            return
        if not event.get("sent"):
            return
        self.fetch()

    def fetch(self) -> None:
        with self.lock:
            try:
                lines = self.admin.logs(self.node_id)
            except (requests.RequestException, ValueError, KeyError):
                return
            for line in lines[self.seen:]:
                fields: dict[str, Any] = {"seq": line.get("seq"), "line_ts": line.get("ts")}
                read = read_line(str(line.get("msg") or ""), self.signals, float("nan"))[0]
                fields["event"] = read.kind  # the signal the shipped line is, or "line"
                fields["msg_ts"] = None if read.t != read.t else read.t  # its own time (NaN: none)
                self.timeline.add(Event("center", "log_line", float(line.get("rx_ts") or time.time()), "center",
                                        fields))
            self.seen = max(self.seen, len(lines))
