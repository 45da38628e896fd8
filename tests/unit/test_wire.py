"""The wire tap's frame parser, connection state machine and BPF filter, fed crafted frames (no Docker)."""

from __future__ import annotations

import socket
import struct

import pytest

from harness.errors import InfrastructureError
from harness.timeline import Timeline
from harness.wire import (ACK, FIN, IDLE_S, RST, SNAPLEN, SYN, ConnectionTracker, WireTap, bpf_program,
                          bridge_interface, parse_frame)

SERVER, PORT = "172.18.0.3", 18080
AGENT = "172.18.0.4"
PSH = 0x08


def frame(src: str, sport: int, dst: str, dport: int, flags: int, seq: int = 0, ack: int = 0,
          payload: bytes = b"", *, ethertype: int = 0x0800, proto: int = 6, frag: int = 0x4000,
          ip_options: bytes = b"", tcp_options: bytes = b"") -> bytes:
    """An Ethernet/IPv4/TCP frame as it crosses a bridge (checksums left at 0: nobody checks them)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      (5 + len(tcp_options) // 4) << 4, flags, 65535, 0, 0) + tcp_options + payload
    ihl = 5 + len(ip_options) // 4
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(tcp), 1, frag, 64, proto, 0,
                     socket.inet_aton(src), socket.inet_aton(dst)) + ip_options
    return b"\x02\x42\xac\x12\x00\x03" + b"\x02\x42\xac\x12\x00\x04" + struct.pack("!H", ethertype) + ip + tcp


class Conn:
    """One client connection's frames, with sequence numbers kept right."""

    def __init__(self, client_port: int, client: str = AGENT, isn: int = 1000, server_isn: int = 9000) -> None:
        self.client, self.port, self.isn, self.server_isn = client, client_port, isn, server_isn
        self.sent, self.received = 0, 0

    def syn(self) -> bytes:
        return frame(self.client, self.port, SERVER, PORT, SYN, self.isn)

    def syn_ack(self) -> bytes:
        return frame(SERVER, PORT, self.client, self.port, SYN | ACK, self.server_isn, self.isn + 1)

    def refuse(self) -> bytes:
        return frame(SERVER, PORT, self.client, self.port, RST | ACK, 0, self.isn + 1)

    def ack(self) -> bytes:
        return frame(self.client, self.port, SERVER, PORT, ACK, self.isn + 1 + self.sent,
                     self.server_isn + 1 + self.received)

    def send(self, data: bytes, seq_at: int | None = None) -> bytes:
        at = self.sent if seq_at is None else seq_at
        out = frame(self.client, self.port, SERVER, PORT, ACK | PSH, self.isn + 1 + at,
                    self.server_isn + 1 + self.received, data)
        self.sent = max(self.sent, at + len(data))
        return out

    def answer(self, data: bytes, flags: int = ACK | PSH) -> bytes:
        out = frame(SERVER, PORT, self.client, self.port, flags, self.server_isn + 1 + self.received,
                    self.isn + 1 + self.sent, data)
        self.received += len(data)
        return out

    def server(self, flags: int) -> bytes:
        return frame(SERVER, PORT, self.client, self.port, flags, self.server_isn + 1 + self.received,
                     self.isn + 1 + self.sent)

    def client_flags(self, flags: int) -> bytes:
        return frame(self.client, self.port, SERVER, PORT, flags, self.isn + 1 + self.sent,
                     self.server_isn + 1 + self.received)


def feed(tracker: ConnectionTracker, *timed_frames: tuple[float, bytes]) -> list:
    events = []
    for t, raw in timed_frames:
        segment = parse_frame(raw)
        assert segment is not None
        events += tracker.feed(segment, t)
    return events


def tracker(**kw) -> ConnectionTracker:
    return ConnectionTracker(SERVER, PORT, **kw)


# --- parse_frame -----------------------------------------------------------------------------

def test_parse_frame_reads_the_tcp_header_and_payload_length():
    seg = parse_frame(frame(AGENT, 40000, SERVER, PORT, ACK | PSH, 5, 7, b"hello"))
    assert (seg.src, seg.sport, seg.dst, seg.dport, seg.seq, seg.ack_seq, seg.payload_len) == \
        (AGENT, 40000, SERVER, PORT, 5, 7, 5)
    assert seg.has(ACK) and not seg.has(SYN)


