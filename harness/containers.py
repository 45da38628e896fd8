"""One container class per service, in the style of testcontainers (which they extend).

Every container is created on the scenario's network with its role as network alias, carries
startle's labels, and publishes its ports on the engine's address only (127.0.0.1 for this
machine's engine; :func:`harness.engine.publish_address`). Ryuk (testcontainers' reaper) is off:
nothing can be pulled here, and startle reaps by its own labels (``reap`` in harness/runtime.py).
testcontainers' containers and networks use startle's client factory (harness/engine.py), so a
TLS engine is verified against its own CA (docs/remote-engine.md).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import testcontainers.core.container
import testcontainers.core.network
from testcontainers.core.config import ConnectionMode, testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient as TestcontainersClient
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import HttpWaitStrategy

from pathlib import Path

from harness.clients import CenterAdmin, ToxiproxyAdmin
from harness.config import LABEL_ROLE, LABEL_RUN, LABEL_WORLD
from harness.engine import client_from_env, points_elsewhere, publish_address


class EngineClient(TestcontainersClient):
    """testcontainers' client wrapper around a client of :func:`harness.engine.client_from_env`
    (its own ``docker.from_env()`` lets ``REQUESTS_CA_BUNDLE`` replace a TLS engine's CA)."""

    def __init__(self, **kwargs) -> None:  # noqa: D107  (kwargs: testcontainers' docker_client_kw, unused)
        self.client = client_from_env()


testcontainers.core.container.DockerClient = EngineClient  # type: ignore[misc]
testcontainers.core.network.DockerClient = EngineClient  # type: ignore[misc]
testcontainers_config.ryuk_disabled = True
# Reach published ports at the engine's address even when this process itself runs inside a
# container (testcontainers would otherwise guess the bridge gateway, where nothing is published);
# set again by each container for the engine of the moment (StartleContainer.__init__).
testcontainers_config.tc_host_override = "127.0.0.1"
testcontainers_config.connection_mode_override = ConnectionMode.docker_host

CENTER_PORT = 8080
TOXIPROXY_API_PORT = 8474
CENTER_PROXY_PORT = 18080
"""Port on which Toxiproxy listens for the agent, in front of the center."""


READY_POLL_S = 0.05
"""Seconds between two asks of a starting service's ready endpoint (testcontainers' default is
1 s, most of a world's build when the service answers after 0.3 s)."""


class StartleNetwork(Network):
    """A user-defined bridge network carrying startle's labels."""

    def __init__(self, name: str, labels: dict[str, str]) -> None:
        super().__init__(docker_network_kw={"labels": labels, "driver": "bridge"})
        self.name = name


class StartleContainer(DockerContainer):
    """A labelled container on a scenario network, reachable there as its ``role``."""

    role = "container"

    def __init__(self, image: str, name: str, labels: dict[str, str], network: Network | None) -> None:
        super().__init__(image)
        self.address = publish_address()
        """Where its published ports listen and are dialled (the engine's address)."""
        testcontainers_config.tc_host_override = self.address  # its wait strategies dial there
        self.with_name(name).with_kwargs(labels={**labels, "startle.role": self.role})
        if network is not None:
            self.with_network(network).with_network_aliases(self.role)

    def publish(self, container_port: int) -> "StartleContainer":
        """Publish ``container_port`` on a free port of the engine's address (never on every interface)."""
        self.ports[f"{container_port}/tcp"] = (self.address, None)  # type: ignore[assignment]
        return self

    def host_port(self, container_port: int) -> int:
        """The port of :attr:`address` that ``container_port`` is published on."""
        self.get_wrapped_container().reload()
        bindings = self.get_wrapped_container().attrs["NetworkSettings"]["Ports"][f"{container_port}/tcp"]
        return int(bindings[0]["HostPort"])

    def own_address(self) -> str | None:
        """The container's address on its network (None while it has none, or once it is gone)."""
        from docker.errors import NotFound
        try:
            container = self.get_wrapped_container()
            container.reload()
            networks = container.attrs["NetworkSettings"]["Networks"]
        except (NotFound, KeyError):
            return None
        return next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), None)

    def reachable_at(self, container_port: int) -> tuple[str, int] | None:
        """Where startle reaches ``container_port`` from this host, None if nowhere yet.

        This machine's engine: the container's own address — not the port published on
        127.0.0.1, where Docker's userland proxy accepts a connection even when nothing listens
        in the container (a TCP probe there always says yes). A remote engine's bridge is not
        routed here: the port published at the engine's address.
        """
        from docker.errors import NotFound
        if points_elsewhere():
            try:
                return self.address, self.host_port(container_port)
            except (NotFound, KeyError, IndexError, TypeError):
                return None
        address = self.own_address()
        return (address, container_port) if address else None

    def short_logs(self, lines: int = 30) -> str:
        try:
            return self.get_wrapped_container().logs(tail=lines).decode(errors="replace")
        except Exception:  # noqa: BLE001  (diagnostics only)
            return "(no logs)"


