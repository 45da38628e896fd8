"""Run a storm: the world, then for each N, each repeat and each policy one locust run (a master
and one worker process per core), the records, the center's own log, the figures.

The world (:class:`ContainerWorld`): the mock center image and, when the mode needs it, Toxiproxy
with a proxy ``center`` in front of it, both on the host network bound to 127.0.0.1 only,
labelled with the run (``startle.scenario=storm``) and removed in ``finally`` (Ctrl-C included;
a run whose process died is reaped by the next ``startle run`` / ``startle clean``). Host
network, not a bridge with published ports: a storm opens one TCP connection per request, and
across Docker's bridge and its userland proxy a connection costs ~4.6 ms against 0.06 ms on
loopback on this host (fixtures/center/API.md), so a bridged storm would measure Docker, not the
center. :class:`ExternalWorld` uses a center (and Toxiproxy) already running, e.g. in tests.

Locust runs as separate processes (``python -m locust -f harness/storm/users.py``): gevent's
monkey-patching stays out of this process, and the master/worker split is the one that scales
across machines (see users.py). ``workers=0`` runs a single local locust process instead.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
import threading
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import requests

from harness.config import LABEL_ROLE, LABEL_RUN, LABEL_SCENARIO, ROOT
from harness.errors import InfrastructureError
from harness.reaper import die_with_parent
from harness.storm import metrics, modes
from harness.storm.delay import HopDelay
from harness.storm.policies import PolicySpec
from harness.storm.target import StormTarget, default_target

USERS_FILE = Path(__file__).with_name("users.py")
SCENARIO_LABEL = "storm"
START_TIMEOUT_S = 60.0
"""Seconds a container, or the locust master with its workers, gets to come up."""


@contextmanager
def interrupts_held():
    """Ctrl-C and SIGTERM held until the block ends, then raised as ``KeyboardInterrupt``.

    A container create the engine completes after an interrupt reached its caller would be missed
    by the reap that follows (the engine lists it only once created) and left behind; held, the
    create returns first and the reap finds it. No effect outside the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: held.append(signum))
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            raise KeyboardInterrupt


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's choice)."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout_s: float, alive: Callable[[], bool]) -> None:
    """Until ``url`` answers 200 (a readiness probe, like testcontainers' HttpWaitStrategy)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(url, timeout=1.0).status_code == 200:
                return
        except requests.RequestException:
            pass
        if not alive():
            raise InfrastructureError(f"{url}: the container exited before answering")
        if time.monotonic() > deadline:
            raise InfrastructureError(f"{url} did not answer within {timeout_s:g} s")
        time.sleep(0.1)


class ExternalWorld:
    """A center (and Toxiproxy) that already run: nothing is started or removed."""

    def __init__(self, endpoints: modes.Endpoints) -> None:
        self.endpoints = endpoints

    def __enter__(self) -> modes.Endpoints:
        return self.endpoints

    def __exit__(self, *exc) -> None:
        pass


class ContainerWorld:
    """The center image (+ Toxiproxy) on the host network, 127.0.0.1 only, labelled with ``run``.

    ``center_backlog``: the center's listen queue (``CENTER_BACKLOG``; the kernel caps it at
    ``net.core.somaxconn``). ``bind_host``: the address the center and Toxiproxy listen on
    (127.0.0.1; the bridge's address of :class:`harness.storm.netns.WorkerNetwork` for workers
    in namespaces). ``outage_switch``: ``proxy`` (outage mode: Toxiproxy in front of the center, its proxy
    disabled and enabled) or ``center`` (no proxy in the path: the center's ``down`` behaviour).
    Toxiproxy 2.12 accepts a connection and dials the upstream one at a time (proxy.go, its
    accept loop), which caps a proxied storm at ~1,800 new connections/s on this host; with
    ``center`` the agents reach the center directly once it is back (~5,400/s here).
    """

    def __init__(self, run, mode: str, client=None, center_image: str | None = None,
                 toxiproxy_image: str | None = None, outage_switch: str = "proxy", center_backlog: int = 128,
                 bind_host: str = "127.0.0.1") -> None:
        from harness.runtime import CENTER_IMAGE, TOXIPROXY_IMAGE, docker_client
        if outage_switch not in ("proxy", "center"):
            raise ValueError(f"outage_switch must be proxy or center, got {outage_switch!r}")
        self.run, self.mode, self.outage_switch, self.center_backlog = run, mode, outage_switch, center_backlog
        self.bind_host = bind_host
        self.center = None
        self.client = client or docker_client()
        self.center_image = center_image or CENTER_IMAGE
        self.toxiproxy_image = toxiproxy_image or TOXIPROXY_IMAGE
        self.prefix = f"startle-{run.run_id}-storm"

    def _labels(self, role: str) -> dict[str, str]:
        return self.run.labels(**{LABEL_SCENARIO: SCENARIO_LABEL, LABEL_ROLE: role})

    def _start(self, image: str, role: str, **kwargs):
        from docker.errors import NotFound
        try:
            self.client.images.get(image)
        except NotFound:
            raise InfrastructureError(f"image {image} is not built; run `startle build` (images are built locally)") from None
        with interrupts_held():
            return self.client.containers.run(image, detach=True, network_mode="host", name=f"{self.prefix}-{role}",
                                              labels=self._labels(role), **kwargs)

    @staticmethod
    def _alive(container) -> Callable[[], bool]:
        def alive() -> bool:
            container.reload()
            return container.status in ("created", "running")
        return alive

    def __enter__(self) -> modes.Endpoints:
        try:
            host = self.bind_host
            center_port = free_port()
            center = self.center = self._start(
                self.center_image, "center", environment={"CENTER_HOST": host, "CENTER_PORT": str(center_port),
                                                          "CENTER_BACKLOG": str(self.center_backlog)})
            center_url = f"http://{host}:{center_port}"
            _wait_http(f"{center_url}/admin/health", START_TIMEOUT_S, self._alive(center))
            if not modes.needs_proxy(self.mode) or self.outage_switch == "center":
                return modes.Endpoints(center=center_url, target=center_url)
            api_port, proxy_port = free_port(), free_port()
            toxi = self._start(self.toxiproxy_image, "toxiproxy",
                               entrypoint=["/toxiproxy-server", f"-host={host}", f"-port={api_port}"])
            api = f"http://{host}:{api_port}"
            _wait_http(f"{api}/version", START_TIMEOUT_S, self._alive(toxi))
            endpoints = modes.Endpoints(center=center_url, target=f"http://{host}:{proxy_port}",
                                        toxiproxy=api, proxy="center")
            endpoints.toxiproxy_admin().create_proxy("center", f"{host}:{proxy_port}", f"{host}:{center_port}")
            return endpoints
        except BaseException:
            self.remove()
            raise

    def center_cpu_s(self) -> float | None:
        """CPU seconds the center container has used so far (the engine's stats), None if unknown."""
        try:
            return self.center.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
        except Exception:  # noqa: BLE001  (a figure, not a requirement)
            return None

    def remove(self) -> None:
        from harness.runtime import reap
        reap(self.client, {LABEL_RUN: self.run.run_id, LABEL_SCENARIO: SCENARIO_LABEL})

    def __exit__(self, *exc) -> None:
        self.remove()


@dataclass
class StormSettings:
    """One storm: a mode, the policies and fleet sizes to compare, how to run locust.

    ``workers``: locust worker processes (default: one per core; 0 = a single local process).
    ``timeout_s``: each request's connect/read timeout (the reference agent's 2 s).
    ``seed``: per-agent random streams derived from it (reproducible jitter), random when None.
    ``repeat``: runs of every (policy, N), repeat ``i`` with seed ``seed + i`` (see :meth:`seeds`).
    ``remote_workers``: workers started by hand on other machines that the master also waits for
    (``master_bind_host``/``master_port`` must then be reachable from them; see docs/storm.md).
    ``hop_delay``: the network's delay on each hop between a simulated agent and the center
    (:class:`harness.storm.delay.HopDelay`), None = none added (loopback's own).
    ``target``: the profile's register route and center routes (:mod:`harness.storm.target`;
    default: the default profile's).
    """

    mode: modes.ModeParams
    policies: list[PolicySpec]
    agents: list[int]
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    timeout_s: float = 2.0
    seed: int | None = None
    repeat: int = 1
    remote_workers: int = 0
    master_bind_host: str = "127.0.0.1"
    master_port: int | None = None
    hop_delay: HopDelay | None = None
    worker_netns: bool = False
    """Each local worker in a network namespace of its own (:mod:`harness.storm.netns`)."""
    target: StormTarget = field(default_factory=default_target)

    def limit_s(self, policy: PolicySpec) -> float:
        """Watchdog of one locust run, seconds from go: every agent has stopped by its deadline
        (counted from go, so an outage is inside it) plus a request in flight; 30 s more for the
        simulator itself."""
        return policy.deadline_s + self.timeout_s * 2 + 30.0

    def seeds(self) -> list[int]:
        """The seed of each repeat: ``seed + i`` for i in 0..repeat-1, from a random ``seed`` (drawn
        anew at each call: call once per storm) when None, so ``--seed seeds[0] --repeat K``
        reproduces the storm. Every policy of a repeat gets the same seed."""
        base = self.seed if self.seed is not None else random.SystemRandom().randrange(2 ** 31)
        return [base + i for i in range(self.repeat)]


@dataclass
class PolicyRun:
    """One locust run: one policy at one N, repeat ``repeat`` (0-based) with jitter seed ``seed``."""

    policy: PolicySpec
    agents: int
    meta: dict[str, Any]
    records: pd.DataFrame
    center: pd.DataFrame | None
    wall_s: float
    repeat: int = 0
    seed: int | None = None

    @property
    def t_go(self) -> float:
        return float(self.meta["events"]["go"])

    @property
    def t_ref(self) -> float:
        events = self.meta["events"]
        return float(events.get(modes.ModeParams(**self.meta["config"]["mode"]).reference_event, events["go"]))

    def summary(self) -> dict[str, Any]:
        out = metrics.summarise(self.records, self.agents, self.t_ref, self.center, t_go=self.t_go,
                                mode=self.meta["config"]["mode"]["mode"], policy=self.policy.name,
                                repeat=self.repeat, seed=self.seed)
        out["complete"] = bool(self.meta["complete"])
        out["wall_s"] = round(self.wall_s, 2)
        out["listen_overflows"] = self.meta.get("listen_overflows")
        cpu = (self.meta.get("simulator_cpu") or {}).get("cpu_s", {})  # seconds per locust process
        out["master_cpu_s"] = cpu.get("master", cpu.get("locust"))
        out["workers_cpu_s"] = round(sum(v for k, v in cpu.items() if k.startswith("worker-")), 2) if cpu else None
        out["simulator_peak_cores"] = max((self.meta.get("simulator_cpu") or {}).get("peak_cores", {}).values(),
                                          default=None)  # of the busiest process, in any 1-s sample
        out["center_cpu_s"] = self.meta.get("center_cpu_s")
        out["spawned_at_go"] = self.meta.get("spawned_at_go")
        out["center_sources"] = " ".join(sorted(self.meta.get("center_remotes") or {}))  # addresses it was reached from
        hop = HopDelay.from_dict(self.meta["config"].get("hop_delay"))
        out["hop_delay_ms"] = hop.spec() if hop is not None else None
        out["t_go_unix"], out["t_ref_unix"] = self.t_go, self.t_ref  # to recompute figures from records.parquet
        return out

    def timeseries(self) -> pd.DataFrame:
        return metrics.timeseries(self.records, self.agents, self.t_ref, self.center,
                                  labels={"mode": self.meta["config"]["mode"]["mode"], "policy": self.policy.name,
                                          "agents": self.agents, "repeat": self.repeat})


def listen_overflows(netstat: Path = Path("/proc/net/netstat")) -> int | None:
    """This network namespace's count of connections dropped because a listen queue was full
    (``TcpExt ListenOverflows``; the storm's center shares it: host network). None if unreadable."""
    try:
        lines = [line.split() for line in netstat.read_text().splitlines() if line.startswith("TcpExt:")]
        names, values = lines[0], lines[1]
        return int(values[names.index("ListenOverflows")])
    except (OSError, IndexError, ValueError):
        return None


def center_log(endpoints: modes.Endpoints, since: int) -> list[dict[str, Any]]:
    """Every request record of the center from index ``since`` (harness/clients.py ``RequestLog``)."""
    return endpoints.center_admin().request_log(since).drain()


def _stop(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """End one process this module started (SIGTERM, then SIGKILL), by its pid."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace_s)
    except ProcessLookupError:
        pass


class CpuSampler:
    """CPU seconds and peak cores of the processes of a locust run, sampled every ``period_s``
    (``/proc`` through psutil) in a thread: a process's last sample is at most ``period_s`` old."""

    def __init__(self, period_s: float = 1.0) -> None:
        self.period_s = period_s
        self.procs: dict[str, subprocess.Popen] = {}
        self.cpu_s: dict[str, float] = {}
        self.peak_cores: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def add(self, name: str, proc: subprocess.Popen) -> None:
        self.procs[name] = proc

    def start(self) -> None:
        self._thread.start()

    def _sample(self) -> None:
        import psutil
        for name, proc in list(self.procs.items()):
            try:
                times = psutil.Process(proc.pid).cpu_times()
            except (psutil.Error, ProcessLookupError):
                continue
            used = times.user + times.system
            rate = (used - self.cpu_s.get(name, 0.0)) / self.period_s
            self.cpu_s[name] = used
            self.peak_cores[name] = max(self.peak_cores.get(name, 0.0), rate)

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def stop(self) -> dict[str, Any]:
        """The figures: ``cpu_s`` and ``peak_cores`` per process name (``master``, ``worker-0``...)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return {"cpu_s": {k: round(v, 2) for k, v in self.cpu_s.items()},
                "peak_cores": {k: round(v, 2) for k, v in self.peak_cores.items()}}


def run_locust(config: dict[str, Any], agents: int, workers: int, log_dir: Path, timeout_s: float,
               remote_workers: int = 0, bind_host: str = "127.0.0.1", master_port: int | None = None,
               worker_net=None, cpu: CpuSampler | None = None) -> dict:
    """One headless locust run (master + ``workers`` local processes, or one local process when
    ``workers`` is 0 and no remote ones are expected); returns the master's output (``{"meta",
    "columns", "rows"}``). ``remote_workers``: workers on other machines the master waits for too.
    ``worker_net``: a :class:`harness.storm.netns.WorkerNetwork`: worker ``i`` runs in its namespace
    and the master listens on the bridge's address. ``cpu``: samples every process started here.
    Processes started here are ended in any case."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path = Path(config["output"])
    out_path.unlink(missing_ok=True)
    base = [sys.executable, "-m", "locust", "-f", str(USERS_FILE), "--loglevel", "WARNING"]
    rate = str(max(agents * 10, 1000))  # dispatch everyone at once; the agents wait for go anyway
    common = ["--headless", "-u", str(agents), "-r", rate, "--only-summary", "--stop-timeout", "0",
              "--run-time", f"{int(config['limit_s'] + 60)}s", "--storm-config", json.dumps(config)]
    procs: list[subprocess.Popen] = []
    logs = []
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           # the master fires spawning_complete (our go) only once every worker reported all its users
           # spawned (locust's default gives up after 1 s: at 10,000+ agents a worker still spawns then)
           "LOCUST_WAIT_FOR_WORKERS_REPORT_AFTER_RAMP_UP": str(START_TIMEOUT_S + agents / 1000)}

    def spawn(args: list[str], name: str) -> subprocess.Popen:
        log = open(log_dir / f"{name}.log", "w")
        logs.append(log)
        # Ctrl-C reaches us only (we stop them in order); if we die, the kernel kills them
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
                                start_new_session=True, preexec_fn=die_with_parent)
        procs.append(proc)
        if cpu is not None:
            cpu.add(name, proc)
        return proc

    if worker_net is not None:
        bind_host = worker_net.host_ip

    procs_log = "locust.log" if workers <= 0 and remote_workers <= 0 else "master.log"
    try:
        if workers <= 0 and remote_workers <= 0:
            master = spawn(base + common, "locust")
        else:
            port = master_port or free_port()
            master = spawn(base + common + ["--master", "--master-bind-host", bind_host, "--master-bind-port",
                                           str(port), "--expect-workers", str(workers + remote_workers),
                                           "--expect-workers-max-wait",
                                           str(int(START_TIMEOUT_S * (10 if remote_workers else 1)))], "master")
            for i in range(workers):
                prefix = worker_net.command_prefix(i) if worker_net is not None else []
                spawn(prefix + base + ["--worker", "--master-host", bind_host if worker_net else "127.0.0.1",
                                       "--master-port", str(port)], f"worker-{i}")
        if cpu is not None:
            cpu.start()
        master.wait(timeout=timeout_s)
        for proc in procs[1:]:  # workers quit with the master
            proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc in procs:
            _stop(proc)
        for log in logs:
            log.close()
        if cpu is not None:
            cpu.stop()
    if not out_path.exists():
        tail = "\n".join((log_dir / procs_log).read_text().splitlines()[-20:]) if procs else ""
        raise InfrastructureError(f"locust wrote no storm output (see {log_dir}); last lines:\n{tail}")
    data = json.loads(out_path.read_text())
    out_path.unlink()
    return data


