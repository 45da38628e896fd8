"""ddmin over inferred faults, and the bisection of a numeric limit, against a known cause (no Docker)."""

from __future__ import annotations

import threading

from harness.evidence.minimise import FAIL, PASS, UNRESOLVED, Minimiser, key_of, minimise

MEMORY = {"type": "memory_limit", "memory_mb": 48}
CONFIG = {"type": "config_override", "keys": {"init_buffer_mb": 96}}
RESTART = {"type": "restart_policy", "name": "no"}
PADDING = [{"type": "cpu_limit", "cpus": 1.5}, {"type": "pids_limit", "pids": 500},
           {"type": "env", "values": {"SITE": "plant-4"}}]


def oom_node(faults, label) -> bool:
    """The padded three-cause node: it fails when all three causes are there and memory ≤ 104 MiB."""
    memory = next((f["memory_mb"] for f in faults if f["type"] == "memory_limit"), None)
    return (CONFIG in faults and RESTART in faults and memory is not None and memory <= 104)


def test_the_padded_three_cause_node_minimises_to_exactly_its_three_causes():
    minimiser = Minimiser(oom_node, k=2, jobs=3)
    found = minimise([PADDING[0], MEMORY, CONFIG, PADDING[1], RESTART, PADDING[2]], minimiser,
                     lenient=lambda kind: 512 if kind == "memory_limit" else None)
    assert sorted(map(key_of, found.faults)) == sorted(map(key_of, [MEMORY, CONFIG, RESTART]))
    assert sorted(map(key_of, found.irrelevant)) == sorted(map(key_of, PADDING))
    (limit,) = found.thresholds  # bracketed within 5 %
    assert limit["fault"] == "memory_limit" and limit["node"] == 48
    assert limit["largest_failing"] <= 104 < limit["smallest_passing"] <= limit["largest_failing"] * 1.05 + 1
    assert found.runs == 2 * len(minimiser.cache) and found.runs < 2 * 30


def test_a_flaky_candidate_is_unresolved_and_never_counts_as_failing():
    calls = iter([True, False] * 50)
    lock = threading.Lock()

    def flaky(faults, label):
        with lock:
            return True if MEMORY in faults else next(calls) if faults else False

    minimiser = Minimiser(flaky, k=2, jobs=1)
    assert minimiser.outcomes([[MEMORY], [CONFIG], []]) == [FAIL, UNRESOLVED, PASS]
    found = minimise([CONFIG, MEMORY], minimiser, lenient=lambda kind: None, bisect=False)
    assert found.faults == [MEMORY]


def test_outcomes_are_cached_by_candidate_and_kept_on_disk(tmp_path):
    runs = []
    minimiser = Minimiser(lambda faults, label: runs.append(label) or bool(faults), k=3, jobs=2,
                          cache_path=tmp_path / "cache.json")
    assert minimiser.outcomes([[MEMORY], [MEMORY], []]) == [FAIL, FAIL, PASS] and len(runs) == 6
    again = Minimiser(lambda faults, label: runs.append(label), k=3, cache_path=tmp_path / "cache.json")
    assert again.outcomes([[MEMORY]]) == [FAIL] and again.runs == 0 and len(runs) == 6


def test_a_scenario_that_does_not_reproduce_is_not_minimised_and_an_empty_cause_is_said():
    never = minimise([MEMORY, CONFIG], Minimiser(lambda f, label: False), lenient=lambda kind: None)
    assert not never.reproduces and never.faults == [MEMORY, CONFIG]
    always = minimise([MEMORY, CONFIG], Minimiser(lambda f, label: True), lenient=lambda kind: None)
    assert always.reproduces and always.faults == [] and always.irrelevant == [MEMORY, CONFIG]
