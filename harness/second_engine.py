"""A second Docker engine on this machine, started on demand: the stand-in for a remote board that
the remote-engine tests and benchmarks talk to over TCP with TLS, as startle talks to a board.

It shares nothing with the first engine (the one scripts/setup.sh starts, which it never stops,
restarts or reconfigures). Instance ``startle2-PORT`` has:

=========================================  =====================================================
``STATE_ROOT/NAME/owner.json``             who owns it (pid and start time) and what it created
``STATE_ROOT/NAME/data``                   ``--data-root`` (images, containers, volumes)
``STATE_ROOT/NAME/certs``                  a CA, server and client certificates (harness/tls.py)
``STATE_ROOT/NAME/daemon.json``            ``--config-file``: ``{}``, so /etc/docker/daemon.json is not read
``EXEC_ROOT/NAME``, ``.sock``, ``.pid``    ``--exec-root`` (its own containerd), unix socket, ``--pidfile``
``tcp://127.0.0.1:PORT``                   ``--tlsverify``: a client without a certificate of its CA is refused
bridge device ``stl2-PORT``                ``--bridge``, address ``10.N.0.1/24`` (never docker0)
address pool ``10.N.0.0/16``               ``--default-address-pool`` (size /24) for its own networks
iptables chain ``STARTLE2-PORT``           jumped to from FORWARD: accepts bridged traffic inside the pool
=========================================  =====================================================

It runs with ``--iptables=false --ip-masq=false --ip-forward=false``: two daemons that manage
iptables overwrite each other's rules (dockerd's documentation, "Run multiple daemons"), and the
first engine's DOCKER chains must stay as they are. Published ports still work (docker-proxy). FORWARD's policy here is DROP and bridged frames pass through it
(br_netfilter), so containers of one network reach each other only through the instance's own chain.

:meth:`SecondEngine.stop` removes everything above: containers and networks through the API (so
dockerd deletes their bridges), the process (SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_S`),
anything left running under its roots, mounts, bridges in its pool, the chain, the folders. It is
idempotent and works from ``owner.json`` alone (starts and removals take turns on
:data:`LOCK_FILE`), so the next :meth:`SecondEngine.start` (or
``python -m harness.second_engine clean``) removes a *stale* instance, one whose owner process is
gone. dockerd gets SIGTERM when the thread that started it dies (PR_SET_PDEATHSIG) and runs in a
session of its own (a Ctrl-C reaches only the owner, which then stops it in order).

Needs root, ``ip``, ``iptables`` and ``dockerd`` (the docker.io package). Command line::

    python -m harness.second_engine [COMMAND ...]   # start, run COMMAND (default: a shell) with
                                                    # DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH
                                                    # of the instance, stop when it exits
    python -m harness.second_engine clean           # remove stale instances
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import ipaddress
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import docker
from docker.errors import DockerException
from docker.tls import TLSConfig
from requests.exceptions import RequestException

from harness.engine import make_client
from harness.errors import InfrastructureError
from harness.reaper import die_with_parent
from harness.tls import TlsFiles, write_tls_material

STATE_ROOT = Path(os.environ.get("STARTLE_ENGINE2_STATE", "/var/lib/startle-engine2"))
"""Persistent state of every instance (data roots on disk, not in memory)."""
EXEC_ROOT = Path(os.environ.get("STARTLE_ENGINE2_RUN", "/run/startle-engine2"))
"""Exec roots, sockets and pid files; short, because containerd's socket paths live under it."""
POOL_SECOND_OCTETS = range(200, 250)
"""``10.N.0.0/16`` candidates for an instance's addresses; the first that no route, interface
or other instance uses is taken."""
START_TIMEOUT_S = 60.0
"""Seconds dockerd gets to answer ``/_ping`` over TLS after it is started."""
STOP_TIMEOUT_S = 30.0
"""Seconds dockerd gets to exit after SIGTERM before it is killed."""
LOCK_FILE = Path(os.environ.get("STARTLE_ENGINE2_LOCK", "/run/lock/startle-engine2.lock"))
"""Held while an instance is started or removed (outside the roots, which are removed when empty)."""
CHAIN_PREFIX = "STARTLE2-"
BRIDGE_PREFIX = "stl2-"


