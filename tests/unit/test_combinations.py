"""Pairwise combinations are generated from member scenarios by one expected-outcome rule."""

from itertools import combinations

import pytest

from harness.combinations import PAIRS_FILE, combine, generate, startup_failure_rank
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


def test_preflight_order_picks_the_lower_exit_code():
    assert startup_failure_rank(member("env-missing")) == 0
    assert startup_failure_rank(member("device-missing")) == 5
    pair = combine(member("device-missing"), member("env-missing"))
    assert pair.checks[0].reason == "env"


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