@dataclass
class StormResult:
    """Every run of a storm; ``seeds``: the seed of each repeat (:meth:`StormSettings.seeds`)."""

    settings: StormSettings
    runs: list[PolicyRun]
    seeds: list[int] = field(default_factory=list)
    cross_check: Any = None
    """The real fleet's :class:`harness.storm.fleet.Agreement` with the simulation, when one ran."""

    def summary(self) -> pd.DataFrame:
        """One row per run (policy, N, repeat): :func:`metrics.summarise`, ``complete``, ``wall_s``,
        ``t_go_unix``/``t_ref_unix`` (the release and the reference time, Unix s)."""
        return pd.DataFrame([r.summary() for r in self.runs])

    def ranking(self) -> pd.DataFrame:
        """What the rankings are made of: the summary when every (policy, N) ran once, else one row
        per (policy, N) of medians over the repeats (:func:`metrics.over_repeats`)."""
        summary = self.summary()
        return metrics.over_repeats(summary) if self.settings.repeat > 1 else summary

    def first_repeat(self) -> list[PolicyRun]:
        """The runs of repeat 0 (one per policy and N: what the plots draw)."""
        return [r for r in self.runs if r.repeat == 0]

    def timeseries(self) -> pd.DataFrame:
        return pd.concat([r.timeseries() for r in self.runs], ignore_index=True)

    def records(self) -> pd.DataFrame:
        """Every run's agent records, with ``policy``, ``agents_n`` and ``repeat`` columns in front."""
        return self._stack([(r, r.records) for r in self.runs])

    def center_records(self) -> pd.DataFrame | None:
        """Every run's center log as records (same columns), None when no run has one."""
        pairs = [(r, r.center) for r in self.runs if r.center is not None]
        return self._stack(pairs) if pairs else None

    @staticmethod
    def _stack(pairs) -> pd.DataFrame:
        frames = []
        for run, frame in pairs:
            f = frame.copy()
            f.insert(0, "policy", run.policy.name)
            f.insert(1, "agents_n", run.agents)
            f.insert(2, "repeat", run.repeat)
            frames.append(f)
        return pd.concat(frames, ignore_index=True)