class CenterContainer(StartleContainer):
    """The mock center (fixtures/center/), ready when its admin health answers 200."""

    role = "center"

    def __init__(self, image: str, name: str, labels: dict[str, str], network: Network,
                 region: str = "eu-central-1", startup_timeout_s: float = 30) -> None:
        super().__init__(image, name, labels, network)
        self.with_env("CENTER_PORT", str(CENTER_PORT)).with_env("CENTER_REGION", region)
        self.publish(CENTER_PORT)
        self.waiting_for(HttpWaitStrategy(CENTER_PORT, "/admin/health").for_status_code(200)
                         .with_startup_timeout(int(startup_timeout_s)).with_poll_interval(READY_POLL_S))

    def admin(self) -> CenterAdmin:
        return CenterAdmin(f"http://{self.address}:{self.host_port(CENTER_PORT)}")


class OwnCenterContainer(StartleContainer):
    """A center image of the agent's own (profile ``center.image``: an MQTT broker, a gRPC server),
    ready when its declared probe says yes; startle has no admin API into it."""

    role = "center"

    def __init__(self, own: Any, name: str, labels: dict[str, str], network: Network) -> None:
        super().__init__(own.image, name, labels, network)
        self.own = own
        for key, value in own.env.items():
            self.with_env(key, value)
        if own.command:
            self.with_command(own.command)
        if own.ready.port is not None:
            self.publish(own.ready.port)

    def wait_ready(self, timeout_s: float, pace_s: float = 0.1) -> None:
        """Ask the declared ready probe until yes; a TimeoutError saying what it last answered."""
        from harness.probes import ask
        deadline = time.time() + timeout_s
        answer: tuple[bool | None, str] = (None, "never asked")
        while time.time() < deadline:
            answer = ask(self.own.ready, self.reachable_at, self.get_wrapped_container)
            if answer[0]:
                return
            threading.Event().wait(pace_s)  # the probe's pace (a readiness wait with a deadline)
        raise TimeoutError(f"the center's ready probe ({self.own.ready.describe()}) last said {answer[1]} "
                           f"after {timeout_s:.0f} s")


class ToxiproxyContainer(StartleContainer):
    """The real Toxiproxy server (built from its Go module), ready when its API answers."""

    role = "toxiproxy"

    def __init__(self, image: str, name: str, labels: dict[str, str], network: Network,
                 startup_timeout_s: float = 30) -> None:
        super().__init__(image, name, labels, network)
        self.publish(TOXIPROXY_API_PORT)
        # the proxy in front of the center, published too: an agent in host network mode
        # reaches the center through it (scenarios/network-host.yaml)
        self.publish(CENTER_PROXY_PORT)
        self.waiting_for(HttpWaitStrategy(TOXIPROXY_API_PORT, "/version").for_status_code(200)
                         .with_startup_timeout(int(startup_timeout_s)).with_poll_interval(READY_POLL_S))

    def admin(self) -> ToxiproxyAdmin:
        return ToxiproxyAdmin(self.address, self.host_port(TOXIPROXY_API_PORT))


