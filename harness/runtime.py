"""The run and the container world of one scenario.

``Run``             one invocation of startle (many scenarios): its id, labels and report folder.
``Infrastructure``  a network, center and Toxiproxy: one scenario's, or pooled (harness/pool.py).
``World``           one scenario's agent against an infrastructure; ``remove()`` takes it away.
``reap``   removes what startle created: one run's leftovers, or every stale run's.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import docker
from docker.errors import NotFound

from harness import reaper
from harness.clients import CenterAdmin, ToxiproxyAdmin
from harness.config import (LABEL_EXECUTION, LABEL_HOST, LABEL_MANAGED, LABEL_PID, LABEL_ROLE, LABEL_RUN,
                            LABEL_SCENARIO, LABEL_WORLD, REPORTS_DIR)
from harness.containers import (CENTER_PORT, CENTER_PROXY_PORT, AgentContainer, AgentSpec, CenterContainer,
                                ConfigCopy, OwnCenterContainer, StartleNetwork, ToxiproxyContainer)
from harness.configvolume import ConfigVolume
from harness.engine import docker_client  # noqa: F401  (re-exported: the one client factory)
from harness.engine import points_elsewhere
from harness.errors import InfrastructureError
from harness.profile import Profile
from harness.timeline import Timeline

CENTER_IMAGE = os.environ.get("STARTLE_CENTER_IMAGE", "startle/center:latest")
TOXIPROXY_IMAGE = os.environ.get("STARTLE_TOXIPROXY_IMAGE", "startle/toxiproxy:latest")


ADDRESS_TTL_S = 1.0
"""Seconds a container address read from the engine is reused by the probes."""
PLACEHOLDERS = re.compile(r"\{(node_id|center_url|center_host|center_port|metadata_url)\}")
"""The placeholders of env values and config templates; any other brace is left alone (JSON)."""


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with each known ``{placeholder}`` replaced."""
    return PLACEHOLDERS.sub(lambda m: values[m.group(1)], text)


def render_file(path: Path, values: dict[str, str]) -> None:
    """Fill the placeholders of one config template in place (binary files are left as they are)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return
    filled = fill(text, values)
    if filled != text:
        path.write_text(filled, encoding="utf-8")


def native_arch() -> str:
    """The architecture the target engine runs natively (``amd64``, ``arm64``): the engine's, not
    this machine's, which differ on a board (:func:`harness.engine.target_arch`)."""
    from harness.engine import target_arch
    return target_arch()


@dataclass
class Run:
    """One startle invocation. Everything it creates carries :meth:`labels`."""

    run_id: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2))
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    reports_root: Path = REPORTS_DIR
    started: float = field(default_factory=time.time)

    @property
    def dir(self) -> Path:
        return self.reports_root / self.run_id

    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set by :meth:`cancel` (Ctrl-C): scenarios stop at their next step and remove their world."""
    _timelines: set = field(default_factory=set, repr=False)

    def labels(self, **extra: str) -> dict[str, str]:
        """The labels of an object this run creates. The first call makes sure this run's objects
        are removed if this process dies (:func:`harness.reaper.guard`)."""
        reaper.guard(self.run_id)
        return {LABEL_MANAGED: "true", LABEL_RUN: self.run_id, LABEL_PID: str(self.pid),
                LABEL_HOST: self.host, **extra}

    def watch(self, timeline: Timeline) -> None:
        """Register a running scenario's timeline so :meth:`cancel` can wake its waits."""
        self._timelines.add(timeline)

    def unwatch(self, timeline: Timeline) -> None:
        self._timelines.discard(timeline)

    def cancel(self) -> None:
        """Stop every scenario of this run at its next step (each still cleans up after itself)."""
        self.cancelled.set()
        for timeline in list(self._timelines):
            timeline.wake()


PREFIX_LENGTH = 50
"""Characters of the names of a world's containers and network before their role (``-agent``...)."""