def test_parse_frame_with_options_and_a_capture_cut_after_the_headers():
    raw = frame(AGENT, 40000, SERVER, PORT, ACK, 5, 7, b"x" * 1000, ip_options=b"\x01" * 4, tcp_options=b"\x01" * 12)
    cut = raw[:SNAPLEN]  # what the kernel filter copies: the payload length still comes from the IP header
    for data in (raw, cut):
        seg = parse_frame(data)
        assert seg is not None and seg.payload_len == 1000 and seg.dport == PORT


@pytest.mark.parametrize("raw", [
    frame(AGENT, 1, SERVER, PORT, SYN, ethertype=0x0806),                 # ARP
    frame(AGENT, 1, SERVER, PORT, SYN, ethertype=0x86DD),                 # IPv6
    frame(AGENT, 1, SERVER, PORT, SYN, proto=17),                         # UDP
    frame(AGENT, 1, SERVER, PORT, SYN, frag=0x2000),                      # first fragment (MF)
    frame(AGENT, 1, SERVER, PORT, SYN, frag=0x0010),                      # later fragment
    frame(AGENT, 1, SERVER, PORT, SYN)[:40],                              # TCP header cut short
    b"",
], ids=["arp", "ipv6", "udp", "mf", "offset", "short", "empty"])
def test_parse_frame_ignores_what_is_not_a_whole_ipv4_tcp_header(raw):
    assert parse_frame(raw) is None


# --- outcomes --------------------------------------------------------------------------------

def test_refused():
    c = Conn(40001)
    [event] = feed(tracker(), (10.0, c.syn()), (10.0002, c.refuse()))
    assert (event.source, event.kind, event.container, event.t) == ("wire", "connect", "agent", 10.0)
    assert event.fields == {"outcome": "refused", "client_ip": AGENT, "client_port": 40001,
                            "server": f"{SERVER}:{PORT}", "syn_retransmits": 0, "connected_s": None,
                            "duration_s": 0.0002, "bytes_to_server": 0, "bytes_from_server": 0,
                            "decided_by": "packet"}


def test_answered_counts_bytes_once_and_is_decided_by_the_first_server_byte():
    c, tr = Conn(40002), tracker()
    events = feed(tr, (1.0, c.syn()), (1.001, c.syn_ack()), (1.0011, c.ack()), (1.002, c.send(b"x" * 100)),
                  (1.3, c.send(b"x" * 100, seq_at=0)),  # a retransmission
                  (1.31, c.send(b"y" * 20)), (1.5, c.answer(b"H" * 50)))
    [event] = events
    assert event.get("outcome") == "answered" and event.t == 1.0
    assert (event.get("connected_s"), event.get("duration_s")) == (0.001, 0.5)
    assert (event.get("bytes_to_server"), event.get("bytes_from_server")) == (120, 50)
    # the rest of the connection adds nothing
    assert feed(tr, (1.6, c.answer(b"H" * 50)), (1.7, c.server(FIN | ACK)), (1.8, c.client_flags(FIN | ACK))) == []


def test_a_server_keepalive_probe_is_not_an_answer():
    c, tr = Conn(40003), tracker()
    probe = frame(SERVER, PORT, AGENT, 40003, ACK, c.server_isn, c.isn + 1, b"\x00")  # seq = ISN: old byte
    assert feed(tr, (1.0, c.syn()), (1.001, c.syn_ack()), (5.0, probe)) == []


@pytest.mark.parametrize("flags,outcome", [(RST | ACK, "reset"), (FIN | ACK, "closed")])
def test_the_server_ends_a_connection_without_answering(flags, outcome):
    c = Conn(40004)
    [event] = feed(tracker(), (2.0, c.syn()), (2.001, c.syn_ack()), (2.002, c.send(b"GET / HTTP/1.1\r\n\r\n")),
                   (2.5, c.server(flags)))
    assert event.get("outcome") == outcome and event.get("duration_s") == 0.5
    assert event.get("bytes_to_server") == 18 and event.get("bytes_from_server") == 0


def test_a_fin_carrying_the_answer_is_answered():
    c = Conn(40005)
    [event] = feed(tracker(), (2.0, c.syn()), (2.001, c.syn_ack()), (2.1, c.answer(b"bye", FIN | ACK | PSH)))
    assert event.get("outcome") == "answered"


def test_the_client_gives_up_waiting():
    c, d = Conn(40006), Conn(40007)
    tr = tracker()
    [by_fin] = feed(tr, (3.0, c.syn()), (3.001, c.syn_ack()), (3.002, c.send(b"req")),
                    (8.0, c.client_flags(FIN | ACK)), (8.001, c.server(FIN | ACK)))
    [by_rst] = feed(tr, (3.5, d.syn()), (3.501, d.syn_ack()), (9.0, d.client_flags(RST | ACK)))
    assert [by_fin.get("outcome"), by_rst.get("outcome")] == ["abandoned", "abandoned"]
    assert by_fin.get("duration_s") == 5.001 and by_rst.get("duration_s") == 5.5


