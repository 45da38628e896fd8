"""The one way startle gets a Docker client: the engine of ``DOCKER_HOST`` (else the local socket),
pinged, with an error that names the fix when none answers."""

from __future__ import annotations

import threading

import docker
from docker.errors import DockerException

from harness.errors import InfrastructureError

_SHARED: list[docker.DockerClient] = []
_LOCK = threading.Lock()


def docker_client(timeout_s: int = 60) -> docker.DockerClient:
    """A new client (API calls time out after ``timeout_s`` s); InfrastructureError when no engine answers."""
    try:
        client = docker.from_env(timeout=timeout_s)
        client.ping()
        return client
    except DockerException as exc:
        raise InfrastructureError(f"no Docker engine answers ({exc}); run `make setup` (or `startle setup`), "
                                  "or `startle doctor` to see how to start one") from None


def shared_client() -> docker.DockerClient:
    """One client per process, for short lookups from any thread (the SDK's session is thread-safe)."""
    with _LOCK:
        if not _SHARED:
            _SHARED.append(docker_client())
        return _SHARED[0]