def object_prefix(run_id: str, scenario_name: str) -> str:
    """``startle-<run>-<scenario>``, at most :data:`PREFIX_LENGTH` characters; a scenario name too long
    for it is cut and given a hash of the whole name, so two names alike in their first characters
    (``field-node-c0r0``, ``field-node-c0r1``) never share a network name."""
    whole = f"startle-{run_id}-{scenario_name}"
    if len(whole) <= PREFIX_LENGTH:
        return whole
    digest = hashlib.sha256(scenario_name.encode()).hexdigest()[:6]
    return f"{whole[:PREFIX_LENGTH - 7]}-{digest}"


class Infrastructure:
    """The network, center and Toxiproxy that agents run against: one scenario's own, or a pooled
    one that a worker keeps between scenarios (harness/pool.py) and :meth:`reset` s in between.

    Invariant: everything created here carries ``labels`` (the run id, the scenario or pool name,
    the world id), so :meth:`remove` — or, if this process dies, the next run's :func:`reap` —
    finds it all.
    """

    def __init__(self, run: Run, name: str, profile: Profile, client: docker.DockerClient | None = None,
                 via_proxy: bool = True) -> None:
        self.run, self.name, self.profile, self.via_proxy = run, name, profile, via_proxy
        """``via_proxy``: the agents reach the center through Toxiproxy (scenarios), or directly."""
        self.client = client or docker_client()
        self.prefix = object_prefix(run.run_id, name)
        self.world_id = secrets.token_hex(6)
        self.labels = run.labels(**{LABEL_SCENARIO: name, LABEL_WORLD: self.world_id})
        self.network: StartleNetwork | None = None
        self.center_container: CenterContainer | None = None
        self.toxiproxy_container: ToxiproxyContainer | None = None
        self.center: CenterAdmin | None = None
        self.toxiproxy: ToxiproxyAdmin | None = None
        self.scenarios = 0
        """Scenarios that used it so far (a pooled infrastructure serves many)."""
        self.next_index = 0
        """The center's next request record index after the last :meth:`reset`."""

    def start(self) -> None:
        """Network, center (the built-in recording center with the profile's routes, or the
        profile's own center image), and (``via_proxy``) Toxiproxy with a proxy ``center`` in front
        of it."""
        own = self.profile.center.image
        center_image = own.image if own is not None else CENTER_IMAGE
        for image in (center_image, TOXIPROXY_IMAGE) if self.via_proxy else (center_image,):
            require_image(self.client, image)
        self.network = StartleNetwork(self.prefix, self.labels).create()
        if own is not None:
            self.center_container = OwnCenterContainer(own, f"{self.prefix}-center", self.labels, self.network)
        else:
            self.center_container = CenterContainer(CENTER_IMAGE, f"{self.prefix}-center", self.labels, self.network)
        if self.via_proxy:
            self.toxiproxy_container = ToxiproxyContainer(TOXIPROXY_IMAGE, f"{self.prefix}-toxiproxy",
                                                          self.labels, self.network)
        def start(container) -> None:
            try:
                container.start()
                if isinstance(container, OwnCenterContainer):
                    container.wait_ready(timeout_s=60)
            except Exception as exc:  # noqa: BLE001  (wrap with the container's own logs)
                raise InfrastructureError(f"{container.role} did not become ready: {exc}\n"
                                          f"last logs:\n{container.short_logs()}") from None

        # side by side: neither needs the other to start (Toxiproxy dials the center per connection)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{self.name}-up") as starting:
            for started in [starting.submit(start, c) for c in (self.center_container, self.toxiproxy_container) if c]:
                started.result()
        if isinstance(self.center_container, CenterContainer):
            self.center = self.center_container.admin()
            self._declare_routes(self.profile)
        if self.toxiproxy_container is not None:
            self.toxiproxy = self.toxiproxy_container.admin()
            self.toxiproxy.create_proxy("center", f"0.0.0.0:{CENTER_PROXY_PORT}", f"center:{self.center_port}")

    def _declare_routes(self, profile: Profile) -> None:
        assert self.center is not None
        try:
            self.center.set_routes([r.model_dump(exclude_none=True) for r in profile.center.routes])
        except ValueError as exc:
            raise InfrastructureError(f"profile {profile.name}: center.routes: {exc}") from None

    @property
    def resettable(self) -> bool:
        """Whether :meth:`reset` can make it as new: the built-in center (an own center image has no
        admin API to forget what it saw)."""
        return self.profile.center.image is None

    def reset(self, profile: Profile) -> int:
        """Make it as a scenario's fresh one: the center forgets nodes, behaviour, records and logs
        and declares ``profile``'s routes; Toxiproxy keeps only its ``center`` proxy, enabled and
        without toxics. Returns the index of the center's next request record. An
        InfrastructureError when a container is not running any more (the pool builds anew).
        Containers and networks an earlier scenario left on it are removed first."""
        assert self.center is not None and self.resettable, "reset() needs the built-in center"
        for container in filter(None, (self.center_container, self.toxiproxy_container)):
            wrapped = container.get_wrapped_container()
            try:
                wrapped.reload()
            except NotFound:
                raise InfrastructureError(f"the pooled {container.role} container is gone") from None
            if wrapped.status != "running":
                raise InfrastructureError(f"the pooled {container.role} container is {wrapped.status}")
        self.profile = profile
        self._remove_strays()
        next_index = self.center.reset()
        self._declare_routes(profile)
        if self.toxiproxy is not None:
            self.toxiproxy.reset(keep=("center",))
        return next_index

    def _remove_strays(self) -> None:
        """Remove what an earlier scenario on it left (its cleanup failed): containers and networks
        of this world that carry another scenario's name — a crash-looping agent would go on
        talking to the center."""
        filters = _label_filters({LABEL_RUN: self.run.run_id, LABEL_WORLD: self.world_id})
        objects = _containers(self.client, filters) + self.client.networks.list(filters=filters)
        owners = {(o.attrs.get("Labels") or {}).get(LABEL_SCENARIO) for o in objects}
        for stray in sorted(filter(None, owners - {self.name})):
            reap(self.client, {LABEL_RUN: self.run.run_id, LABEL_SCENARIO: stray})

    def require_image(self, image: str) -> str:
        return require_image(self.client, image)

    @property
    def center_port(self) -> int:
        """The port the center listens on in its container (the built-in center's, or the profile's own)."""
        own = self.profile.center.image
        return own.port if own is not None else CENTER_PORT

    def remove(self) -> None:
        """Remove every container, network and volume of its world, its scenarios' leftovers
        included (best effort, idempotent)."""
        remove_labelled(self.client, {LABEL_RUN: self.run.run_id, LABEL_WORLD: self.world_id}, self.name)