def test_a_half_closed_client_still_gets_its_answer():
    c = Conn(40008)
    [event] = feed(tracker(), (3.0, c.syn()), (3.001, c.syn_ack()), (3.002, c.send(b"req")),
                   (3.003, c.client_flags(FIN | ACK)), (3.2, c.answer(b"ok")))
    assert event.get("outcome") == "answered"


def test_after_a_client_fin_silence_decides_abandoned():
    c, tr = Conn(40009), tracker()
    assert feed(tr, (3.0, c.syn()), (3.001, c.syn_ack()), (4.0, c.client_flags(FIN | ACK))) == []
    assert tr.next_deadline() == 4.0 + IDLE_S
    [event] = tr.due(4.0 + IDLE_S)
    assert event.get("outcome") == "abandoned" and event.get("decided_by") == "idle" and event.get("duration_s") == 1.0


def test_retransmitted_syns_are_one_attempt_timed_out_after_the_doubled_gap():
    c, tr = Conn(40010), tracker()
    assert feed(tr, (0.0, c.syn()), (1.0, c.syn()), (3.0, c.syn())) == []
    # gaps 1 s then 2 s: Linux's next SYN would come 4 s later; 2.5 x 2 s = 5 s of silence decides
    assert tr.next_deadline() == 3.0 + max(IDLE_S, 5.0)
    assert tr.due(7.99) == []
    [event] = tr.due(8.0)
    assert event.get("outcome") == "timed_out" and event.get("syn_retransmits") == 2
    assert event.get("duration_s") == 3.0 and event.get("decided_by") == "idle" and event.t == 0.0
    assert tr.next_deadline() is None
    assert feed(tr, (15.0, c.syn())) == [] and tr.open == {}  # a late retransmission: not a new attempt


def test_a_single_unanswered_syn_times_out_after_idle_s():
    c, tr = Conn(40011), tracker()
    feed(tr, (0.0, c.syn()))
    assert tr.due(IDLE_S - 0.001) == [] and len(tr.due(IDLE_S)) == 1


def test_a_new_isn_on_the_same_port_is_a_new_attempt():
    first, second = Conn(40012, isn=1000), Conn(40012, isn=555_555)
    tr = tracker()
    [old] = feed(tr, (0.0, first.syn()), (0.5, second.syn()))
    assert old.get("outcome") == "timed_out" and old.t == 0.0
    [new] = feed(tr, (0.501, second.refuse()))
    assert new.get("outcome") == "refused" and new.t == 0.5


def test_stop_decides_what_is_left():
    waiting, talking, closing = Conn(40013), Conn(40014), Conn(40015)
    tr = tracker()
    feed(tr, (1.0, waiting.syn()), (2.0, talking.syn()), (2.001, talking.syn_ack()), (2.002, talking.send(b"poll")),
         (3.0, closing.syn()), (3.001, closing.syn_ack()), (3.5, closing.client_flags(FIN | ACK)))
    events = tr.flush()
    assert [(e.t, e.get("outcome"), e.get("decided_by")) for e in events] == \
        [(1.0, "timed_out", "stop"), (2.0, "open", "stop"), (3.0, "abandoned", "stop")]
    assert events[1].get("connected_s") == 0.001 and events[1].get("bytes_to_server") == 4
    assert tr.open == {} and tr.flush() == []


def test_two_parallel_connections_keep_their_own_state():
    a, b = Conn(40016, isn=10), Conn(40017, isn=4_294_967_000)  # b's sequence numbers wrap around 2**32
    events = feed(tracker(), (1.0, a.syn()), (1.0001, b.syn()), (1.001, b.syn_ack()), (1.0011, a.syn_ack()),
                  (1.002, b.send(b"b" * 500)), (1.003, a.send(b"a" * 7)), (1.01, a.server(RST | ACK)),
                  (1.02, b.answer(b"ok")))
    assert [(e.t, e.get("client_port"), e.get("outcome"), e.get("bytes_to_server")) for e in events] == \
        [(1.0, 40016, "reset", 7), (1.0001, 40017, "answered", 500)]


