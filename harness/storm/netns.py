"""Locust workers in Linux network namespaces: the storm's remote workers, on one machine.

A worker on another machine reaches the master and the center over a network, from an address
of its own. :class:`WorkerNetwork` gives each local worker exactly that: a network namespace
with one end of a veth pair (its own address, no route but its link), the other end on a bridge
in this (the root) namespace, which holds the bridge's address — where the locust master and the
center (host network) listen. So workers talk to both over their links, never over 127.0.0.1
of the root namespace, and each worker has its own port space (source ports per address).

Addresses: a /24 of 198.18.0.0/15, the block reserved for network benchmarks (RFC 2544), chosen
free of every address on this host; the bridge is ``.1``, worker ``i`` is ``.(i + 2)``. The
namespaces have no default route: nothing in them reaches anything but the bridge.

Names: everything carries the run id and the owner's pid, so a run never touches another's and
the next run can tell a leftover from a live one (:func:`reap_stale`):

- namespaces ``startle-storm-<run id>-p<pid>-w<i>`` (the name is the record);
- links (bridge ``sst<tag>b``, veth ``sst<tag>v<i>``: interface names have at most 15
  characters) carry the same ``startle-storm-<run id>-p<pid>`` as their alias.

Removal on exit (pass, failure, Ctrl-C): the veth pairs, the namespaces and the bridge. A process killed outright leaves them; :func:`reap_stale`, run by every namespaced
storm before it creates its own, removes those whose pid no longer lives. Needs root (``ip``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import zlib
from dataclasses import dataclass, field

from harness.errors import InfrastructureError
from harness.runtime import pid_alive

OWNER_PREFIX = "startle-storm-"
SUPERNET = ipaddress.ip_network("198.18.0.0/15")
OWNER = re.compile(r"^startle-storm-(?P<run>.+)-p(?P<pid>\d+)(?:-w\d+)?$")
MAX_WORKERS = 250
"""Workers one /24 holds (.2 to .251)."""


def _ip(*args: str, namespace: str | None = None, check: bool = True) -> str:
    """Run ``ip ARGS`` (in ``namespace`` when given); stdout. InfrastructureError naming the command."""
    cmd = (["ip", "netns", "exec", namespace, "ip"] if namespace else ["ip"]) + list(args)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise InfrastructureError("`ip` (iproute2) is not installed: apt-get install iproute2") from None
    if check and done.returncode != 0:
        raise InfrastructureError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode} "
                                  "(worker namespaces need root and iproute2)")
    return done.stdout


def _free_subnet(seed: int) -> ipaddress.IPv4Network:
    """A /24 of :data:`SUPERNET` that no address or route of this host overlaps, from ``seed`` on."""
    used = []
    for link in json.loads(_ip("-j", "-4", "addr") or "[]"):
        for addr in link.get("addr_info", []):
            used.append(ipaddress.ip_network(f"{addr['local']}/{addr['prefixlen']}", strict=False))
    subnets = list(SUPERNET.subnets(new_prefix=24))
    for k in range(len(subnets)):
        net = subnets[(seed + k) % len(subnets)]
        if not any(net.overlaps(u) for u in used):
            return net
    raise InfrastructureError(f"no free /24 left in {SUPERNET} for the worker namespaces")


def namespaces() -> list[str]:
    """Every network namespace's name on this host."""
    return [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]


def owned_links() -> dict[str, str]:
    """``{link name: owner alias}`` of every link a storm created (alias ``startle-storm-...``)."""
    return {link["ifname"]: link["ifalias"] for link in json.loads(_ip("-j", "link", "show") or "[]")
            if str(link.get("ifalias", "")).startswith(OWNER_PREFIX)}


def reap_stale() -> list[str]:
    """Remove the namespaces and links of storms whose process is gone; the names removed."""
    removed = []
    for name in namespaces():
        match = OWNER.match(name)
        if match and not pid_alive(int(match["pid"])):
            _ip("netns", "delete", name, check=False)
            removed.append(name)
    for link, alias in owned_links().items():
        match = OWNER.match(alias)
        if match and not pid_alive(int(match["pid"])):
            _ip("link", "delete", link, check=False)
            removed.append(link)
    return removed


@dataclass
class WorkerNetwork:
    """``workers`` namespaces on a bridge, for one storm (a context manager; removed on exit).

    ``host_ip``: the bridge's address in the root namespace (master and center listen there);
    :meth:`worker_ip` and :meth:`command_prefix` per worker (0-based).
    """

    run_id: str
    workers: int
    pid: int = field(default_factory=os.getpid)
    subnet: ipaddress.IPv4Network | None = None
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"worker namespaces: 1 to {MAX_WORKERS} workers, got {self.workers}")
        self.owner = f"{OWNER_PREFIX}{self.run_id}-p{self.pid}"
        self.tag = re.sub(r"[^0-9a-z]", "", self.run_id.lower())[-4:]
        self.bridge = f"sst{self.tag}b"

    def namespace(self, i: int) -> str:
        return f"{self.owner}-w{i}"

    def veth(self, i: int) -> str:
        return f"sst{self.tag}v{i}"

    @property
    def host_ip(self) -> str:
        return str(self.subnet.network_address + 1)

    def worker_ip(self, i: int) -> str:
        return str(self.subnet.network_address + 2 + i)

    def command_prefix(self, i: int) -> list[str]:
        """Run a command as worker ``i``: in its namespace."""
        return ["ip", "netns", "exec", self.namespace(i)]

    def __enter__(self) -> "WorkerNetwork":
        reap_stale()
        try:
            self.subnet = _free_subnet(zlib.crc32(self.owner.encode()))
            prefix = self.subnet.prefixlen
            _ip("link", "add", self.bridge, "type", "bridge")
            self.created.append(self.bridge)
            _ip("link", "set", self.bridge, "alias", self.owner)
            _ip("addr", "add", f"{self.host_ip}/{prefix}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i in range(self.workers):
                ns, veth = self.namespace(i), self.veth(i)
                _ip("netns", "add", ns)
                self.created.append(ns)
                _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
                self.created.append(veth)
                _ip("link", "set", veth, "alias", self.owner)
                _ip("link", "set", veth, "master", self.bridge, "up")
                _ip("addr", "add", f"{self.worker_ip(i)}/{prefix}", "dev", "eth0", namespace=ns)
                _ip("link", "set", "eth0", "up", namespace=ns)
                _ip("link", "set", "lo", "up", namespace=ns)
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        """Delete the veth pairs, the namespaces and the bridge; what is gone already is skipped.
        (A namespace's deletion frees its veth pair only once the kernel has torn it down, later.)"""
        for name in reversed(self.created):
            if name.startswith(OWNER_PREFIX):
                _ip("netns", "delete", name, check=False)
            else:
                _ip("link", "delete", name, check=False)
        self.created.clear()

    def __exit__(self, *exc) -> None:
        self.remove()

    def leftovers(self) -> list[str]:
        """This network's namespaces and links that still exist (empty after :meth:`remove`)."""
        return ([n for n in namespaces() if n.startswith(self.owner)]
                + [link for link, alias in owned_links().items() if alias == self.owner])
