"""The one way startle gets a Docker client: the engine of ``DOCKER_HOST`` (else the local socket),
pinged, with an error that names the fix when none answers.

Two engines can be in play:

- the **target engine**, where scenarios run: ``DOCKER_HOST`` with ``DOCKER_TLS_VERIFY`` and
  ``DOCKER_CERT_PATH`` read the way the Docker CLI and SDK read them (``docker.from_env``), else
  :data:`LOCAL_ENGINE`;
- the **build engine**, this machine's own (:data:`LOCAL_ENGINE`), where harness/images.py builds.

When ``DOCKER_HOST`` names another engine (:func:`points_elsewhere`: a board over ssh or TCP+TLS,
or a second engine on this machine), images are built on the build engine and streamed to the
target (:func:`harness.images.ship_to_engine`). ``ssh://`` addresses go through this machine's
``ssh`` client (its config, agent and known_hosts apply); the remote end needs the ``docker`` CLI
(``docker system dial-stdio``), as it does for the Docker CLI itself.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

import docker
from docker.constants import MINIMUM_DOCKER_API_VERSION
from docker.errors import DockerException
from docker.tls import TLSConfig
from docker.utils import kwargs_from_env, parse_host
from requests.exceptions import RequestException

from harness.errors import InfrastructureError, InputError

LOCAL_ENGINE = "unix:///var/run/docker.sock"
"""This machine's engine, the one scripts/setup.sh starts and images are built on."""
ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
"""``uname -m`` / engine ``Architecture`` → the architecture names of image tags and profiles."""

_SHARED: list[docker.DockerClient] = []
_LOCK = threading.Lock()


@dataclass(frozen=True)
class EngineAddress:
    """Where an engine listens, parsed from a ``DOCKER_HOST`` value."""

    url: str
    """As given (``tcp://board:2376``, ``ssh://pi@board``, ``unix:///var/run/docker.sock``)."""
    scheme: str
    """``unix``, ``tcp`` or ``ssh``."""
    host: str = ""
    """Name or IP address for tcp and ssh; empty for a unix socket."""
    port: int | None = None
    path: str = ""
    """The socket's path for unix."""
    tls: bool = False
    """TLS on (``DOCKER_TLS_VERIFY`` or ``DOCKER_CERT_PATH`` set; tcp only)."""

    def describe(self) -> str:
        if self.scheme == "tcp":
            return f"{self.url} ({'TLS' if self.tls else 'plain TCP, no TLS'})"
        return self.url

    @property
    def published_host(self) -> str:
        """Where this machine reaches the ports the engine publishes: the engine's host, or
        127.0.0.1 for a unix socket (the engine is on this machine)."""
        return self.host if self.scheme in ("tcp", "ssh") else "127.0.0.1"


def _sdk_params(environ: Mapping[str, str]) -> dict:
    """``base_url`` and ``tls`` exactly as ``docker.from_env`` reads them from ``environ``."""
    return kwargs_from_env(environment=dict(environ)) if environ else {}  # {} would mean os.environ


def engine_address(environ: Mapping[str, str] | None = None) -> EngineAddress:
    """The target engine's address from ``environ`` (default ``os.environ``)."""
    environ = os.environ if environ is None else environ
    url = environ.get("DOCKER_HOST") or LOCAL_ENGINE
    # the SDK's rule (docker.utils.kwargs_from_env), without its check that the files exist
    tls = bool(environ.get("DOCKER_CERT_PATH")) or environ.get("DOCKER_TLS_VERIFY") not in (None, "")
    try:
        normal = urlsplit(parse_host(url, False, tls=tls))
        normal.port  # noqa: B018  (a port that is not a number raises here)
    except (DockerException, ValueError) as exc:
        raise InputError("DOCKER_HOST", "(environment)", f"{url!r} is not an engine address ({exc})",
                         "tcp://HOST:2376 (with DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=DIR), ssh://USER@HOST "
                         "or unix:///PATH (docs/remote-engine.md)") from None
    if normal.scheme == "http+unix":
        return EngineAddress(url, "unix", path=normal.path)
    if normal.scheme == "ssh":
        return EngineAddress(url, "ssh", host=normal.hostname or "", port=normal.port)
    return EngineAddress(url, "tcp", host=normal.hostname or "", port=normal.port, tls=tls)


