"""Clients the harness uses to script the world: the mock center's admin API and Toxiproxy's API.

Both talk to ports published on the engine's address (127.0.0.1 for this machine's engine).
"""

from __future__ import annotations

import threading
from typing import Any

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
