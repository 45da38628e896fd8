"""Pairwise combinations are generated from member scenarios by one expected-outcome rule."""

from itertools import combinations

import pytest

from harness.combinations import PAIRS_FILE, combine, generate, startup_failure
from harness.profile import load_profile
from harness.errors import InputError
from harness.scenario import load_scenario
from harness.config import SCENARIOS_DIR


def member(name):
    return load_scenario(SCENARIOS_DIR / f"{name}.yaml")


def test_every_cross_family_pair_is_generated_once():
    pairs = generate()
    names = [p.name for p in pairs]
    assert len(names) == len(set(names)) == 15  # 6 members, one per family: C(6, 2)
    assert all(p.family == "combination" for p in pairs)


def test_a_startup_failure_decides_the_pair():
    pair = combine(member("toxic-latency"), member("env-missing"))
    assert [c.type for c in pair.checks] == ["exits", "diagnosis", "never_ready"]
    assert pair.checks[0].reason == "env"
    assert {f.type for f in pair.faults} == {"toxic_latency", "env"}


def test_the_profiles_preflight_order_decides_between_two_failures():
    assert startup_failure(member("env-missing")) == "env"
    assert startup_failure(member("device-missing")) == "device"
    order = load_profile("reference").preflight_order
    pair = combine(member("device-missing"), member("env-missing"), order)
    assert pair.checks[0].reason == "env" and pair.missing(load_profile("reference")) == []
    backwards = combine(member("device-missing"), member("env-missing"), order[::-1])
    assert backwards.checks[0].reason == "device"


def test_two_failures_without_a_declared_order_skip_naming_the_field():
    pair = combine(member("device-missing"), member("env-missing"), None)
    assert any(m.startswith("preflight_order") for m in pair.missing(load_profile("tp-prometheus")))
    alone = combine(member("toxic-latency"), member("env-missing"), None)  # one failure: no order needed
    assert alone.checks[0].reason == "env" and not alone.needs


def test_two_survivable_faults_must_still_come_up_within_the_summed_bounds():
    a, b = member("toxic-latency"), member("center-503-then-ok")
    pair = combine(a, b)
    ready = next(c for c in pair.checks if c.type == "ready")
    assert ready.within_s == 16 + 22
    assert pair.deadline_s == a.deadline_s + b.deadline_s


def test_members_must_come_from_different_families(tmp_path):
    spec = tmp_path / "pairs.yaml"
    spec.write_text("members: [config-missing, config-late]\n")
    with pytest.raises(InputError, match="one member scenario per family"):
        generate(spec)


def test_exclusive_families_are_left_out(tmp_path):
    spec = tmp_path / "pairs.yaml"
    spec.write_text("members: [toxic-latency, env-missing, config-late]\nexclusive: [[network, env]]\n")
    assert len(generate(spec)) == len(list(combinations(range(3), 2))) - 1
    assert PAIRS_FILE.exists()