@dataclass
class Instance:
    """What ``owner.json`` records: enough to remove the instance without anything else."""

    name: str
    port: int
    second_octet: int
    owner_pid: int
    owner_start: str
    """The owner's start time in clock ticks since boot (/proc/PID/stat field 22): a reused pid is not it."""
    dockerd_pid: int = 0

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def data_root(self) -> Path:
        return self.state_dir / "data"

    @property
    def exec_root(self) -> Path:
        return EXEC_ROOT / self.name

    @property
    def socket_path(self) -> Path:
        return EXEC_ROOT / f"{self.name}.sock"

    @property
    def pidfile(self) -> Path:
        return EXEC_ROOT / f"{self.name}.pid"

    @property
    def bridge(self) -> str:
        return f"{BRIDGE_PREFIX}{self.port}"

    @property
    def chain(self) -> str:
        return f"{CHAIN_PREFIX}{self.port}"

    @property
    def pool(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"10.{self.second_octet}.0.0/16")

    @property
    def bridge_address(self) -> str:
        return f"10.{self.second_octet}.0.1/24"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "dockerd.log"

    def save(self) -> None:
        (self.state_dir / "owner.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> "Instance | None":
        try:
            return cls(**json.loads((state_dir / "owner.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None


# --------------------------------------------------------------------------------------------
# processes


def process_start(pid: int) -> str:
    """A process's start time (clock ticks since boot), or "" when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name in (...) may hold spaces


def owner_alive(instance: Instance) -> bool:
    return bool(instance.owner_start) and process_start(instance.owner_pid) == instance.owner_start


def wait_exit(pid: int, timeout_s: float) -> bool:
    """Wait until process ``pid`` (any, not only a child) has exited; False at the deadline."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout_s)[0])
    finally:
        os.close(fd)


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def processes_mentioning(needles: list[str]) -> list[int]:
    """Pids of processes whose command line holds one of ``needles`` (this process excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            found.append(int(entry.name))
    return found


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise InfrastructureError(f"second engine: `{' '.join(command)}` failed: {done.stderr.strip()}")
    return done


# --------------------------------------------------------------------------------------------
# network: addresses, bridge, chain


def networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 route and interface network of this machine."""
    used = []
    for route in json.loads(_run("ip", "-j", "-4", "route").stdout or "[]"):
        if route.get("dst") not in (None, "default"):
            used.append(ipaddress.IPv4Network(route["dst"], strict=False))
    for link in json.loads(_run("ip", "-j", "-4", "addr").stdout or "[]"):
        for address in link.get("addr_info", []):
            used.append(ipaddress.IPv4Network(f"{address['local']}/{address['prefixlen']}", strict=False))
    return used


def free_second_octet(used: list[ipaddress.IPv4Network], claimed: set[int]) -> int:
    """The first ``N`` of :data:`POOL_SECOND_OCTETS` whose ``10.N.0.0/16`` overlaps nothing in ``used``
    and is not in ``claimed`` (other instances')."""
    for octet in POOL_SECOND_OCTETS:
        pool = ipaddress.IPv4Network(f"10.{octet}.0.0/16")
        if octet not in claimed and not any(pool.overlaps(network) for network in used):
            return octet
    raise InfrastructureError("second engine: every 10.N.0.0/16 of N in "
                              f"{POOL_SECOND_OCTETS.start}..{POOL_SECOND_OCTETS.stop - 1} is in use")


def bridges_in(pool: ipaddress.IPv4Network) -> list[str]:
    """Bridge devices with an IPv4 address inside ``pool`` (the instance's default bridge and the
    bridges of its networks)."""
    names = []
    for link in json.loads(_run("ip", "-j", "-4", "addr", "show", "type", "bridge").stdout or "[]"):
        if any(ipaddress.IPv4Address(a["local"]) in pool for a in link.get("addr_info", [])):
            names.append(link["ifname"])
    return names


def chain_rules(instance: Instance) -> list[list[str]]:
    """The rules of the instance's chain: bridged frames (one bridge to its own ports) whose both
    ends are in the pool are accepted; nothing else is decided here."""
    pool = str(instance.pool)
    return [["-s", pool, "-d", pool, "-m", "physdev", "--physdev-is-bridged", "-j", "ACCEPT"]]


def add_chain(instance: Instance) -> None:
    _run("iptables", "-w", "-N", instance.chain)
    for rule in chain_rules(instance):
        _run("iptables", "-w", "-A", instance.chain, *rule)
    _run("iptables", "-w", "-I", "FORWARD", "1", "-j", instance.chain)


def remove_chain(chain: str) -> None:
    while _run("iptables", "-w", "-D", "FORWARD", "-j", chain, check=False).returncode == 0:
        pass  # one jump per call; a half-done earlier removal may have left more than one
    if _run("iptables", "-w", "-n", "-L", chain, check=False).returncode == 0:
        _run("iptables", "-w", "-F", chain)
        _run("iptables", "-w", "-X", chain)


def chains() -> list[str]:
    """Names of every second-engine chain in the filter table."""
    listing = _run("iptables", "-w", "-S", check=False).stdout.splitlines()
    return [line.split()[1] for line in listing if line.startswith(f"-N {CHAIN_PREFIX}")]


# --------------------------------------------------------------------------------------------
# the engine


def dockerd_command(instance: Instance, tls: TlsFiles) -> list[str]:
    """dockerd's command line for ``instance`` (every path and address its own)."""
    return [
        shutil.which("dockerd") or "dockerd",
        f"--config-file={instance.state_dir / 'daemon.json'}",
        f"--data-root={instance.data_root}",
        f"--exec-root={instance.exec_root}",
        f"--pidfile={instance.pidfile}",
        f"--host=unix://{instance.socket_path}",
        f"--host=tcp://127.0.0.1:{instance.port}",
        "--tlsverify", f"--tlscacert={tls.server_ca}", f"--tlscert={tls.server_cert}", f"--tlskey={tls.server_key}",
        f"--bridge={instance.bridge}",
        f"--default-address-pool=base={instance.pool},size=24",
        "--iptables=false", "--ip-masq=false", "--ip-forward=false",
        "--containerd-namespace=startle2", "--containerd-plugins-namespace=startle2-plugins",
        "--storage-driver=overlay2", "--shutdown-timeout=5",
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _state_lock() -> Iterator[None]:
    """One start or sweep at a time on this machine (two instances must not take the same pool)."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def instances() -> list[Instance]:
    """Every instance with a state folder (a folder without a readable owner.json is skipped)."""
    if not STATE_ROOT.is_dir():
        return []
    found = (Instance.load(path) for path in sorted(STATE_ROOT.iterdir()) if path.is_dir())
    return [instance for instance in found if instance is not None]


def remove_stale(log=print) -> list[str]:
    """Remove every instance whose owner process is gone; their names."""
    removed = []
    with _state_lock():
        for instance in instances():
            if not owner_alive(instance):
                SecondEngine(instance, None).remove_everything()
                log(f"second engine: removed stale instance {instance.name} (owner pid {instance.owner_pid} gone)")
                removed.append(instance.name)
    return removed


class SecondEngine:
    """One running instance. ``with SecondEngine.start() as engine:`` stops and removes it at the end."""

    def __init__(self, instance: Instance, tls: TlsFiles | None) -> None:
        self.instance = instance
        self.tls = tls
        self.process: subprocess.Popen | None = None

    # --- what a client needs --------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.instance.port}"

    def env(self) -> dict[str, str]:
        """``DOCKER_HOST``, ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` of this engine."""
        assert self.tls is not None
        return {"DOCKER_HOST": self.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(self.tls.client_dir)}

    def client(self, timeout_s: int = 60) -> docker.DockerClient:
        """A client with the instance's client certificate (verifies the engine's too)."""
        assert self.tls is not None
        return make_client(base_url=self.url, timeout=timeout_s, tls=TLSConfig(
            client_cert=self.tls.client_cert, ca_cert=self.tls.ca_cert, verify=True))

    # --- start ----------------------------------------------------------------------------
    @classmethod
    def start(cls, timeout_s: float = START_TIMEOUT_S, log=print) -> "SecondEngine":
        """Remove stale instances, then start a new one and wait until it answers over TLS."""
        remove_stale(log)
        with _state_lock():
            STATE_ROOT.mkdir(parents=True, exist_ok=True)
            claimed = {instance.second_octet for instance in instances()}
            port = free_port()
            instance = Instance(name=f"startle2-{port}", port=port,
                                second_octet=free_second_octet(networks_in_use(), claimed),
                                owner_pid=os.getpid(), owner_start=process_start(os.getpid()))
            instance.state_dir.mkdir(parents=True)
            instance.save()  # first: whatever follows, a later sweep knows what to remove
        engine = cls(instance, None)
        try:
            engine._start(timeout_s)
        except BaseException:
            engine.stop()
            raise
        return engine

    def _start(self, timeout_s: float) -> None:
        instance = self.instance
        self.tls = write_tls_material(instance.state_dir / "certs", ["127.0.0.1", "localhost"])
        (instance.state_dir / "daemon.json").write_text("{}\n")
        EXEC_ROOT.mkdir(parents=True, exist_ok=True)
        _run("ip", "link", "add", "name", instance.bridge, "type", "bridge")
        _run("ip", "addr", "add", instance.bridge_address, "dev", instance.bridge)
        _run("ip", "link", "set", instance.bridge, "up")
        add_chain(instance)
        with open(instance.log_path, "ab") as log:
            self.process = subprocess.Popen(
                dockerd_command(instance, self.tls), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=functools.partial(die_with_parent, signal.SIGTERM))
        instance.dockerd_pid = self.process.pid
        instance.save()
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        """Until ``/_ping`` answers through the SDK over TLS; InfrastructureError with dockerd's last
        log lines if it exits or the deadline passes."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with contextlib.closing(self.client(timeout_s=5)) as client:
                    if client.ping():
                        return
            except (DockerException, RequestException):
                pass
            left = deadline - time.monotonic()
            try:  # the wait between pings is a wait for dockerd to exit
                code = self.process.wait(timeout=min(0.1, max(left, 0)))
            except subprocess.TimeoutExpired:
                code = None
            if code is not None or left <= 0:
                what = f"exited with code {code}" if code is not None else f"did not answer within {timeout_s:g} s"
                raise InfrastructureError(f"second engine {self.instance.name}: dockerd {what}; last lines of "
                                          f"{self.instance.log_path}:\n" + "\n".join(self.log_tail()))

    def log_tail(self, lines: int = 15) -> list[str]:
        try:
            return self.instance.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []

    # --- stop -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop dockerd and remove everything the instance created (idempotent)."""
        with _state_lock():
            self.remove_everything()

    def remove_everything(self) -> None:
        instance = self.instance
        self._remove_objects()
        pid = instance.dockerd_pid
        if self.dockerd_running():
            _kill(pid, signal.SIGTERM)
            if not wait_exit(pid, STOP_TIMEOUT_S):
                _kill(pid, signal.SIGKILL)
                wait_exit(pid, 5)
        if self.process is not None:
            self.process.poll()  # reap our child
        self._kill_leftovers()
        self._unmount()
        for bridge in {instance.bridge, *bridges_in(instance.pool)}:
            _run("ip", "link", "del", bridge, check=False)
        remove_chain(instance.chain)
        for path in (instance.exec_root, instance.state_dir):
            shutil.rmtree(path, ignore_errors=True)
        for path in (instance.socket_path, instance.pidfile):
            path.unlink(missing_ok=True)
        for root in (EXEC_ROOT, STATE_ROOT):
            with contextlib.suppress(OSError):
                root.rmdir()  # only when no other instance is there

    def dockerd_running(self) -> bool:
        """Whether the recorded dockerd pid is still this instance's dockerd (not a reused pid)."""
        pid = self.instance.dockerd_pid
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") if pid else ""
        except OSError:
            return False
        return f"--exec-root={self.instance.exec_root}\0" in cmdline

    def _remove_objects(self) -> None:
        """Containers, then networks, through the API while dockerd answers (it deletes their bridges)."""
        if self.tls is None:
            self.tls = TlsFiles.in_folder(self.instance.state_dir / "certs")
        if not self.tls.server_cert.is_file() or not self.dockerd_running():
            return
        try:
            with contextlib.closing(self.client(timeout_s=30)) as client:
                for container in client.containers.list(all=True):
                    container.remove(force=True, v=True)
                for network in client.networks.list():
                    if network.name not in ("bridge", "host", "none"):
                        network.remove()
        except (DockerException, RequestException):
            pass  # dockerd is going or gone: what it leaves is removed below

    def _kill_leftovers(self) -> None:
        """Whatever still runs for this instance: shims and proxies (they name its roots or its
        pool on their command line) and its containers' processes (their cgroups)."""
        instance = self.instance
        prefix = ".".join(str(instance.pool.network_address).split(".")[:2]) + "."
        pids = processes_mentioning([str(instance.exec_root), str(instance.data_root), f"-container-ip {prefix}"])
        container_ids = [p.name for p in (instance.data_root / "containers").glob("*") if p.is_dir()]
        cgroups = [group for cid in container_ids for group in Path("/sys/fs/cgroup").glob(f"*/docker/{cid}")]
        cgroups += [group for cid in container_ids for group in Path("/sys/fs/cgroup").glob(f"docker/{cid}")]
        for group in cgroups:
            with contextlib.suppress(OSError):
                pids += [int(pid) for pid in (group / "cgroup.procs").read_text().split()]
        for pid in set(pids):
            _kill(pid, signal.SIGKILL)
        for pid in set(pids):
            wait_exit(pid, 5)
        for group in cgroups:
            with contextlib.suppress(OSError):
                group.rmdir()

    def _unmount(self) -> None:
        """Every mount under the instance's roots, deepest first."""
        roots = (str(self.instance.data_root), str(self.instance.exec_root))
        with open("/proc/self/mountinfo") as table:
            points = [line.split()[4] for line in table]
        for point in sorted({p for p in points if p.startswith(roots)}, key=len, reverse=True):
            _run("umount", "--lazy", point, check=False)

    def remains(self) -> list[str]:
        """What of this instance is still on the machine: empty once it is stopped."""
        instance = self.instance
        found = [f"path {path}" for path in (instance.state_dir, instance.exec_root, instance.socket_path,
                                             instance.pidfile) if path.exists()]
        found += [f"process {pid}" for pid in processes_mentioning([str(instance.exec_root), str(instance.data_root)])]
        if _run("ip", "link", "show", "dev", instance.bridge, check=False).returncode == 0:
            found.append(f"bridge {instance.bridge}")
        # its networks' bridges (by address: dockerd names them br-ID); an instance started since
        # may have the pool again, but its own bridge has its own name
        found += [f"bridge {name}" for name in bridges_in(instance.pool) if not name.startswith(BRIDGE_PREFIX)]
        found += [f"iptables chain {instance.chain}"] if instance.chain in chains() else []
        with open("/proc/self/mountinfo") as table:
            roots = (str(instance.data_root), str(instance.exec_root))
            found += [f"mount {line.split()[4]}" for line in table if line.split()[4].startswith(roots)]
        return found

    def __enter__(self) -> "SecondEngine":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def leftovers() -> list[str]:
    """What any instance left on this machine: folders, dockerd processes, bridges, chains. Empty
    when every instance was removed."""
    found = [f"folder {root}" for root in (STATE_ROOT, EXEC_ROOT) if root.exists()]
    found += [f"process {pid}" for pid in processes_mentioning([str(EXEC_ROOT) + "/"])]
    links = json.loads(_run("ip", "-j", "link", "show", "type", "bridge").stdout or "[]")
    found += [f"bridge {link['ifname']}" for link in links if link["ifname"].startswith(BRIDGE_PREFIX)]
    found += [f"iptables chain {chain}" for chain in chains()]
    return found


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["clean"]:
        removed = remove_stale()
        print(f"second engine: {len(removed)} stale instance(s) removed")
        return 0
    command = argv or [os.environ.get("SHELL") or "bash"]
    # Ctrl-C ends the command, then the engine is stopped. Installed explicitly: a shell that starts
    # a command in the background hands it SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    with SecondEngine.start() as engine:
        print(f"second engine: {engine.instance.name} answers at {engine.url} "
              f"({time.monotonic() - started:.1f} s); unix socket {engine.instance.socket_path}")
        for key, value in engine.env().items():
            print(f"export {key}={value}")
        child = subprocess.Popen(command, env={**os.environ, **engine.env()})
        signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))  # stop the command, then us
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:  # the command had the Ctrl-C too; the engine stops once it exits
                continue
        print(f"second engine: stopping {engine.instance.name}")
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's 128 + N


if __name__ == "__main__":
    raise SystemExit(main())