def run_storm(settings: StormSettings, world, folder: Path,
              progress: Callable[[str], Any] = print, worker_net=None) -> StormResult:
    """For each N, each repeat, each policy: a fresh center (reset by the master), a locust run, the
    center's log. Repeats are the middle loop, so every policy of a repeat runs close in time to the
    others (drift of the host hits them alike). ``world``: a :class:`ContainerWorld` or
    :class:`ExternalWorld` (entered here). ``worker_net``: the workers' namespaces (created by the
    caller, the world listening on its bridge), when ``settings.worker_netns``."""
    runs: list[PolicyRun] = []
    seeds = settings.seeds()
    with world as endpoints:
        for agents in settings.agents:
            for repeat, seed in enumerate(seeds):
                for policy in settings.policies:
                    runs.append(_run_one(settings, endpoints, folder, policy, agents, repeat, seed, progress,
                                         worker_net=worker_net, center_cpu=getattr(world, "center_cpu_s", None)))
    return StormResult(settings, runs, seeds)


def _run_one(settings: StormSettings, endpoints: modes.Endpoints, folder: Path, policy: PolicySpec, agents: int,
             repeat: int, seed: int, progress: Callable[[str], Any], worker_net=None,
             center_cpu: Callable[[], float | None] | None = None) -> PolicyRun:
    """One locust run of ``policy`` at N = ``agents``, repeat ``repeat`` (0-based) with ``seed``."""
    name = f"{policy.name}-n{agents}"
    if settings.repeat > 1:
        tag = f"{name} #{repeat + 1}/{settings.repeat}"
        name = f"{name}-r{repeat}"  # file names: the 0-based repeat of storm.csv
    else:
        tag = name
    config = {"policy": policy.to_dict(), "mode": settings.mode.to_dict(),
              "endpoints": endpoints.to_dict(), "agents": agents, "timeout_s": settings.timeout_s,
              "seed": seed, "repeat": repeat, "limit_s": settings.limit_s(policy),
              "hop_delay": settings.hop_delay.to_dict() if settings.hop_delay is not None else None,
              "target": settings.target.to_dict(),
              "output": str(folder / "locust" / f"{name}.json")}
    progress(f"storm: {tag}: {agents} agents, {policy.describe()}, seed {seed}, "
             f"{settings.workers or 'no'} worker process(es)")
    wait_s = (config["limit_s"] + START_TIMEOUT_S * (10 if settings.remote_workers else 1)
              + 90 + agents / 500)
    started = time.monotonic()
    overflows_before = listen_overflows()
    center_cpu_before = center_cpu() if center_cpu else None
    cpu = CpuSampler()
    try:
        data = run_locust(config, agents, settings.workers, folder / "locust" / name, timeout_s=wait_s,
                          remote_workers=settings.remote_workers,
                          bind_host=settings.master_bind_host, master_port=settings.master_port,
                          worker_net=worker_net, cpu=cpu)
    except BaseException:  # the master may have died mid-outage: leave a usable center
        modes.restore(endpoints, settings.mode)
        raise
    wall = time.monotonic() - started
    meta = data["meta"]
    after = listen_overflows()
    meta["listen_overflows"] = after - overflows_before if None not in (after, overflows_before) else None
    meta["simulator_cpu"] = cpu.stop()
    center_cpu_after = center_cpu() if center_cpu else None
    meta["center_cpu_s"] = (round(center_cpu_after - center_cpu_before, 2)
                            if None not in (center_cpu_before, center_cpu_after) else None)
    if worker_net is not None:
        meta["worker_addresses"] = [worker_net.worker_ip(i) for i in range(settings.workers)]
    records = metrics.records_frame(data["rows"], data["columns"])
    log = center_log(endpoints, int(meta["first_index"]))
    meta["center_remotes"] = dict(Counter(str(r.get("remote")) for r in log))
    center = metrics.records_from_center_log(log, settings.target)
    run = PolicyRun(policy, agents, meta, records, center, wall, repeat=repeat, seed=seed)
    s = run.summary()
    progress(f"storm: {tag}: {s['attempts']} attempts, {s['registered']}/{agents} registered, "
             f"t100 {s['t100_s']:.2f} s, center peak {s['center_peak_rps']} req/s "
             f"({wall:.1f} s wall{'' if meta['complete'] else ', INCOMPLETE: ' + '; '.join(meta['errors'])})")
    return run
