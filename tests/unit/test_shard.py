"""``startle run --shard K/N``: the plan (balanced, deterministic, round-robin fallback, every scenario
once), the ``--shard`` flag's validation, and which journal the plan is timed by."""

import random

import pytest

from harness.cli import EXIT_INPUT, main
from harness.errors import InputError
from harness.lifecycle import ScenarioResult
from harness.reports import write_run
from harness.runtime import Run
from harness.shard import Shard, assign, last_durations, parse_shard, shard_record

NAMES = [f"s{i:02d}" for i in range(20)]
DURATIONS = {name: float(3 + (i * 7) % 23) for i, name in enumerate(NAMES)}


def test_every_scenario_lands_in_exactly_one_shard_in_the_sets_order():
    for n in (1, 2, 3, 7, 25):
        plan = assign(NAMES, DURATIONS, n)
        together = [name for shard in plan.shards for name in shard]
        assert sorted(together) == sorted(NAMES) and len(plan.shards) == n
        for shard in plan.shards:
            assert shard == [name for name in NAMES if name in shard]


def test_longest_first_to_the_least_loaded_shard():
    plan = assign(["a", "b", "c", "d", "e"], {"a": 10.0, "b": 6.0, "c": 5.0, "d": 4.0, "e": 1.0}, 2)
    # a→1 (10), b→2 (6), c→2 (11), d→1 (14), e→2 (12)
    assert plan.shards == [["a", "d"], ["b", "c", "e"]] and plan.predicted_s == [14.0, 12.0]


def test_balance_on_a_realistic_set_is_near_the_mean():
    plan = assign(NAMES, DURATIONS, 3)
    mean = sum(DURATIONS.values()) / 3
    assert max(plan.predicted_s) <= mean + max(DURATIONS.values()) / 3 + 1e-9
    assert sum(plan.predicted_s) == pytest.approx(sum(DURATIONS.values()))


def test_the_plan_does_not_depend_on_the_input_order_of_equal_durations():
    names = ["b", "a", "d", "c"]
    tied = {name: 5.0 for name in names}
    plan = assign(names, tied, 2)
    assert plan.shards == [["a", "c"], ["b", "d"]]  # ties by name: a→1, b→2, c→1, d→2
    shuffled = names[:]
    random.Random(1).shuffle(shuffled)
    other = assign(shuffled, dict(reversed(list(tied.items()))), 2)
    assert [sorted(s) for s in other.shards] == [sorted(s) for s in plan.shards]


def test_untimed_scenarios_go_round_robin_by_name_after_the_timed_ones():
    plan = assign(["z", "y", "x", "w", "v"], {}, 2)
    assert plan.shards == [["z", "x", "v"], ["y", "w"]] and plan.timings_from is None  # v→1, w→2, x→1, y→2, z→1
    # with timings, the dealing starts at the least-loaded shard: t (10 s) fills shard 1 first
    timed = assign(["t", "c", "b", "a"], {"t": 10.0}, 2, "run-1")
    assert timed.shards == [["t", "b"], ["c", "a"]] and timed.predicted_s == [10.0, 0.0]


def test_a_duplicate_name_cannot_be_sharded():
    with pytest.raises(InputError, match="given twice: a"):
        assign(["a", "b", "a"], {}, 2)


@pytest.mark.parametrize("text", ["0/3", "4/3", "x", "1/0", "-1/3", "2", "", "1/3/4"])
def test_an_invalid_shard_is_refused_with_the_flag_and_the_fix(text):
    with pytest.raises(InputError, match=r"--shard: .*fix: .*K"):
        parse_shard(text)


def test_valid_shards_parse():
    assert parse_shard("1/1") == Shard(1, 1) and parse_shard(" 3 / 3 ") == Shard(3, 3) and str(Shard(2, 5)) == "2/5"


def test_run_with_an_invalid_shard_exits_2_before_touching_docker(capsys):
    assert main(["run", "--shard", "4/3", "baseline"]) == EXIT_INPUT
    assert "--shard: 4/3: shard 4 of 3 does not exist" in capsys.readouterr().err


def result(name, wall_s):
    return ScenarioResult(name, "f", status="pass", started=100.0, finished=100.0 + wall_s)


def test_the_plan_is_timed_by_latest_and_shards_run_in_turn_keep_its_timings(tmp_path):
    assert last_durations(tmp_path) == (None, {})  # no journal yet: round-robin
    write_run(Run(reports_root=tmp_path, run_id="whole"), [result("a", 9.0), result("b", 2.0)], {}, 200.0)
    assert last_durations(tmp_path) == ("whole", {"a": 9.0, "b": 2.0})
    record = shard_record(Shard(1, 2), ["a", "b", "c"], ["reference"], None, tmp_path)
    assert record["timings_from"] == "whole" and record["names"] == ["a"] and record["of"] == 3
    write_run(Run(reports_root=tmp_path, run_id="shard-1"), [result("a", 30.0)], {}, 200.0, shard=record)
    # latest is now shard 1: shard 2 is planned from the journal shard 1 was planned from
    assert last_durations(tmp_path)[0] == "whole"
    assert shard_record(Shard(2, 2), ["a", "b", "c"], ["reference"], None, tmp_path)["names"] == ["b", "c"]
    (tmp_path / "whole" / "results.json").unlink()  # its basis is gone: no timings, not shard 1's
    assert last_durations(tmp_path) == (None, {})


def test_a_run_with_several_jobs_starts_untimed_then_longest_and_shortest_alternately():
    from harness.shard import start_order
    assert start_order(["a", "b", "c", "d"], {"a": 1.0, "b": 5.0, "d": 3.0}) == [2, 1, 0, 3]
    assert start_order(["x", "y"], {}) == [0, 1]  # no journal: the given order
    walls = {"s1": 1.0, "s2": 1.0, "long": 50.0, "s3": 1.0, "mid": 10.0, "longer": 60.0}
    order = [list(walls)[i] for i in start_order(list(walls), walls)]
    assert order == ["longer", "s3", "long", "s2", "mid", "s1"]  # ties of the short ones: the given order, from the end