def require_image(client: docker.DockerClient, image: str) -> str:
    """The image's id; an InfrastructureError naming the fix when it is not built."""
    try:
        return client.images.get(image).id
    except NotFound:
        raise InfrastructureError(f"image {image} is not built; run `make setup` "
                                  "(images are built locally, never pulled)") from None


class World:
    """One scenario: its agent, against an :class:`Infrastructure` of its own or a pooled one.
    Use as a context manager, or call :meth:`remove` in ``finally``.

    Invariant: everything the scenario creates (agent, its own networks, a launcher's containers)
    carries the run id, the scenario name and the infrastructure's world id, so :meth:`remove`
    finds it all; a pooled infrastructure carries the pool's name instead and outlives it.
    """

    def __init__(self, run: Run, scenario_name: str, profile: Profile, timeline: Timeline,
                 client: docker.DockerClient | None = None, via_proxy: bool = True,
                 infrastructure: Infrastructure | None = None) -> None:
        self.run, self.scenario_name, self.profile, self.timeline = run, scenario_name, profile, timeline
        self.pooled = infrastructure is not None
        self.infra = infrastructure or Infrastructure(run, scenario_name, profile, client, via_proxy)
        self.via_proxy = self.infra.via_proxy
        self.client = self.infra.client
        self.prefix = object_prefix(run.run_id, scenario_name)
        self.world_id = self.infra.world_id
        self.execution = secrets.token_hex(6)
        self.labels = run.labels(**{LABEL_SCENARIO: scenario_name, LABEL_WORLD: self.world_id,
                                    LABEL_EXECUTION: self.execution})
        self.agent_container: AgentContainer | None = None
        self.tempdir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self._agent_ip: tuple[float, str | None] = (0.0, None)
        """(Unix s read, the agent container's address): re-read after ADDRESS_TTL_S (a restart may move it)."""
        self.node_id = ""
        """The agent's node id in this scenario (set by :meth:`agent_spec`)."""
        self.launcher: Path | None = profile.resolve(profile.launcher.script) if profile.launcher else None
        """The profile's host-side launcher, used by faults that start the agent through it (tests
        point it at a mutant launcher)."""
        self.center_next_index = 0
        """The center's first request record of this scenario (a pooled center has older ones)."""
        self.config_volume: ConfigVolume | None = None
        """The agent's config on a remote engine (None: the host folder is bind-mounted)."""

    # --- infrastructure ---------------------------------------------------------------------
    network = property(lambda self: self.infra.network)
    center = property(lambda self: self.infra.center)
    toxiproxy = property(lambda self: self.infra.toxiproxy)
    center_container = property(lambda self: self.infra.center_container)
    toxiproxy_container = property(lambda self: self.infra.toxiproxy_container)

    def start_infrastructure(self) -> None:
        """Start its own infrastructure; a pooled one was reset by the pool (harness/pool.py)."""
        if self.pooled:
            self.center_next_index = self.infra.next_index
        else:
            self.infra.start()
        self.infra.scenarios += 1

    def require_image(self, image: str) -> str:
        """The image's id; an InfrastructureError naming the fix when it is not built."""
        return require_image(self.client, image)

    @property
    def center_address(self) -> tuple[str, int]:
        """(host, port) of the center as the agent sees it: through Toxiproxy (``via_proxy``), else directly."""
        return ("toxiproxy", CENTER_PROXY_PORT) if self.via_proxy else ("center", self.center_port)

    @property
    def center_port(self) -> int:
        return self.infra.center_port

    @property
    def center_url(self) -> str:
        host, port = self.center_address
        return f"http://{host}:{port}"

    # --- agent ----------------------------------------------------------------------------
    def agent_spec(self, node_id: str, image: str | None = None, arch: str | None = None) -> AgentSpec:
        """The profile's run spec, placeholders filled, config copied into a fresh folder."""
        arch = arch or native_arch()
        if image is None:
            if arch not in self.profile.images:
                raise InfrastructureError(f"profile {self.profile.name} has no image for {arch}")
            image = self.profile.images[arch]  # type: ignore[index]
        self.node_id = node_id
        values = self.placeholders(node_id)
        env = {key: fill(value, values) for key, value in self.profile.env.items()}
        run = self.profile.run
        knobs = {k: v for k, v in self.profile.knobs.model_dump().items() if v}
        spec = AgentSpec(image=image, env=env, restart=run.restart, cpus=run.cpus, memory_mb=run.memory_mb,
                         pids_limit=run.pids_limit, user=run.user, cap_drop=list(run.cap_drop),
                         cap_add=list(run.cap_add), security_opt=list(run.security_opt),
                         ports=self.profile.health.ports(), command=run.command, knobs=knobs,
                         scratch_dir=self.tempdir)
        source, config = self.profile.config_source(), self.profile.config
        if source is not None and config is not None:
            if not source.is_dir():
                raise InfrastructureError(f"profile {self.profile.name}: config.source {source} is not a folder; "
                                          "fix the path (relative to the profile's folder)")
            folder = self.tempdir / "config"
            shutil.copytree(source, folder)
            folder.chmod(0o755)
            for path in folder.rglob("*"):
                path.chmod(0o755 if path.is_dir() else 0o644)
                if config.render and path.is_file():
                    render_file(path, values)
            source = str(folder)
            if points_elsewhere():  # the engine cannot see this machine's folder: a volume of its own
                self.config_volume = ConfigVolume(self.client, self.prefix, self.labels, CENTER_IMAGE)
                source = self.config_volume.name
            spec.config = ConfigCopy(folder, config.mount, config.file, config.file_format, dict(config.keys),
                                     source=source)
            spec.volumes[source] = {"bind": config.mount, "mode": "ro"}
        return spec

    def seal_config(self, spec: AgentSpec) -> None:
        """The config copy is as the agent's containers are created with it (faults' ``on_create``
        done): a remote engine's volume is filled (once; :meth:`start_agent` calls it too)."""
        if self.config_volume is not None and spec.config is not None and not self.config_volume.filled:
            self.config_volume.fill(spec.config.folder)

    def config_changed(self, folder: Path) -> None:
        """Faults call it after changing the config copy (``folder``) while the agent runs: a bind
        mount shows the change already; a remote engine's volume is updated (harness/configvolume.py)."""
        if self.config_volume is not None:
            self.config_volume.update(folder)

    def placeholders(self, node_id: str) -> dict[str, str]:
        """The values of the profile's placeholders for this scenario."""
        host, port = self.center_address
        metadata = self.profile.center.metadata
        return {"node_id": node_id, "center_url": self.center_url, "center_host": host, "center_port": str(port),
                "metadata_url": self.center_url + (metadata.split(" ", 1)[1] if metadata else "")}

    def start_agent(self, spec: AgentSpec) -> AgentContainer:
        self.require_image(spec.image)
        assert self.network is not None, "start_infrastructure() first"
        self.seal_config(spec)
        self.agent_container = AgentContainer(spec, f"{self.prefix}-agent", self.labels, self.network)
        self.agent_container.start()
        return self.agent_container

    def agent_address(self, port: int) -> tuple[str, int] | None:
        """Where startle reaches the agent's container ``port`` (None with ``--network none``, or
        while the container has no address). Host mode: the port the agent was told to use, on
        loopback; bridge modes: :meth:`StartleContainer.reachable_at` (the container's own address
        here, its published port on a remote engine), the address cached for ``ADDRESS_TTL_S``."""
        agent = self.agent_container
        if agent is None or not agent.spec.publish_health or agent.spec.network_mode == "none":
            return None
        if agent.spec.network_mode == "host":
            return "127.0.0.1", agent.spec.host_ports.get(port, port)
        if points_elsewhere():  # (HTTP probes only there: lifecycle.remote_skip_reason)
            return agent.reachable_at(port)
        cached_at, address = self._agent_ip
        if time.time() - cached_at > ADDRESS_TTL_S or address is None:
            address = agent.own_address()
            self._agent_ip = (time.time(), address)
        return (address, port) if address else None

    def agent_docker_container(self):
        """The agent's Docker container (docker-py), also when a launcher created it; None if gone."""
        try:
            if self.agent_container is not None:
                return self.agent_container.get_wrapped_container()
            return self.client.containers.get(f"{self.prefix}-agent")
        except NotFound:
            return None

    def wire_tap(self, spec: AgentSpec):
        """A :class:`harness.wire.WireTap` on the scenario network toward the center's address (as the
        agent sees it), not started; None when the agent is not on the scenario network (network
        modes none, host, isolated: nothing of it crosses that bridge), or when the engine is remote."""
        from harness.wire import WireTap, bridge_interface, container_ip
        if spec.network_mode is not None or self.network is None or points_elsewhere():
            return None  # a remote engine's bridge is not this machine's: no tap (docs/remote-engine.md)
        host, port = self.center_address
        target = self.toxiproxy_container if host == "toxiproxy" else self.center_container
        return WireTap(self.timeline, bridge_interface(self.network), container_ip(target, self.network.name), port)

    def record_agent_image(self, image: str) -> None:
        """A ``harness``/``agent_image`` event: the image's id, architecture and HEALTHCHECK."""
        try:
            attrs = self.client.images.get(image).attrs
        except NotFound:
            return
        config = attrs.get("Config") or {}
        test = (config.get("Healthcheck") or {}).get("Test") or []
        self.timeline.record("harness", "agent_image", "agent", image=image, id=attrs.get("Id"),
                             arch=attrs.get("Architecture"), healthcheck=bool(test) and test != ["NONE"],
                             exe=self._agent_exe())

    def _agent_exe(self) -> str | None:
        """The host path of the program the agent's main process runs (/proc/PID/exe): an emulated
        binary shows its QEMU interpreter. None when the engine is not on this host or it exited."""
        if points_elsewhere():  # its /proc is not this machine's (even a second engine here: not judged)
            return None
        container = self.agent_docker_container()
        try:
            container.reload()
            return os.readlink(f"/proc/{container.attrs['State']['Pid']}/exe")
        except (AttributeError, KeyError, OSError, NotFound):
            return None

    def agent_log_tail(self, lines: int = 40) -> list[str]:
        """The agent container's last log lines (also when a launcher created it)."""
        if self.agent_container is not None:
            return self.agent_container.short_logs(lines).splitlines()
        try:
            return self.client.containers.get(f"{self.prefix}-agent").logs(tail=lines).decode(
                errors="replace").splitlines()
        except Exception:  # noqa: BLE001  (diagnostics only)
            return []

    def agent_state(self) -> dict:
        """Exit code, OOM flag, restart count and health of the agent container, as Docker sees it."""
        try:
            if self.agent_container is not None:
                container = self.agent_container.get_wrapped_container()
                container.reload()
            else:  # started by a launcher: found by the name the harness gave it
                container = self.client.containers.get(f"{self.prefix}-agent")
        except NotFound:
            return {}
        state = container.attrs["State"]
        return {"status": state.get("Status"), "exit_code": state.get("ExitCode"),
                "oom_killed": state.get("OOMKilled"), "restart_count": container.attrs.get("RestartCount"),
                "health": (state.get("Health") or {}).get("Status"), "image_id": container.image.id,
                "image": container.attrs.get("Config", {}).get("Image")}

    # --- teardown -------------------------------------------------------------------------
    def remove(self) -> None:
        """Remove every container, network and volume of this scenario (best effort, idempotent):
        with its own infrastructure, that too; a pooled one stays for the next scenario."""
        remove_labelled(self.client, {LABEL_RUN: self.run.run_id, LABEL_SCENARIO: self.scenario_name},
                        self.scenario_name)
        shutil.rmtree(self.tempdir, ignore_errors=True)

    def __enter__(self) -> "World":
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()