PLACEHOLDER = re.compile(r"\{(ip|hostport):([a-z0-9-]+)(?::(\d+))?\}")
"""Late-bound values in the agent's env, filled when the agent container is created (the peers
exist by then): ``{ip:ROLE}`` the peer's address on the scenario network, ``{hostport:ROLE:PORT}``
the engine-address port its container port PORT is published on. Faults use them in ``on_create``."""


@dataclass
class ConfigCopy:
    """The agent's config folder rendered for one scenario: ``folder`` on this host, mounted at
    ``mount``; ``file`` the main file in it (None: not declared), ``format`` json/yaml/toml/ini.
    ``source`` is its key in :attr:`AgentSpec.volumes`: the folder itself (a bind mount), or on a
    remote engine the volume it is copied into (harness/configvolume.py)."""

    folder: Path
    mount: str
    file: str | None
    format: str | None
    keys: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        self.source = self.source or str(self.folder)

    @property
    def main(self) -> Path | None:
        return None if self.file is None else self.folder / self.file


@dataclass
class AgentSpec:
    """How the agent container is created: the profile's run spec, which faults may change.

    Units: ``cpus`` in cores, ``memory_mb``/``memswap_mb`` in MiB. ``network_mode``: None means the
    scenario network; ``"none"``/``"host"``/``"bridge"`` Docker's modes (``bridge``: its default
    network, peers named by ``extra_hosts``); ``"isolated"`` a network of its own (labelled like
    the rest, removed with it) that only ``isolated_peers`` (roles) also join.
    Env values may hold :data:`PLACEHOLDER` s. ``privileged`` is never set: :meth:`docker_kwargs`
    refuses it.
    """

    image: str
    env: dict[str, str]
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    restart: str = "unless-stopped"
    restart_max: int = 0
    """``on-failure`` only: restarts before the engine leaves it down (0: no bound)."""
    cpus: float | None = 1.0
    memory_mb: int | None = 512
    memswap_mb: int | None = None
    pids_limit: int | None = None
    user: str | None = None
    cap_drop: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    network_mode: str | None = None
    isolated_peers: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    tmpfs: dict[str, str] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)
    """Container ports startle probes (in bridge modes on a remote engine, published on its address;
    here dialled at the container's own address)."""
    host_ports: dict[int, int] = field(default_factory=dict)
    """Host network mode: container port → the port the agent was told to use instead."""
    publish_health: bool = True
    command: list[str] | None = None
    config: "ConfigCopy | None" = None
    """The scenario's rendered config copy (None when the profile has no config)."""
    knobs: dict[str, str] = field(default_factory=dict)
    """startle's lever name → the env variable the agent reads for it (the profile's ``knobs``)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def set_knob(self, knob: str, value: str) -> None:
        """Set the env variable the profile declares for ``knob`` (faults check ``needs`` first)."""
        self.env[self.knobs[knob]] = value

    @property
    def docker_network_mode(self) -> str | None:
        """The ``network_mode`` Docker is given (None: attached to a network by name)."""
        return self.network_mode if self.network_mode in ("none", "host", "bridge") else None

    scratch_dir: "Path | None" = None
    """The scenario's temp folder, for files faults create (device nodes, sockets)."""

    def docker_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``docker.containers.create`` (what ``docker run`` flags become)."""
        if self.extra.get("privileged"):
            raise ValueError("startle never runs the agent --privileged (seed 2.1/3.3): map the device "
                             "and add the one capability or group it needs instead")
        kwargs: dict[str, Any] = {
            "restart_policy": ({"Name": self.restart, **({"MaximumRetryCount": self.restart_max} if self.restart_max else {})}
                               if self.restart and self.restart != "no" else None),
            "user": self.user,
            "cap_drop": self.cap_drop or None,
            "cap_add": self.cap_add or None,
            "security_opt": self.security_opt or None,
            "devices": self.devices or None,
            "group_add": self.group_add or None,
            "pids_limit": self.pids_limit,
            "dns": self.dns or None,
            "dns_opt": self.dns_options or None,
            "tmpfs": self.tmpfs or None,
        }
        if self.cpus:
            kwargs["nano_cpus"] = int(self.cpus * 1e9)
        if self.memory_mb:
            kwargs["mem_limit"] = f"{self.memory_mb}m"
            if self.memswap_mb:
                kwargs["memswap_limit"] = f"{self.memswap_mb}m"
        if self.docker_network_mode:
            kwargs["network_mode"] = self.docker_network_mode
            kwargs["network"] = None  # testcontainers would add its own guess of a network otherwise
        kwargs.update(self.extra)
        kwargs["privileged"] = False
        return {k: v for k, v in kwargs.items() if v is not None or k == "network"}




class AgentContainer(StartleContainer):
    """The agent under test, created from an :class:`AgentSpec`."""

    role = "agent"

    def __init__(self, spec: AgentSpec, name: str, labels: dict[str, str], network: Network) -> None:
        attach: Network | None = network
        if spec.network_mode is not None:
            attach = None
        if spec.network_mode == "isolated":
            attach = self._isolated_network(network, labels, spec.isolated_peers)
        super().__init__(spec.image, name, labels, attach)
        self.spec = spec
        for key, value in spec.env.items():
            self.with_env(key, self._fill(value, network, labels))
        for source, bind in spec.volumes.items():  # a host path (bind mount) or a volume's name
            self.with_volume_mapping(source, bind["bind"], bind.get("mode", "ro"))
        # Published only where startle dials them (a remote engine's bridge is not routed here); on
        # this machine's engine the probes dial the container's own address, and each published
        # port costs every start — a crash-looping agent's too — a docker-proxy process and NAT rules.
        if spec.publish_health and spec.docker_network_mode is None and points_elsewhere():
            for port in spec.ports:
                self.publish(port)
        if spec.command:
            self.with_command(spec.command)
        self.with_kwargs(**self._kwargs, **spec.docker_kwargs())

    # --- helpers ----------------------------------------------------------------------------
    def _peer(self, role: str, labels: dict[str, str]):
        from harness.engine import shared_client
        client = shared_client()
        # the run and the world, not the scenario: a pooled world's peers carry the pool's name
        filters = {"label": [f"{k}={v}" for k, v in labels.items() if k in (LABEL_RUN, LABEL_WORLD)]
                   + [f"{LABEL_ROLE}={role}"]}
        found = client.containers.list(filters=filters)
        if not found:
            raise LookupError(f"no running {role} container of this scenario")
        found[0].reload()
        return found[0]

    def _fill(self, value: str, network: Network, labels: dict[str, str]) -> str:
        def one(match: re.Match) -> str:
            kind, role, port = match.group(1), match.group(2), match.group(3)
            attrs = self._peer(role, labels).attrs["NetworkSettings"]
            if kind == "ip":
                return attrs["Networks"][network.name]["IPAddress"]
            return attrs["Ports"][f"{port}/tcp"][0]["HostPort"]
        return PLACEHOLDER.sub(one, value)

    def _isolated_network(self, network: Network, labels: dict[str, str], peers: list[str]) -> Network:
        """A bridge network of the agent's own (the scenario's labels: removed with the scenario,
        its peers' legs in it too, also on a pooled world whose peers stay).

        Its name is the world network's and a suffix, which sorts after it: Docker gives a
        container on several networks its gateway (and its published ports) through the first by
        name, and leaving that network drops its published ports — a pooled Toxiproxy's API would
        be gone for the next scenario."""
        iso = StartleNetwork(f"{network.name}-iso-{secrets.token_hex(3)}", labels).create()
        for role in peers:
            iso._network.connect(self._peer(role, labels), aliases=[role])
        return iso