def test_unrelated_traffic_is_ignored():
    tr = tracker()
    other = [frame(AGENT, 40020, SERVER, 8474, SYN, 1),                             # other port
             frame(SERVER, 8474, AGENT, 40020, RST | ACK, 0, 2),
             frame(AGENT, 40021, "172.18.0.9", PORT, SYN, 1),                       # other server
             frame(SERVER, PORT, AGENT, 40022, ACK | PSH, 1, 1, b"mid-stream")]     # began before the tap
    assert feed(tr, *[(1.0, raw) for raw in other]) == [] and tr.open == {}


def test_client_ip_keeps_one_client():
    mine, theirs = Conn(40030), Conn(40031, client="172.18.0.9")
    events = feed(tracker(client_ip=AGENT), (1.0, theirs.syn()), (1.0, mine.syn()),
                  (1.1, theirs.refuse()), (1.1, mine.refuse()))
    assert [e.get("client_ip") for e in events] == [AGENT]


def test_a_rst_that_does_not_answer_our_syn_is_ignored():
    c, tr = Conn(40040), tracker()
    stray = frame(SERVER, PORT, AGENT, 40040, RST | ACK, 0, c.isn + 77)
    assert feed(tr, (1.0, c.syn()), (1.1, stray)) == [] and len(tr.open) == 1


# --- the kernel filter, run by a small classic-BPF interpreter -------------------------------

def run_bpf(program: bytes, packet: bytes) -> int:
    """Bytes accepted by ``program`` (0 = dropped): only the instructions bpf_program emits."""
    insns = [struct.unpack_from("HBBI", program, i) for i in range(0, len(program), 8)]
    a = x = pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x28:
            a = struct.unpack_from("!H", packet, k)[0]
        elif code == 0x30:
            a = packet[k]
        elif code == 0x20:
            a = struct.unpack_from("!I", packet, k)[0]
        elif code == 0xB1:
            x = 4 * (packet[k] & 0x0F)
        elif code == 0x48:
            a = struct.unpack_from("!H", packet, x + k)[0]
        elif code == 0x15:
            pc += jt if a == k else jf
        elif code == 0x45:
            pc += jt if a & k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unknown opcode {code:#x}")


def test_the_bpf_filter_keeps_both_directions_of_the_server_port_only():
    program = bpf_program(SERVER, PORT)
    keep = [frame(AGENT, 40000, SERVER, PORT, SYN), frame(SERVER, PORT, AGENT, 40000, SYN | ACK),
            frame(AGENT, 40000, SERVER, PORT, ACK, ip_options=b"\x01" * 8)]
    drop = [frame(AGENT, 40000, SERVER, 8474, SYN), frame(SERVER, 8474, AGENT, 40000, ACK),
            frame(AGENT, PORT, "172.18.0.9", 40000, SYN),           # the port, but on another host
            frame(SERVER, 40000, AGENT, PORT, SYN),                 # the server as a client of PORT elsewhere
            frame(AGENT, 40000, SERVER, PORT, SYN, proto=17), frame(AGENT, 40000, SERVER, PORT, SYN, frag=0x2000),
            frame(AGENT, 40000, SERVER, PORT, SYN, ethertype=0x86DD)]
    assert [run_bpf(program, raw) for raw in keep] == [SNAPLEN] * 3
    assert [run_bpf(program, raw) for raw in drop] == [0] * len(drop)


# --- interface lookup and errors -------------------------------------------------------------

def test_bridge_interface_from_the_network_attrs():
    attrs = {"Id": "e9522df57464aaaabbbbcccc", "Name": "n", "Driver": "bridge", "Options": {}}
    assert bridge_interface(attrs) == "br-e9522df57464"
    attrs["Options"] = {"com.docker.network.bridge.name": "docker0"}
    assert bridge_interface(attrs) == "docker0"

    class Model:  # docker-py's Network
        pass
    model = Model()
    model.attrs = {"Id": "0123456789abcdef", "Driver": "bridge", "Options": None}
    assert bridge_interface(model) == "br-0123456789ab"
    with pytest.raises(InfrastructureError, match="bridge"):
        bridge_interface({"Id": "x", "Name": "h", "Driver": "host"})


def test_a_missing_interface_is_an_infrastructure_error_naming_the_fix():
    tap = WireTap(Timeline(), "br-doesnotexist", SERVER, PORT)
    with pytest.raises(InfrastructureError, match="no network interface 'br-doesnotexist'.*fix"):
        tap.start()
    tap.stop()  # never started: still safe, and adds nothing
    tap.stop()
    assert len(tap.timeline) == 0