def points_elsewhere(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the target engine is not the build engine (:data:`LOCAL_ENGINE`). A TCP or ssh
    address always counts as elsewhere, even when it leads back to this machine's engine (shipping
    to it then finds every image already there)."""
    target = engine_address(environ)
    if target.scheme != "unix":
        return True
    local = engine_address({"DOCKER_HOST": LOCAL_ENGINE})
    return os.path.realpath(target.path) != os.path.realpath(local.path)


def client_from_env(timeout_s: int = 60, *, local: bool = False,
                    environ: Mapping[str, str] | None = None) -> docker.DockerClient:
    """A client of the target engine (``local``: of the build engine), not pinged."""
    if local:
        return docker.DockerClient(base_url=LOCAL_ENGINE, timeout=timeout_s)
    environ = os.environ if environ is None else environ
    ssh = engine_address(environ).scheme == "ssh"
    return make_client(timeout=timeout_s, use_ssh_client=ssh, **_sdk_params(environ))


def make_client(**kwargs) -> docker.DockerClient:
    """``docker.DockerClient(**kwargs)``, except that a TLS client verifies the engine against its own
    CA only. requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace the CA a session was
    given (docker/docker-py#2433, psf/requests#5209), and CI machines set them: every TLS call would
    fail verification. Such a client's session ignores the environment (proxy variables too: an
    engine is reached directly); as the SDK reads the engine's API version in its constructor, the
    version is read first by a probe client of the oldest version the SDK speaks."""
    if not isinstance(kwargs.get("tls"), TLSConfig):
        return docker.DockerClient(**kwargs)
    probe = docker.DockerClient(**{**kwargs, "version": MINIMUM_DOCKER_API_VERSION})
    probe.api.trust_env = False
    try:
        version = probe.version(api_version=False)["ApiVersion"]
    except (RequestException, KeyError) as exc:
        raise DockerException(f"Error while fetching server API version: {exc}") from exc
    finally:
        probe.close()
    client = docker.DockerClient(**{**kwargs, "version": version})
    client.api.trust_env = False
    return client


def docker_client(timeout_s: int = 60, *, local: bool = False) -> docker.DockerClient:
    """A new client (API calls time out after ``timeout_s`` s) of the target engine, or with
    ``local`` of the build engine; InfrastructureError when no engine answers."""
    try:
        client = client_from_env(timeout_s, local=local)
        client.ping()
        return client
    except (DockerException, RequestException) as exc:
        address = engine_address({"DOCKER_HOST": LOCAL_ENGINE} if local else None)
        if address.scheme == "unix":
            fix = "run `make setup` (or `startle setup`), or `startle doctor` to see how to start one"
        else:
            fix = ("check DOCKER_HOST and, for TLS, DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, "
                   "key.pem); `startle doctor` shows what answers (docs/remote-engine.md)")
        raise InfrastructureError(f"no Docker engine answers at {address.describe()} ({exc}); {fix}") from None


def shared_client() -> docker.DockerClient:
    """One client per process, for short lookups from any thread (the SDK's session is thread-safe)."""
    with _LOCK:
        if not _SHARED:
            _SHARED.append(docker_client())
        return _SHARED[0]


def docker_arch(machine: str) -> str:
    """``x86_64`` → ``amd64``, ``aarch64`` → ``arm64`` (an unknown name is returned as it is)."""
    return ARCHITECTURES.get(machine, machine)


_ARCH: dict[str, str] = {}


def target_arch() -> str:
    """The target engine's architecture as image tags name it (``amd64``, ``arm64``): its
    ``client.info()["Architecture"]``, not this machine's ``uname`` (a board is often arm64).
    Read once per engine address and process."""
    url = engine_address().url
    with _LOCK:
        known = _ARCH.get(url)
    if known is None:
        known = docker_arch(shared_client().info().get("Architecture", ""))
        with _LOCK:
            _ARCH[url] = known
    return known


def publish_address() -> str:
    """The address ports are published on: the engine's own host as this machine dials it
    (:attr:`EngineAddress.published_host`, resolved to an IP address: Docker publishes on
    addresses, not names). 127.0.0.1 for the local engine; for a second engine on this machine's
    loopback (``tcp://127.0.0.1:PORT``) its userland proxy listens on 127.0.0.1 too."""
    host = engine_address().published_host
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except (socket.gaierror, IndexError):
        raise InfrastructureError(f"the engine's host {host!r} (DOCKER_HOST) does not resolve to an IPv4 "
                                  "address to publish ports on; give DOCKER_HOST an IP address") from None


def remote_limit() -> str | None:
    """None on the build engine (:func:`points_elsewhere` False); else the end of a skip reason
    for what needs the engine on this machine (the reason's start names that, never guessed)."""
    if not points_elsewhere():
        return None
    return f"the engine is not this machine's (DOCKER_HOST={engine_address().url}; docs/remote-engine.md)"


def on_this_host(info: Mapping) -> bool:
    """Whether an engine (its ``client.info()``) runs on this machine: same host name and kernel.
    Only then do bind mounts of this machine's paths and reads of /proc/PID reach its containers."""
    return info.get("Name") == socket.gethostname() and info.get("KernelVersion") == platform.release()
