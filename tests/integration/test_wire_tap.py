"""The wire tap on real traffic: loopback, then containers on a labelled scenario network.

A peer container (the agent image's python3) serves scripted TCP behaviours, the project's center
answers HTTP, and a client container makes one attempt of each kind; each tap must record each
attempt with the outcome the client itself saw, at a time inside the client's own bracket.
Nothing sleeps to synchronise: the test waits on the timeline with deadlines.
"""

from __future__ import annotations

import json
import secrets
import socket
import textwrap
import threading
import time

import pytest

from harness.config import LABEL_RUN, LABEL_SCENARIO, LABEL_WORLD
from harness.containers import CENTER_PORT, CenterContainer, StartleContainer, StartleNetwork
from harness.runtime import CENTER_IMAGE, Run, reap
from harness.timeline import Event, Timeline
from harness.wire import WireTap, attempts, bridge_interface, container_ip

CLIENT_IMAGE = "startle/agent:amd64"
TOLERANCE_S = 0.005
"""s allowed between the client's own clock readings and the kernel's timestamp of its SYN."""

PEER = textwrap.dedent("""
    import json, socket, struct, threading
    def listen(port, backlog):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", port)); s.listen(backlog); return s
    scripted, full_queue, sink = listen(7000, 8), listen(7002, 0), listen(7003, 8)
    def drain():
        while True:
            c, _ = sink.accept()
            while c.recv(1 << 16): pass
            c.close()
    threading.Thread(target=drain, daemon=True).start()
    print(json.dumps({"event": "listening"}), flush=True)
    held, n = [], 0
    while True:  # 7000: the n-th connection is closed, reset, left waiting, held open
        c, _ = scripted.accept(); n += 1; c.recv(100)
        if n == 1: c.close()
        elif n == 2: c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
        elif n == 3: c.recv(100); c.close()
        else: held.append(c)
""")

CLIENT = textwrap.dedent("""
    import json, socket, time
    keep = []
    def step(name, fn):
        t0 = time.time()
        try: result = fn()
        except OSError as exc: result = type(exc).__name__
        print(json.dumps({"step": name, "t0": t0, "t1": time.time(), "result": result}), flush=True)
    def connect(port, host="peer"):
        return socket.create_connection((host, port), timeout=5)
    def refused():
        connect(7001)
    def answered():
        c = connect(8080, "center"); c.sendall(REQUEST); data = b""
        while chunk := c.recv(4096): data += chunk
        c.close(); return data.split(b"\\r\\n")[0].decode()
    def talk():
        c = connect(7000); c.sendall(b"hello"); answer = c.recv(100); c.close(); return repr(answer)
    def give_up():
        c = connect(7000); c.sendall(b"hello"); c.settimeout(0.5)
        try: c.recv(100)
        finally: c.close()
    def syn_dropped():
        keep.append(connect(7002))  # fills 7002's accept queue (listen(0), never accepted)
        c = socket.socket(); c.settimeout(2.5); c.connect(("peer", 7002))
    def hold():
        c = connect(7000); c.sendall(b"hold"); keep.append(c); return "holding"
    REQUEST = b"GET /admin/health HTTP/1.1\\r\\nHost: center\\r\\nConnection: close\\r\\n\\r\\n"
    for name, fn in [("refused", refused), ("answered", answered), ("closed", talk), ("reset", talk),
                     ("abandoned", give_up), ("timed_out", syn_dropped), ("open", hold)]:
        step(name, fn)
    keep[-1].recv(100)  # until removed
""")

LOAD = textwrap.dedent("""
    import json, socket, time
    REQUEST = b"GET /admin/health HTTP/1.1\\r\\nHost: center\\r\\nConnection: close\\r\\n\\r\\n"
    bulk = socket.create_connection(("peer", 7003)); block = b"x" * (1 << 16)
    for i in range(N):
        c = socket.create_connection(("center", 8080), timeout=5); c.sendall(REQUEST)
        while c.recv(4096): pass
        c.close()
        for _ in range(BULK_BLOCKS): bulk.sendall(block)  # unrelated traffic the filter must keep out
    bulk.close()
    print(json.dumps({"step": "done", "n": N}), flush=True)
    time.sleep(3600)
""")


class Script(StartleContainer):
    """A python3 script in the agent image, on the scenario network as ``role``."""

    def __init__(self, role: str, script: str, name: str, labels: dict[str, str], network) -> None:
        self.role = role
        super().__init__(CLIENT_IMAGE, name, labels, network)
        self.with_kwargs(**self._kwargs, entrypoint="python3").with_command(["-u", "-c", script])