def remove_labelled(client: docker.DockerClient, labels: dict[str, str], name: str) -> None:
    """Reap the objects carrying ``labels`` (one scenario's, one world's; ``name`` says whose in a
    message). An engine that went away (restarted) gets
    :data:`ENGINE_BACK_WAIT_S` to come back first; after that what is left is the run's watcher's
    (harness/reaper.py) or the next run's."""
    from requests.exceptions import ConnectionError as EngineGone
    deadline = time.monotonic() + ENGINE_BACK_WAIT_S
    while True:
        try:
            reap(client, labels)
            return
        except EngineGone:
            if time.monotonic() > deadline:
                print(f"startle: the Docker engine did not come back within {ENGINE_BACK_WAIT_S:g} s; "
                      f"{name}'s containers are left to `startle clean`", file=sys.stderr)
                return
            threading.Event().wait(1.0)  # the engine restarting, polled with a deadline


def _label_filters(labels: dict[str, str]) -> dict[str, list[str]]:
    return {"label": [f"{LABEL_MANAGED}=true"] + [f"{k}={v}" for k, v in labels.items()]}


def reap(client: docker.DockerClient, labels: dict[str, str] | None = None) -> dict[str, int]:
    """Remove startle's containers, then networks and volumes, matching ``labels`` (all if None).

    Returns counts of what was removed.
    """
    filters = _label_filters(labels or {})
    removed = {"containers": 0, "networks": 0, "volumes": 0}
    containers = _containers(client, filters)
    names = [_name(container) for container in containers]

    def remove(container) -> int:
        from docker.errors import APIError
        for attempt in range(REMOVE_ATTEMPTS):
            try:
                container.remove(force=True, v=True)
                return 1
            except NotFound:
                return 0
            except APIError:  # "Could not kill running container … is not running": its restart policy
                if attempt == REMOVE_ATTEMPTS - 1:  # was restarting it; the next call finds it settled
                    raise
        return 0

    with ThreadPoolExecutor(max_workers=REAP_THREADS) as pool:  # a fleet's 30+ containers: seconds, not tens
        removed["containers"] = sum(pool.map(remove, containers))
    for network in client.networks.list(filters=filters):
        try:
            _remove_network(network, names)
            removed["networks"] += 1
        except NotFound:
            pass
    for volume in client.volumes.list(filters=filters):
        try:
            volume.remove(force=True)
            removed["volumes"] += 1
        except NotFound:
            pass
    return removed


