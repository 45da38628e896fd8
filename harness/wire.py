"""Every TCP connection attempt toward one server, seen on the wire: any protocol, no agent help.

:class:`WireTap` reads the frames crossing a Linux interface (the scenario network's bridge, see
:func:`bridge_interface`) through an AF_PACKET socket, and turns each attempt a client makes toward
``server_ip:server_port`` into ONE timeline event, added when the attempt's outcome is known::

    Event(source="wire", kind="connect", t=<first SYN>, container="agent", fields={
        "outcome":           one of OUTCOMES (rules below)
        "client_ip":         str
        "client_port":       int
        "server":            "ip:port"
        "syn_retransmits":   count of SYNs after the first with the same ISN
        "connected_s":       s, first SYN -> the server's SYN-ACK; None if never connected
        "duration_s":        s, first SYN -> the packet that decided; for an idle or stop decision,
                             first SYN -> the last packet seen of the attempt
        "bytes_to_server":   bytes of client payload up to the decision (a retransmission counts once)
        "bytes_from_server": bytes of server payload up to the decision (idem)
        "decided_by":        "packet" | "idle" | "stop"
    })

Outcome rules, applied in packet order; the first that matches decides:

    refused    the server answered the SYN with a RST
    answered   the server sent payload (the first byte decides: the connection may still be open)
    reset      connected, then a RST from the server before any server payload
    closed     connected, then a FIN from the server before any server payload
    abandoned  connected, then the client closed (RST; or FIN followed by the server's FIN or RST,
               or by ``idle_s`` of silence) before any server payload: the client gave up waiting
    timed_out  no answer to the SYN(s): no SYN for max(idle_s, SYN_GAP_FACTOR x the last gap
               between two SYNs) seconds, or still unanswered at stop()
    open       at stop(): connected, nothing decided (e.g. a long poll still waiting)

Invariants: one ``connect`` event per attempt. An attempt is a client (ip, port) and the ISN of
its SYN: a retransmitted SYN (same ISN) is the same attempt, a SYN with another ISN from the same
port is a new one (the earlier attempt is then decided as if idle). ``t`` is the first SYN's time,
so ordering events by ``t`` orders attempts by start. Times are the kernel's receive timestamps
(SO_TIMESTAMPNS: CLOCK_REALTIME, ns resolution), the clock of ``time.time()`` and of every other
source. An attempt whose SYN was not seen (begun before start()) is ignored. IPv4 only.

At stop() one ``wire``/``capture`` event reports the tap itself: frames read, kernel drops (a
non-zero count means an outcome may be wrong), CPU seconds used, and ``ended``: ``stop``, or
``interface_gone`` when the network was removed under the tap (its attempts are then decided as
at stop, at that moment).
"""

from __future__ import annotations

import ctypes
import errno
import select
import socket
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from harness.collectors import Collector
from harness.errors import InfrastructureError
from harness.timeline import Event, Timeline

SOURCE = "wire"
KIND = "connect"
OUTCOMES = ("refused", "answered", "reset", "closed", "abandoned", "timed_out", "open")

IDLE_S = 3.0
"""s. Silence after which an unanswered SYN is ``timed_out`` and a client-closed attempt ``abandoned``."""
SYN_GAP_FACTOR = 2.5
"""Linux retransmits a SYN after 1 s, then keeps that gap for ``net.ipv4.tcp_syn_linear_timeouts``
retransmissions (4 on kernel 6.18; older kernels have no such setting) and doubles it after (2, 4,
8 ... s): a client still trying sends its next SYN within 2 x the last gap; 2.5 x leaves room for
timer slack."""
SNAPLEN = 160
"""bytes of each frame copied to the harness: Ethernet 14 + IPv4 <= 60 + TCP <= 60 (payload
lengths come from the IP header, so payload is never copied)."""
RCVBUF = 16 << 20
"""bytes of kernel buffer for frames not read yet; each frame is charged its full size, even cut to
SNAPLEN (a burst larger than this is dropped, and counted in the ``capture`` event)."""
RETIRED_MAX = 4096
"""decided attempts remembered (per tap) so that their late retransmitted SYNs are ignored."""

# Linux constants the socket module does not export (asm-generic values: amd64 and arm64 alike).
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_STATISTICS = 6
PACKET_MR_PROMISC = 1
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
ARPHRD_LOOPBACK = 772

SYN, RST, FIN, ACK = 0x02, 0x04, 0x01, 0x10


