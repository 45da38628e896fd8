"""startle's own health probes: rounds, the last stage asked first, each change of answer recorded."""

import http.server
import socket
import threading

from harness.probes import HealthProbes, ask
from harness.profile import HealthSpec, Probe
from harness.timeline import Timeline


class Agent:
    """A tiny health server whose stages the test switches (a well-ordered agent)."""

    def __init__(self):
        self.stages = {"/startup": False, "/ready": False}
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200 if agent.stages.get(self.path) else 503)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]


def test_answers_change_in_order_and_are_stamped_by_round():
    agent = Agent()
    health = HealthSpec.model_validate({"startup": {"http": {"port": 1, "path": "/startup"}},
                                        "ready": {"http": {"port": 1, "path": "/ready"}}, "interval_s": 0.02})
    timeline = Timeline()
    probes = HealthProbes(timeline, health, lambda port: ("127.0.0.1", agent.port), lambda: None).start()
    try:
        assert timeline.wait(lambda: len(timeline.select("probe")) >= 2, timeline.start + 5)
        agent.stages["/startup"] = True
        assert timeline.wait(lambda: any(e.get("ok") for e in timeline.select("probe")), timeline.start + 5)
        agent.stages["/ready"] = True
        assert timeline.wait(lambda: sum(bool(e.get("ok")) for e in timeline.select("probe")) == 2,
                             timeline.start + 5)
    finally:
        probes.stop()
        agent.server.shutdown()
    changes = [(e.get("stage"), e.get("ok")) for e in timeline.select("probe")]
    assert changes == [("ready", False), ("startup", False), ("startup", True), ("ready", True)]
    first_yes = {e.get("stage"): e.t for e in timeline.select("probe") if e.get("ok")}
    assert first_yes["startup"] <= first_yes["ready"]


def test_tcp_probe_and_unreachable_port():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    assert ask(Probe(tcp={"port": 1883}), lambda p: ("127.0.0.1", port), lambda: None) == (True, "open")
    listener.close()
    assert ask(Probe(tcp={"port": 1883}), lambda p: ("127.0.0.1", port), lambda: None)[0] is False
    assert ask(Probe(tcp={"port": 1883}), lambda p: None, lambda: None)[0] is None


def test_docker_health_comes_from_events():
    health = HealthSpec.model_validate({"ready": {"docker": "healthy"}})
    timeline = Timeline()
    probes = HealthProbes(timeline, health, lambda port: None, lambda: None)
    timeline.subscribe(probes)
    timeline.record("docker", "health_status: unhealthy", "agent")
    timeline.record("docker", "health_status: healthy", "agent")
    assert [e.get("ok") for e in timeline.select("probe")] == [False, True]


def test_a_restart_is_seen_even_between_two_slow_rounds():
    agent = Agent()
    agent.stages["/ready"] = True
    health = HealthSpec.model_validate({"ready": {"http": {"port": 1, "path": "/ready"}}, "interval_s": 0.02})
    timeline = Timeline()
    probes = HealthProbes(timeline, health, lambda port: ("127.0.0.1", agent.port), lambda: None)
    timeline.subscribe(probes)
    probes.start()
    try:
        assert timeline.wait(lambda: len(timeline.select("probe")) == 1, timeline.start + 5)
        restart = timeline.record("docker", "start", "agent")  # the answer stays yes: only the restart tells
        assert timeline.wait(lambda: len(timeline.select("probe")) == 2, timeline.start + 5)
    finally:
        probes.stop()
        agent.server.shutdown()
    again = timeline.select("probe")[-1]
    assert again.get("ok") and again.t >= restart.t