ENGINE_BACK_WAIT_S = 60.0
"""Seconds a scenario's cleanup waits for an engine that went away (restarted) to answer again."""
REAP_THREADS = 8
"""Containers removed at once by :func:`reap`."""
REMOVE_ATTEMPTS = 3
"""Removal calls per container before :func:`reap` gives up (a restarting container refuses one)."""
GHOST_ENDPOINT_WAIT_S = 10.0
"""Seconds a network with "active endpoints" but no container gets to settle before reap gives up."""


def _remove_network(network, endpoint_names: Iterable[str] = (), wait_s: float = GHOST_ENDPOINT_WAIT_S) -> None:
    """Remove a network; while the engine says it "has active endpoints", force-disconnect every
    endpoint it lists and every name in ``endpoint_names`` (the run's removed containers), then
    retry until ``wait_s``. That clears an endpoint left behind by a removed container. It does not
    clear Docker 20.10's wrong endpoint *count* (moby#43286: only a dockerd restart does), which
    many restarting containers on one network cause — why the storm fleet uses the default bridge.
    Past the deadline an InfrastructureError names the last fix: restart dockerd."""
    from docker.errors import APIError
    deadline = time.monotonic() + wait_s
    while True:
        try:
            network.remove()
            return
        except APIError as exc:  # NotFound included: re-raised for the caller
            if "active endpoints" not in str(exc):
                raise
            network.reload()
            listed = network.attrs.get("Containers") or {}
            candidates = set(endpoint_names) | set(listed) | {ep.get("Name") for ep in listed.values()}
            for name in sorted(filter(None, candidates)):
                try:
                    network.disconnect(name, force=True)
                except (NotFound, APIError):
                    pass
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"network {network.name} keeps a ghost endpoint (no container is attached; a Docker 20.10 "
                    "race after mass removal); restart dockerd (`kill $(cat /var/run/docker.pid); make setup`), then "
                    "`startle clean`") from None
            threading.Event().wait(0.5)  # the engine's own cleanup, polled with a deadline