class ConnectAttempts(Protocol):
    """What a scenario lifecycle needs of a wire observer (:class:`WireTap` is the implementation).

    ``start()`` raises :class:`InfrastructureError` when capture is impossible; ``stop()`` decides
    every attempt still open. Events follow the module docstring's schema.
    """

    def start(self) -> "ConnectAttempts": ...

    def stop(self, join_s: float = 5.0) -> None: ...


def attempts(timeline: Timeline, outcome: str | None = None) -> list[Event]:
    """The wire's connect events in order of first SYN (of one ``outcome`` if given)."""
    return timeline.select(SOURCE, KIND, None if outcome is None else (lambda e: e.get("outcome") == outcome))


# --- frames ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Segment:
    """The TCP header fields the state machine needs. Ports and lengths are ints, bytes for lengths."""

    src: str
    sport: int
    dst: str
    dport: int
    seq: int
    ack_seq: int
    flags: int
    payload_len: int

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)


def parse_frame(frame: bytes) -> Segment | None:
    """An Ethernet/IPv4/TCP frame's segment, or None for anything else (ARP, IPv6, UDP, fragments,
    truncated headers). The payload length is taken from the IP header, so a frame cut after the
    TCP header (``SNAPLEN``) still gives it."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    version_ihl, total_len, frag, proto = frame[14], *struct.unpack_from("!H2xH", frame, 16), frame[23]
    ihl = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4 or ihl < 20 or proto != 6 or frag & 0x3FFF:  # MF or offset: a fragment
        return None
    tcp = 14 + ihl
    if len(frame) < tcp + 20:
        return None
    sport, dport, seq, ack_seq, offset, flags = struct.unpack_from("!HHIIBB", frame, tcp)
    doff = (offset >> 4) * 4
    if doff < 20 or len(frame) < tcp + doff:
        return None
    payload_len = (total_len - ihl - doff) if total_len else (len(frame) - tcp - doff)
    if payload_len < 0:
        return None
    return Segment(socket.inet_ntoa(frame[26:30]), sport, socket.inet_ntoa(frame[30:34]), dport,
                   seq, ack_seq, flags, payload_len)


# --- the state machine -----------------------------------------------------------------------

@dataclass
class _Attempt:
    client_ip: str
    client_port: int
    isn: int
    first_t: float                     # s, Unix: first SYN
    last_t: float                      # s, Unix: last packet of the attempt, either direction
    syns: int = 1
    syn_gap: float | None = None       # s between the last two SYNs
    state: str = "syn_sent"            # syn_sent -> connected -> client_closed
    server_isn: int | None = None
    connected_t: float | None = None   # s, Unix: the server's SYN-ACK
    sent: int = 0                      # bytes of client payload (highest offset seen)
    received: int = 0                  # bytes of server payload (idem)


def _offset(seq: int, isn: int, syn: bool, length: int) -> int:
    """Bytes of payload up to the end of this segment, counted from the first byte after the SYN
    (0 for anything before it, e.g. a keepalive probe at ISN)."""
    end = (seq + (1 if syn else 0) + length - isn - 1) & 0xFFFFFFFF
    return 0 if end >= 1 << 31 else end


class ConnectionTracker:
    """Pure state machine: segments (with their time) in, decided ``connect`` events out.

    ``feed`` for each segment, ``due(now)`` for idle decisions (``next_deadline()`` says when),
    ``flush(now)`` at the end. Not thread-safe: one thread feeds it.
    """

    def __init__(self, server_ip: str, server_port: int, client_ip: str | None = None,
                 idle_s: float = IDLE_S, container: str = "agent") -> None:
        self.server_ip, self.server_port, self.client_ip = server_ip, server_port, client_ip
        self.idle_s = idle_s              # s
        self.container = container
        self.server = f"{server_ip}:{server_port}"
        self.open: dict[tuple[str, int], _Attempt] = {}
        self.retired: OrderedDict[tuple[str, int], int] = OrderedDict()  # client -> ISN of its last decided attempt
        self.decided = 0

    def feed(self, seg: Segment, t: float) -> list[Event]:
        if seg.dst == self.server_ip and seg.dport == self.server_port:
            key, to_server = (seg.src, seg.sport), True
        elif seg.src == self.server_ip and seg.sport == self.server_port:
            key, to_server = (seg.dst, seg.dport), False
        else:
            return []
        if self.client_ip is not None and key[0] != self.client_ip:
            return []
        attempt = self.open.get(key)
        if to_server:
            return self._from_client(key, attempt, seg, t)
        if attempt is None:
            return []
        attempt.last_t = t
        return self._from_server(attempt, seg, t)

    def _from_client(self, key: tuple[str, int], a: _Attempt | None, seg: Segment, t: float) -> list[Event]:
        if seg.has(SYN) and not seg.has(ACK):
            if a is not None and a.isn == seg.seq:
                a.syns, a.syn_gap, a.last_t = a.syns + 1, t - a.last_t, t
                return []
            if a is None and self.retired.get(key) == seg.seq:
                return []  # a late retransmission of an attempt already decided
            events = [self._decide(a, self._idle_outcome(a), a.last_t, "packet")] if a is not None else []
            self.open[key] = _Attempt(key[0], key[1], seg.seq, t, t)
            self.open[key].sent = _offset(seg.seq, seg.seq, True, seg.payload_len)  # TCP Fast Open data
            return events
        if a is None:
            return []
        a.last_t = t
        if seg.payload_len:
            a.sent = max(a.sent, _offset(seg.seq, a.isn, False, seg.payload_len))
        if a.state == "syn_sent":
            return []
        if seg.has(RST):
            return [self._decide(a, "abandoned", t, "packet")]
        if seg.has(FIN):
            a.state = "client_closed"
        return []

    def _from_server(self, a: _Attempt, seg: Segment, t: float) -> list[Event]:
        if a.state == "syn_sent":
            if seg.has(RST) and (not seg.has(ACK) or seg.ack_seq == (a.isn + 1) & 0xFFFFFFFF):
                return [self._decide(a, "refused", t, "packet")]
            if seg.has(SYN) and seg.has(ACK) and seg.ack_seq == (a.isn + 1) & 0xFFFFFFFF:
                a.state, a.server_isn, a.connected_t = "connected", seg.seq, t
                a.received = _offset(seg.seq, seg.seq, True, seg.payload_len)
                if a.received:
                    return [self._decide(a, "answered", t, "packet")]
            return []
        if seg.has(SYN):
            return []  # a retransmitted SYN-ACK
        if seg.payload_len and a.server_isn is not None:
            a.received = max(a.received, _offset(seg.seq, a.server_isn, False, seg.payload_len))
            if a.received:
                return [self._decide(a, "answered", t, "packet")]
        if seg.has(RST) or seg.has(FIN):
            if a.state == "client_closed":
                return [self._decide(a, "abandoned", t, "packet")]
            return [self._decide(a, "reset" if seg.has(RST) else "closed", t, "packet")]
        return []

    @staticmethod
    def _idle_outcome(a: _Attempt) -> str:
        return "timed_out" if a.state == "syn_sent" else "abandoned"

    def _deadline(self, a: _Attempt) -> float | None:
        """Unix s at which silence decides ``a``; None while connected (only stop() decides then)."""
        if a.state == "syn_sent":
            return a.last_t + max(self.idle_s, SYN_GAP_FACTOR * (a.syn_gap or 0.0))
        if a.state == "client_closed":
            return a.last_t + self.idle_s
        return None

    def next_deadline(self) -> float | None:
        deadlines = [d for d in map(self._deadline, self.open.values()) if d is not None]
        return min(deadlines) if deadlines else None

    def due(self, now: float) -> list[Event]:
        """Decide the attempts whose silence lasted past their deadline at Unix time ``now``."""
        late = [a for a in self.open.values() if (d := self._deadline(a)) is not None and d <= now]
        return [self._decide(a, self._idle_outcome(a), a.last_t, "idle") for a in sorted(late, key=lambda a: a.first_t)]

    def flush(self) -> list[Event]:
        """Decide every attempt still undecided (at stop): ``timed_out``, ``open`` or ``abandoned``."""
        outcome = {"syn_sent": "timed_out", "connected": "open", "client_closed": "abandoned"}
        return [self._decide(a, outcome[a.state], a.last_t, "stop")
                for a in sorted(self.open.values(), key=lambda a: a.first_t)]

    def _decide(self, a: _Attempt, outcome: str, t: float, decided_by: str) -> Event:
        key = (a.client_ip, a.client_port)
        del self.open[key]
        self.retired[key] = a.isn
        self.retired.move_to_end(key)
        while len(self.retired) > RETIRED_MAX:
            self.retired.popitem(last=False)
        self.decided += 1
        return Event(SOURCE, KIND, a.first_t, self.container, {
            "outcome": outcome,
            "client_ip": a.client_ip,
            "client_port": a.client_port,
            "server": self.server,
            "syn_retransmits": a.syns - 1,
            "connected_s": None if a.connected_t is None else round(a.connected_t - a.first_t, 6),
            "duration_s": round(t - a.first_t, 6),
            "bytes_to_server": a.sent,
            "bytes_from_server": a.received,
            "decided_by": decided_by,
        })


# --- capture ---------------------------------------------------------------------------------

_BPF_OP = {"ldh": 0x28, "ldb": 0x30, "ld": 0x20, "ldxb_msh": 0xB1, "ldh_x": 0x48,
           "jeq": 0x15, "jset": 0x45, "ret": 0x06}


def bpf_program(server_ip: str, server_port: int, snaplen: int = SNAPLEN) -> bytes:
    """Classic BPF (``struct sock_filter[]``) for ``tcp and host IP and port PORT`` on the same
    side (IPv4, no fragments): what tcpdump compiles, written by hand to need no libpcap."""
    ip = struct.unpack("!I", socket.inet_aton(server_ip))[0]
    prog: list[tuple] = [  # (op, k[, jump if true, jump if false]); None = next instruction
        ("ldh", 12), ("jeq", ETH_P_IP, None, "drop"),       # Ethernet type: IPv4
        ("ldb", 23), ("jeq", 6, None, "drop"),              # IP protocol: TCP
        ("ldh", 20), ("jset", 0x3FFF, "drop", None),        # MF flag or fragment offset
        ("ldxb_msh", 14),                                   # X = IP header length
        ("ld", 26), ("jeq", ip, None, "dst"),               # source IP is the server...
        ("ldh_x", 14), ("jeq", server_port, "accept", "dst"),  # ...and source port
        "dst",
        ("ld", 30), ("jeq", ip, None, "drop"),              # destination IP is the server...
        ("ldh_x", 16), ("jeq", server_port, "accept", "drop"),  # ...and destination port
        "accept", ("ret", snaplen),
        "drop", ("ret", 0),
    ]
    labels, index = {}, 0
    for item in prog:
        if isinstance(item, str):
            labels[item] = index
        else:
            index += 1
    out, index = b"", 0
    for item in prog:
        if isinstance(item, str):
            continue
        op, k, *jumps = item
        jt, jf = (0, 0) if not jumps else (0 if j is None else labels[j] - index - 1 for j in jumps)
        out += struct.pack("HBBI", _BPF_OP[op], jt, jf, k)
        index += 1
    return out


def bridge_interface(network: Any) -> str:
    """The Linux bridge device of a Docker bridge network: its ``com.docker.network.bridge.name``
    option, else ``br-<id[:12]>``. Takes a docker-py Network, a testcontainers Network or attrs."""
    if isinstance(network, dict):
        attrs = network
    elif getattr(network, "_network", None) is not None:  # testcontainers' Network wraps docker-py's
        attrs = network._network.attrs
    else:
        attrs = network.attrs
    if attrs.get("Driver", "bridge") != "bridge":
        raise InfrastructureError(f"network {attrs.get('Name')} has driver {attrs.get('Driver')}: the wire "
                                  "is captured on a bridge network's device only")
    return (attrs.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{attrs['Id'][:12]}"


def container_ip(container: Any, network_name: str) -> str:
    """A container's IPv4 address on a network (docker-py Container or testcontainers container)."""
    if hasattr(container, "get_wrapped_container"):
        container = container.get_wrapped_container()
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network_name]["IPAddress"]