def follow(container: StartleContainer, timeline: Timeline) -> None:
    """Each JSON line the container prints becomes an event of source = its role (daemon thread)."""
    def run() -> None:
        buffer = b""
        try:
            for chunk in container.get_wrapped_container().logs(stream=True, follow=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    try:
                        record = json.loads(line)
                    except ValueError:
                        record = {"line": line.decode(errors="replace")}
                    timeline.add(Event(container.role, record.get("step") or record.get("event") or "line",
                                       time.time(), container.role, record))
        except Exception:  # noqa: BLE001  (the container was removed)
            return
    threading.Thread(target=run, daemon=True).start()


@pytest.fixture(scope="module")
def world(docker):
    """A labelled network with the center and the scripted peer; removed whatever happens."""
    run = Run()
    labels = run.labels(**{LABEL_SCENARIO: "wire", LABEL_WORLD: secrets.token_hex(6)})
    prefix = f"startle-{run.run_id}-wire"
    timeline = Timeline()
    try:
        network = StartleNetwork(prefix, labels).create()
        center = CenterContainer(CENTER_IMAGE, f"{prefix}-center", labels, network).start()
        peer = Script("peer", PEER, f"{prefix}-peer", labels, network).start()
        follow(peer, timeline)
        assert timeline.wait(lambda: timeline.first("peer", "listening") is not None, time.time() + 30), \
            peer.short_logs()
        yield {"network": network, "labels": labels, "prefix": prefix, "interface": bridge_interface(network),
               "center": container_ip(center, network.name), "peer": container_ip(peer, network.name)}
    finally:
        reap(docker, {LABEL_RUN: run.run_id})


def test_loopback_refused_and_answered():
    """The whole capture path without Docker: lo, where each packet is seen twice (kept once)."""
    timeline = Timeline()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    tap = WireTap(timeline, "lo", "127.0.0.1", port).start()
    try:
        t0 = time.time()
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"ping")
            conn, _ = server.accept()
            conn.recv(4)
            conn.sendall(b"pong!")
            conn.close()
        t1 = time.time()
        server.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port))
        assert timeline.wait(lambda: len(attempts(timeline)) == 2, time.time() + 5)
    finally:
        tap.stop()
    answered, refused = attempts(timeline)
    assert (answered.get("outcome"), refused.get("outcome")) == ("answered", "refused")
    assert [answered.get(k) for k in ("bytes_to_server", "bytes_from_server", "syn_retransmits")] == [4, 5, 0]
    assert t0 <= answered.t <= t1
    [capture] = timeline.select("wire", "capture")
    assert capture.get("kernel_drops") == 0 and capture.get("attempts") == 2


