"""Network-fault plugins map unit-named parameters onto Toxiproxy's attributes; config_override
edits the scenario's copy of the config (no Docker: fake admin objects)."""

import json
import threading

import pytest

from harness.faults import FAULTS
from harness.faults.config_override import ConfigOverride
from harness.faults.toxics import Flapping
from harness.runtime import AgentSpec
from harness.timeline import Timeline


class FakeToxiproxy:
    def __init__(self):
        self.calls = []
        self.changed = threading.Event()

    def add_toxic(self, proxy, toxic_type, name, stream="downstream", toxicity=1.0, **attributes):
        self.calls.append(("add", proxy, toxic_type, name, stream, toxicity, attributes))

    def remove_toxic(self, proxy, name):
        self.calls.append(("remove", proxy, name))

    def set_enabled(self, name, enabled):
        self.calls.append(("enabled", name, enabled))
        self.changed.set()


class FakeWorld:
    def __init__(self):
        self.toxiproxy = FakeToxiproxy()
        self.timeline = Timeline()


@pytest.mark.parametrize("spec, toxic, attributes", [
    ({"type": "toxic_latency", "latency_ms": 300, "jitter_ms": 100}, "latency", {"latency": 300, "jitter": 100}),
    ({"type": "toxic_timeout", "timeout_ms": 0}, "timeout", {"timeout": 0}),
    ({"type": "toxic_reset_peer", "timeout_ms": 50}, "reset_peer", {"timeout": 50}),
    ({"type": "toxic_bandwidth", "rate_kb_s": 1}, "bandwidth", {"rate": 1}),
    ({"type": "toxic_slicer", "average_size_bytes": 8, "size_variation_bytes": 4, "delay_us": 2000}, "slicer",
     {"average_size": 8, "size_variation": 4, "delay": 2000}),
])
def test_toxics_map_units_onto_toxiproxy_attributes(spec, toxic, attributes):
    fault = FAULTS[spec["type"]](**spec, stream="upstream", toxicity_pct=50)
    world = FakeWorld()
    fault.apply(world)
    fault.clear(world)
    add, remove = world.toxiproxy.calls
    assert add == ("add", "center", toxic, fault.toxic_name, "upstream", 0.5, attributes)
    assert remove == ("remove", "center", fault.toxic_name)
    assert fault.family == "network"


def test_flapping_goes_down_first_and_ends_up():
    world = FakeWorld()
    fault = Flapping(down_s=0.05, up_s=0.05)
    fault.apply(world)
    flaps = lambda: len(world.timeline.select("fault", "flap"))  # noqa: E731
    assert world.timeline.wait(lambda: flaps() >= 3, deadline=world.timeline.start + 5)
    fault.clear(world)
    assert world.toxiproxy.calls[0] == ("enabled", "center", False)
    assert world.toxiproxy.calls[-1] == ("enabled", "center", True)
    assert [e.get("enabled") for e in world.timeline.select("fault", "flap")][:3] == [False, True, False]


def test_config_override_edits_the_scenario_copy(tmp_path):
    (tmp_path / "agent.json").write_text(json.dumps({"retry": {"base_ms": 100, "deadline_s": 120}}))
    spec = AgentSpec(image="x", env={}, volumes={str(tmp_path): {"bind": "/app/config", "mode": "ro"}})
    ConfigOverride(set={"retry.deadline_s": 3, "breaker.threshold": 12}).on_create(spec)
    config = json.loads((tmp_path / "agent.json").read_text())
    assert config == {"retry": {"base_ms": 100, "deadline_s": 3}, "breaker": {"threshold": 12}}