def open_capture(interface: str, program: bytes) -> socket.socket:
    """A non-blocking AF_PACKET socket on ``interface``, filtered by ``program``, promiscuous,
    with kernel timestamps. The filter is attached before the socket is bound, so nothing
    unfiltered is ever queued."""
    try:
        ifindex = socket.if_nametoindex(interface)
    except OSError:
        raise InfrastructureError(f"no network interface {interface!r} here (fix: pass bridge_interface() of a "
                                  "network that exists, and run startle in the Docker host's network namespace, "
                                  "not in a container)") from None
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: receives nothing until bind
    except PermissionError:
        raise InfrastructureError("capturing the wire needs CAP_NET_RAW (fix: run startle as root, or "
                                  "`setcap cap_net_raw,cap_net_admin+ep` on the venv's python3)") from None
    try:
        buffer = ctypes.create_string_buffer(program)
        fprog = struct.pack("HP", len(program) // 8, ctypes.addressof(buffer))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((interface, ETH_P_ALL))
        # A bridge passes frames it forwards between two containers up to its own device only
        # when that device is promiscuous.
        sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b""))
        sock.setblocking(False)
    except PermissionError:
        sock.close()
        raise InfrastructureError(f"capturing on {interface} needs CAP_NET_RAW and CAP_NET_ADMIN (fix: run "
                                  "startle as root)") from None
    except OSError as exc:
        sock.close()
        raise InfrastructureError(f"cannot capture on {interface}: {exc} (fix: check that the network still "
                                  "exists: `docker network ls`)") from None
    return sock


