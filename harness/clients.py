"""Clients the harness uses to script the world: the mock center's admin API and Toxiproxy's API.

Both talk to ports published on the engine's address (127.0.0.1 for this machine's engine).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer


class CenterAdmin:
    """The mock center's admin API (fixtures/center/API.md)."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def healthy(self) -> bool:
        try:
            return self.session.get(self._url("/admin/health"), timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def requests_since(self, index: int, wait_s: float = 2.0, limit: int | None = None) -> tuple[int, list[dict[str, Any]]]:
        """Long poll: records with index ≥ ``index`` (at most ``limit``, else the center's page
        size); returns (next index, records)."""
        params: dict[str, Any] = {"since": index, "wait_s": wait_s}
        if limit is not None:
            params["limit"] = limit
        answer = self.session.get(self._url("/admin/requests"), params=params, timeout=wait_s + self.timeout_s)
        answer.raise_for_status()
        body = answer.json()
        return int(body["next"]), list(body["requests"])

    def request_log(self, since: int = 0, keep: bool = False) -> "RequestLog":
        """The one follower of the request log from record ``since`` on (see :class:`RequestLog`)."""
        return RequestLog(self, since, keep)

    def behaviour(self, **changes: Any) -> dict[str, Any]:
        """Script the center (fail_next, status, retry_after_s, delay_ms, down, ...)."""
        answer = self.session.post(self._url("/admin/behaviour"), json=changes, timeout=self.timeout_s)
        answer.raise_for_status()
        return answer.json()

    def set_routes(self, routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Declare the agent's routes (API.md, "Declared routes"), replacing the earlier ones;
        returns them as the center holds them. A malformed list: ValueError with the center's reason."""
        answer = self.session.post(self._url("/admin/routes"), json=routes, timeout=self.timeout_s)
        if answer.status_code == 400:
            raise ValueError(f"center refused the routes: {answer.json().get('error')}")
        answer.raise_for_status()
        return list(answer.json()["routes"])

    def reset(self) -> int:
        """Forget nodes, behaviour and records (the declared routes stay); returns the index of the
        next request record."""
        answer = self.session.post(self._url("/admin/reset"), timeout=self.timeout_s)
        answer.raise_for_status()
        return int(answer.json()["next"])

    def nodes(self) -> dict[str, dict[str, Any]]:
        """The registered nodes by node id (``GET /admin/nodes``)."""
        answer = self.session.get(self._url("/admin/nodes"), timeout=self.timeout_s)
        answer.raise_for_status()
        return dict(answer.json()["nodes"])

    def logs(self, node_id: str | None = None) -> list[dict[str, Any]]:
        params = {"node_id": node_id} if node_id else {}
        answer = self.session.get(self._url("/admin/logs"), params=params, timeout=self.timeout_s)
        answer.raise_for_status()
        return list(answer.json()["lines"])


class RequestLog:
    """The center's request log (``GET /admin/requests``) followed from one record index on: what
    scenarios (harness/collectors.py), the storm and its real fleet read it with.

    ``next`` is the index of the next record to read. With ``keep`` every record read stays in
    ``records`` (for :meth:`wait_for`'s condition); else the caller keeps what it needs.
    """

    PAGE = 10_000
    """Records per page when draining (the center caps its pages too)."""

    def __init__(self, admin: CenterAdmin, since: int = 0, keep: bool = False) -> None:
        self.admin, self.next, self.keep = admin, since, keep
        self.records: list[dict[str, Any]] = []

    def read(self, wait_s: float = 0.0, limit: int | None = None) -> list[dict[str, Any]]:
        """The records after the last read; waits up to ``wait_s`` (a long poll: it returns as soon
        as one is recorded) when there is none yet."""
        self.next, new = self.admin.requests_since(self.next, wait_s=wait_s, limit=limit)
        if self.keep:
            self.records.extend(new)
        return new

    def drain(self) -> list[dict[str, Any]]:
        """Every record recorded so far that was not read yet, page by page, without waiting."""
        out: list[dict[str, Any]] = []
        while page := self.read(0.0, limit=self.PAGE):
            out.extend(page)
        return out

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float,
                 poll_s: float = 2.0) -> bool:
        """Long polls (at most ``poll_s`` each) until ``done(records)`` (``keep`` must be set) or
        ``timeout_s`` passed; returns whether it is done."""
        assert self.keep, "wait_for() judges the records kept: RequestLog(keep=True)"
        deadline = time.monotonic() + timeout_s
        while not done(self.records):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.read(min(poll_s, left))
        return True


class ToxiproxyAdmin:
    """Toxiproxy's HTTP API through toxiproxy-python.

    toxiproxy-python keeps the server address in a class attribute; a process-wide lock makes
    each call use this instance's address even when several worlds exist in one process.
    """

    _lock = threading.Lock()

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.server = Toxiproxy()

    def _bind(self) -> None:
        self.server.update_api_consumer(self.host, self.port)

    def version(self) -> str:
        with self._lock:
            self._bind()
            return APIConsumer.get("/version").text.strip()

    def create_proxy(self, name: str, listen: str, upstream: str) -> None:
        """A proxy ``name`` listening on ``listen`` (``0.0.0.0:PORT`` in the container) to ``upstream``."""
        with self._lock:
            self._bind()
            self.server.create(upstream=upstream, name=name, listen=listen, enabled=True)

    def set_enabled(self, name: str, enabled: bool) -> None:
        with self._lock:
            self._bind()
            proxy = self.server.get_proxy(name)
            if proxy is None:
                raise KeyError(f"no Toxiproxy proxy named {name!r}")
            proxy.enable() if enabled else proxy.disable()

    def add_toxic(self, proxy: str, toxic_type: str, name: str, stream: str = "downstream",
                  toxicity: float = 1.0, **attributes: Any) -> None:
        """Add a toxic; attribute units are Toxiproxy's (latency/jitter/timeout in ms, rate in KB/s)."""
        with self._lock:
            self._bind()
            found = self.server.get_proxy(proxy)
            if found is None:
                raise KeyError(f"no Toxiproxy proxy named {proxy!r}")
            found.add_toxic(type=toxic_type, name=name, stream=stream, toxicity=toxicity, attributes=attributes)

    def remove_toxic(self, proxy: str, name: str) -> None:
        with self._lock:
            self._bind()
            found = self.server.get_proxy(proxy)
            if found is not None:
                found.destroy_toxic(name)

    def reset(self, keep: tuple[str, ...] = ()) -> None:
        """Every proxy but ``keep`` deleted; those enabled again and without toxics (Toxiproxy's
        ``POST /reset``)."""
        with self._lock:
            self._bind()
            for name, proxy in self.server.proxies().items():
                if name not in keep:
                    proxy.destroy()
            self.server.reset()

    def state(self) -> dict[str, Any]:
        """Every proxy with its enabled flag and toxics (for the journal)."""
        with self._lock:
            self._bind()
            return APIConsumer.get("/proxies").json()