def test_each_outcome_on_a_scenario_network(world):
    timeline = Timeline()
    arrived: dict[tuple, float] = {}
    timeline.subscribe(lambda e: arrived.setdefault((e.source, e.kind, e.t), time.time()))
    taps = {name: WireTap(timeline, world["interface"], ip, port, container=name)
            for name, ip, port in [("center", world["center"], CENTER_PORT), ("peer", world["peer"], 7000),
                                   ("closed-port", world["peer"], 7001), ("full-queue", world["peer"], 7002)]}
    for tap in taps.values():
        tap.start()
    try:
        client = Script("client", CLIENT, f"{world['prefix']}-client", world["labels"], world["network"]).start()
        follow(client, timeline)
        client_ip = container_ip(client, world["network"].name)
        decided = {"refused", "answered", "closed", "reset", "abandoned", "timed_out"}
        done = lambda: (timeline.first("client", "open") is not None  # noqa: E731
                        and decided <= {e.get("outcome") for e in attempts(timeline)})
        assert timeline.wait(done, time.time() + 30), (client.short_logs(), timeline.to_records())
    finally:
        for tap in taps.values():
            tap.stop()
    steps = {e.kind: e for e in timeline.select("client")}
    wire = [e for e in attempts(timeline) if e.get("client_ip") == client_ip]
    filler, timed_out = [e for e in wire if e.container == "full-queue"]  # the queue's filler, then the dropped SYNs
    by_outcome = {e.get("outcome"): e for e in wire if e is not filler}

    # what the client saw, and what the wire says
    assert [steps[s].get("result") for s in ("refused", "answered", "closed", "reset", "abandoned", "timed_out")] == \
        ["ConnectionRefusedError", "HTTP/1.1 200 OK", "b''", "ConnectionResetError", "TimeoutError", "TimeoutError"]
    assert [(e.container, e.get("outcome")) for e in wire if e.container != "full-queue"] == [
        ("closed-port", "refused"), ("center", "answered"), ("peer", "closed"), ("peer", "reset"),
        ("peer", "abandoned"), ("peer", "open")]
    assert (filler.get("outcome"), timed_out.get("outcome")) == ("open", "timed_out")

    # each attempt's first SYN inside the client's bracket, and so in step order
    for step in ("refused", "answered", "closed", "reset", "abandoned", "timed_out", "open"):
        bracket = steps[step]
        assert bracket.get("t0") - TOLERANCE_S <= by_outcome[step].t <= bracket.get("t1") + TOLERANCE_S, step
    assert [e.t for e in wire] == sorted(e.t for e in wire)

    # the fields
    request = len(b"GET /admin/health HTTP/1.1\r\nHost: center\r\nConnection: close\r\n\r\n")
    answered = by_outcome["answered"]
    assert answered.get("bytes_to_server") == request and answered.get("bytes_from_server") > 0
    assert answered.get("server") == f"{world['center']}:{CENTER_PORT}" and answered.get("connected_s") < 0.1
    for outcome in ("closed", "reset", "abandoned"):
        assert by_outcome[outcome].get("bytes_to_server") == 5 and by_outcome[outcome].get("bytes_from_server") == 0
    assert abs(by_outcome["abandoned"].get("duration_s") - 0.5) < 0.2  # the client's 0.5-s read timeout
    assert timed_out.get("syn_retransmits") >= 1 and timed_out.get("decided_by") == "idle"
    assert 0.8 < timed_out.get("duration_s") < 2.5  # SYNs 1 s apart until the client gave up at 2.5 s
    decided_after = arrived[("wire", "connect", timed_out.t)] - timed_out.t - timed_out.get("duration_s")
    assert abs(decided_after - 3.0) < 0.5, decided_after  # silence of max(IDLE_S, 2.5 x 1-s gap) after the last SYN
    assert timed_out.get("connected_s") is None
    assert all(e.get("syn_retransmits") == 0 for e in wire if e is not timed_out)
    assert {e.get("decided_by") for e in wire if e.get("outcome") == "open"} == {"stop"}
    assert all(e.get("kernel_drops") == 0 for e in timeline.select("wire", "capture"))

    # how soon each decision reached the timeline
    for outcome in ("refused", "answered", "closed", "reset"):
        e = by_outcome[outcome]
        after_syn = arrived[("wire", "connect", e.t)] - e.t
        print(f"\nwire {outcome}: event {1000 * after_syn:.2f} ms after the first SYN, "
              f"{1000 * (after_syn - e.get('duration_s')):.2f} ms after the deciding packet")


@pytest.mark.parametrize("n,bulk_blocks", [(300, 16)])
def test_cpu_per_thousand_frames_and_unrelated_load_kept_out(world, n, bulk_blocks):
    timeline = Timeline()
    tap = WireTap(timeline, world["interface"], world["center"], CENTER_PORT).start()
    try:
        script = f"N, BULK_BLOCKS = {n}, {bulk_blocks}\n" + LOAD
        load = Script("load", script, f"{world['prefix']}-load", world["labels"], world["network"]).start()
        follow(load, timeline)
        finished = lambda: len(attempts(timeline, "answered")) >= n  # noqa: E731
        assert timeline.wait(finished, time.time() + 120), load.short_logs()
    finally:
        tap.stop()
    [capture] = timeline.select("wire", "capture")
    assert len(attempts(timeline, "answered")) == n and capture.get("kernel_drops") == 0
    # ~10 frames per HTTP exchange; 300 x 16 x 64 KiB of bulk on the same bridge never reached Python
    assert capture.get("frames") < 15 * n, capture.fields
    print(f"\nwire cpu: {capture.get('frames')} frames, {capture.get('cpu_s'):.3f} s CPU, "
          f"{1e6 * capture.get('cpu_s') / capture.get('frames'):.1f} ms per 1,000 frames")


def test_a_network_removed_under_the_tap_ends_the_capture_cleanly(docker):
    """Teardown order must not matter: the bridge vanishing is the end of capture, not an error."""
    run = Run()
    labels = run.labels(**{LABEL_SCENARIO: "wire-gone", LABEL_WORLD: secrets.token_hex(6)})
    timeline = Timeline()
    try:
        network = StartleNetwork(f"startle-{run.run_id}-wire-gone", labels).create()
        tap = WireTap(timeline, bridge_interface(network), "172.31.255.2", 80).start()
        network.remove()
        assert timeline.wait(lambda: timeline.first("wire", "capture") is not None, time.time() + 10)
        tap.stop()
    finally:
        reap(docker, {LABEL_RUN: run.run_id})
    assert timeline.first("wire", "capture").get("ended") == "interface_gone"
    assert timeline.select("harness") == []
