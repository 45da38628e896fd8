"""One container class per service, in the style of testcontainers (which they extend).

Every container is created on the scenario's network with its role as network alias, carries
startle's labels, and publishes its ports on 127.0.0.1 only. Ryuk (testcontainers' reaper) is off:
nothing can be pulled here, and startle reaps by its own labels (``reap`` in harness/runtime.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from testcontainers.core.config import ConnectionMode, testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import HttpWaitStrategy

from harness.clients import CenterAdmin, ToxiproxyAdmin

LOOPBACK = "127.0.0.1"

testcontainers_config.ryuk_disabled = True
# Reach published ports on 127.0.0.1 even when this process itself runs inside a container
# (testcontainers would otherwise guess the bridge gateway, where nothing is published).
testcontainers_config.tc_host_override = LOOPBACK
testcontainers_config.connection_mode_override = ConnectionMode.docker_host

CENTER_PORT = 8080
TOXIPROXY_API_PORT = 8474
CENTER_PROXY_PORT = 18080
"""Port on which Toxiproxy listens for the agent, in front of the center."""


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
        self.with_name(name).with_kwargs(labels={**labels, "startle.role": self.role})
        if network is not None:
            self.with_network(network).with_network_aliases(self.role)

    def publish(self, container_port: int) -> "StartleContainer":
        """Publish ``container_port`` on a free port of 127.0.0.1 (never on every interface)."""
        self.ports[f"{container_port}/tcp"] = (LOOPBACK, None)  # type: ignore[assignment]
        return self

    def host_port(self, container_port: int) -> int:
        """The 127.0.0.1 port that ``container_port`` is published on."""
        self.get_wrapped_container().reload()
        bindings = self.get_wrapped_container().attrs["NetworkSettings"]["Ports"][f"{container_port}/tcp"]
        return int(bindings[0]["HostPort"])

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
                         .with_startup_timeout(int(startup_timeout_s)))

    def admin(self) -> CenterAdmin:
        return CenterAdmin(f"http://{LOOPBACK}:{self.host_port(CENTER_PORT)}")


class ToxiproxyContainer(StartleContainer):
    """The real Toxiproxy server (built from its Go module), ready when its API answers."""

    role = "toxiproxy"

    def __init__(self, image: str, name: str, labels: dict[str, str], network: Network,
                 startup_timeout_s: float = 30) -> None:
        super().__init__(image, name, labels, network)
        self.publish(TOXIPROXY_API_PORT)
        self.waiting_for(HttpWaitStrategy(TOXIPROXY_API_PORT, "/version").for_status_code(200)
                         .with_startup_timeout(int(startup_timeout_s)))

    def admin(self) -> ToxiproxyAdmin:
        return ToxiproxyAdmin(LOOPBACK, self.host_port(TOXIPROXY_API_PORT))


@dataclass
class AgentSpec:
    """How the agent container is created: the profile's run spec, which faults may change.

    Units: ``cpus`` in cores, ``memory_mb`` in MiB. ``network_mode`` None means the scenario network.
    """

    image: str
    env: dict[str, str]
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    restart: str = "unless-stopped"
    cpus: float | None = 1.0
    memory_mb: int | None = 512
    pids_limit: int | None = None
    user: str | None = None
    cap_drop: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    network_mode: str | None = None
    health_port: int = 8081
    publish_health: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def docker_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``docker.containers.create`` (what ``docker run`` flags become)."""
        kwargs: dict[str, Any] = {
            "restart_policy": {"Name": self.restart} if self.restart and self.restart != "no" else None,
            "user": self.user,
            "cap_drop": self.cap_drop or None,
            "cap_add": self.cap_add or None,
            "security_opt": self.security_opt or None,
            "devices": self.devices or None,
            "group_add": self.group_add or None,
            "pids_limit": self.pids_limit,
            "privileged": False,
        }
        if self.cpus:
            kwargs["nano_cpus"] = int(self.cpus * 1e9)
        if self.memory_mb:
            kwargs["mem_limit"] = f"{self.memory_mb}m"
        if self.network_mode:
            kwargs["network_mode"] = self.network_mode
        kwargs.update(self.extra)
        return {k: v for k, v in kwargs.items() if v is not None}


class AgentContainer(StartleContainer):
    """The agent under test, created from an :class:`AgentSpec`."""

    role = "agent"

    def __init__(self, spec: AgentSpec, name: str, labels: dict[str, str], network: Network) -> None:
        on_network = network if spec.network_mode is None else None
        super().__init__(spec.image, name, labels, on_network)
        self.spec = spec
        for key, value in spec.env.items():
            self.with_env(key, value)
        for host_path, bind in spec.volumes.items():
            self.with_volume_mapping(host_path, bind["bind"], bind.get("mode", "ro"))
        if spec.publish_health and spec.network_mode is None:
            self.publish(spec.health_port)
        self.with_kwargs(**self._kwargs, **spec.docker_kwargs())