class WireTap(Collector):
    """Connection attempts toward ``server_ip:server_port`` seen on ``interface`` (module docstring).

    ``client_ip``: only that client's attempts (None: every client). ``idle_s``: see :data:`IDLE_S`.
    The thread waits on the socket (and on the next idle deadline), never on a polling interval.
    """

    name = "wire"

    def __init__(self, timeline: Timeline, interface: str, server_ip: str, server_port: int,
                 client_ip: str | None = None, *, idle_s: float = IDLE_S, container: str = "agent") -> None:
        super().__init__(timeline)
        self.interface = interface
        self.tracker = ConnectionTracker(server_ip, server_port, client_ip, idle_s, container)
        self.program = bpf_program(server_ip, server_port)
        self.sock: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self.ended = "stop"      # or "interface_gone"
        self.frames = 0          # frames read (after the kernel's filter)
        self.kernel_drops = 0    # frames the kernel dropped for want of buffer
        self.cpu_s = 0.0         # s of CPU used by the tap's thread

    def start(self) -> "WireTap":
        self.sock = open_capture(self.interface, self.program)
        super().start()
        return self

    def run(self) -> None:
        cpu0 = time.thread_time()
        try:
            while not self.stopping.is_set():
                deadline = self.tracker.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - time.time())
                select.select([self.sock, self._wake_r], [], [], timeout)
                self._read()
                for event in self.tracker.due(time.time()):
                    self.timeline.add(event)
            self._read()  # what arrived before stop
        except OSError as exc:
            if exc.errno not in (errno.ENETDOWN, errno.ENODEV, errno.ENXIO):
                raise
            self.ended = "interface_gone"  # the network was removed under the tap: the capture ends here
        finally:
            self.cpu_s = time.thread_time() - cpu0
            self._finish()

    def _read(self) -> None:
        assert self.sock is not None
        while True:
            try:
                frame, ancdata, _flags, address = self.sock.recvmsg(SNAPLEN, 64)
            except (BlockingIOError, InterruptedError):
                return
            self.frames += 1
            if address[3] == ARPHRD_LOOPBACK and address[2] == socket.PACKET_OUTGOING:
                continue  # on lo every packet is seen leaving and arriving: keep one
            segment = parse_frame(frame)
            if segment is None:
                continue
            t = time.time()
            for level, kind, data in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    seconds, nanoseconds = struct.unpack_from("qq", data)
                    t = seconds + nanoseconds / 1e9
            for event in self.tracker.feed(segment, t):
                self.timeline.add(event)

    _finished = False

    def _finish(self) -> None:
        """Flush undecided attempts, report the tap, close (once, from whichever thread gets here)."""
        if self._finished:
            return
        self._finished = True
        for event in self.tracker.flush():
            self.timeline.add(event)
        if self.sock is None:
            return  # never started: nothing was captured
        try:
            _packets, drops = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
            self.kernel_drops += drops
        except OSError:
            pass
        self.sock.close()
        self.timeline.record(SOURCE, "capture", interface=self.interface, server=self.tracker.server, ended=self.ended,
                             frames=self.frames, attempts=self.tracker.decided, kernel_drops=self.kernel_drops,
                             cpu_s=round(self.cpu_s, 6))

    def stop(self, join_s: float = 5.0) -> None:
        if self._wake_w.fileno() == -1:
            return  # stopped already
        self.stopping.set()
        self._wake_w.send(b"x")
        if self.thread.ident is not None:
            self.thread.join(timeout=join_s)
        if not self.thread.is_alive():
            self._finish()  # no-op when the thread finished itself; else (never started) flush here
            self._wake_r.close()
            self._wake_w.close()
