"""Network-fault plugins map unit-named parameters onto Toxiproxy's attributes; config_override
edits the scenario's copy of the config (no Docker: fake admin objects)."""

import configparser
import json
import threading
import tomllib

import pytest
import yaml

from harness.containers import ConfigCopy
from harness.faults import FAULTS
from harness.faults._config import MALFORMED
from harness.faults.config_override import ConfigOverride
from harness.faults.toxics import Flapping
from harness.profile import load_profile
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


KEYS = {"registration_deadline_s": "retry.deadline_s", "breaker_threshold": "breaker.threshold"}


def test_config_override_edits_the_scenario_copy(tmp_path):
    (tmp_path / "agent.json").write_text(json.dumps({"retry": {"base_ms": 100, "deadline_s": 120}}))
    spec = AgentSpec(image="x", env={}, config=ConfigCopy(tmp_path, "/app/config", "agent.json", "json", KEYS))
    ConfigOverride(set={"registration_deadline_s": 3, "breaker_threshold": 12}).on_create(spec)
    config = json.loads((tmp_path / "agent.json").read_text())
    assert config == {"retry": {"base_ms": 100, "deadline_s": 3}, "breaker": {"threshold": 12}}


@pytest.mark.parametrize("name,text,read", [
    ("agent.yaml", "retry:\n  deadline_s: 120  # s\n", lambda t: yaml.safe_load(t)["retry"]["deadline_s"]),
    ("agent.toml", "# the agent\n[retry]\ndeadline_s = 120\n", lambda t: tomllib.loads(t)["retry"]["deadline_s"]),
    ("agent.ini", "[retry]\ndeadline_s = 120\n", lambda t: ini(t)["retry"]["deadline_s"]),
])
def test_config_override_knows_yaml_toml_and_ini(tmp_path, name, text, read):
    (tmp_path / name).write_text(text)
    fmt = name.rsplit(".", 1)[1]
    spec = AgentSpec(image="x", env={}, config=ConfigCopy(tmp_path, "/etc/agent", name, fmt, KEYS))
    ConfigOverride(set={"registration_deadline_s": 3}).on_create(spec)
    assert str(read((tmp_path / name).read_text())) == "3"
    if fmt == "toml":
        assert "# the agent" in (tmp_path / name).read_text()  # comments kept


def ini(text):
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser


@pytest.mark.parametrize("fmt,parse", [("json", json.loads), ("yaml", yaml.safe_load), ("toml", tomllib.loads),
                                       ("ini", ini)])
def test_malformed_config_of_each_format_is_refused_by_its_parser(fmt, parse):
    with pytest.raises(Exception):
        parse(MALFORMED[fmt])


def test_config_override_skips_without_the_key_declared():
    profile = load_profile("reference").model_copy(deep=True)
    profile.config.keys.pop("breaker_threshold")
    assert ConfigOverride(set={"breaker_threshold": 12}).missing(profile) == ["config.keys.breaker_threshold"]