def _containers(client: docker.DockerClient, filters: dict) -> list:
    """Matching containers from one list call (``sparse``: no inspect per container, so a container
    removed meanwhile by a finishing scenario cannot make the listing fail)."""
    return client.containers.list(all=True, filters=filters, sparse=True)


def _name(container) -> str:
    names = container.attrs.get("Names") or [container.attrs.get("Name") or container.short_id]
    return names[0].lstrip("/")


def leftovers(client: docker.DockerClient, labels: dict[str, str] | None = None) -> list[str]:
    """Every startle container, network and volume present (matching ``labels``), one line each."""
    filters = _label_filters(labels or {})
    found = [f"container {_name(c)} ({c.status})" for c in _containers(client, filters)]
    found += [f"network {n.name}" for n in client.networks.list(filters=filters)]
    found += [f"volume {v.name}" for v in client.volumes.list(filters=filters)]
    return found


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_runs(client: docker.DockerClient) -> set[str]:
    """Run ids whose owning process (same host) is gone."""
    here = socket.gethostname()
    runs: dict[str, tuple[str, int]] = {}
    objects = (_containers(client, _label_filters({}))
               + client.networks.list(filters=_label_filters({})))
    for obj in objects:
        labels = obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}
        run_id = labels.get(LABEL_RUN)
        if run_id:
            runs[run_id] = (labels.get(LABEL_HOST, ""), int(labels.get(LABEL_PID, "0") or 0))
    return {run_id for run_id, (host, pid) in runs.items() if host == here and not pid_alive(pid)}


def reap_stale(client: docker.DockerClient) -> dict[str, int]:
    """Remove everything left by runs whose process is gone; counts of what was removed."""
    total = {"containers": 0, "networks": 0, "volumes": 0, "runs": 0}
    for run_id in stale_runs(client):
        removed = reap(client, {LABEL_RUN: run_id})
        total["runs"] += 1
        for key, count in removed.items():
            total[key] += count
    return total


__all__ = ["Run", "Infrastructure", "World", "AgentSpec", "reap", "reap_stale", "docker_client", "native_arch", "LABEL_ROLE"]
