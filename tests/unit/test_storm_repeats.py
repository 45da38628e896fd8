"""`startle storm --repeat K`: medians over repeats (NaN = never as +infinity), rankings of
medians, the tables' "median (min–max)", and the repeat loop with its seeds (locust faked)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from harness.profile import load_profile
from harness.storm import metrics, modes, report, runner
from harness.storm.metrics import over_repeats, ranked
from harness.storm.policies import make_policies
from harness.storm.simagent import COLUMNS

NEVER = math.nan


def per_repeat(figures: dict[str, dict[str, list]], agents: int = 100) -> pd.DataFrame:
    """Summary rows as run_storm makes them: ``figures[policy][column]`` = one value per repeat."""
    rows = []
    for policy, cols in figures.items():
        k = len(next(iter(cols.values())))
        for i in range(k):
            row = {"mode": "contention", "policy": policy, "agents": agents, "repeat": i, "seed": 1 + i}
            row.update({col: values[i] for col, values in cols.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def test_medians_over_repeats_one_row_per_policy():
    summary = per_repeat({
        "b": {"attempts": [100, 1000, 110], "t100_s": [0.5, 0.9, 0.7], "complete": [True] * 3},
        "a": {"attempts": [50, 300, 400], "t100_s": [0.2, 0.3, 0.1], "complete": [True, False, True]}})
    med = over_repeats(summary)
    assert med["policy"].tolist() == ["b", "a"]  # order of first appearance
    assert "repeat" not in med.columns and "seed" not in med.columns
    b, a = med.iloc[0], med.iloc[1]
    assert b["runs"] == 3 and b["attempts"] == 110 and b["t100_s"] == pytest.approx(0.7)  # median, not mean (403)
    assert (b["attempts_min"], b["attempts_max"]) == (100, 1000)
    assert (b["t100_s_min"], b["t100_s_max"]) == (pytest.approx(0.5), pytest.approx(0.9))
    assert bool(b["complete"]) and not bool(a["complete"])  # complete only when every repeat was
    assert a["attempts"] == 300 and med["attempts"].dtype == "int64"
    cols = med.columns.tolist()
    assert cols[:4] == ["mode", "policy", "agents", "runs"]
    assert cols.index("attempts_min") == cols.index("attempts") + 1


def test_the_median_is_over_every_repeat_not_the_first():
    summary = per_repeat({"p": {"attempts": [10, 40, 30, 20, 50], "t100_s": [9.0, 1.0, 2.0, 3.0, 4.0]}})
    med = over_repeats(summary).iloc[0]
    assert med["attempts"] == 30 and med["t100_s"] == pytest.approx(3.0) and med["runs"] == 5
    single = over_repeats(summary[summary["repeat"] == 0]).iloc[0]
    assert single["attempts"] == 10 and single["runs"] == 1  # what ignoring the repeats would give


def test_even_k_averages_the_middle_pair():
    med = over_repeats(per_repeat({"p": {"attempts": [300, 301, 310, 500], "t100_s": [0.8, 1.1, 1.3, NEVER]}})).iloc[0]
    assert med["attempts"] == pytest.approx(305.5) and med["t100_s"] == pytest.approx(1.2)


@pytest.mark.parametrize("times, median, lo, hi", [
    ([0.8, NEVER, 1.1], 1.1, 0.8, NEVER),        # never counts as slowest: skipping it would give 0.95
    ([0.8, NEVER, NEVER], NEVER, 0.8, NEVER),    # more than half never: never (skipping would give 0.8)
    ([0.8, 1.1, NEVER, NEVER], NEVER, 0.8, NEVER),  # even K, half never: the middle pair holds never
    ([NEVER, NEVER, NEVER], NEVER, NEVER, NEVER),
    ([0.8, 1.1, 1.3], 1.1, 0.8, 1.3),
])
def test_never_is_plus_infinity(times, median, lo, hi):
    med = over_repeats(per_repeat({"p": {"t100_s": times, "t95_s": times, "attempts": [1] * len(times)}})).iloc[0]
    for col, want in (("t100_s", median), ("t95_s", median), ("t100_s_min", lo), ("t100_s_max", hi)):
        assert (math.isnan(med[col]) if math.isnan(want) else med[col] == pytest.approx(want)), (col, med[col])
    assert not (med == math.inf).any()  # infinity never leaks out: NaN is "never" again


def test_an_unknown_figure_is_skipped_not_never():
    med = over_repeats(per_repeat({"p": {"lag_p95_ms": [5.0, NEVER, 7.0], "attempts": [1, 1, 1]}})).iloc[0]
    assert med["lag_p95_ms"] == pytest.approx(6.0)


def test_ranking_is_by_the_medians():
    # repeat 0 alone ranks lucky first; over three seeds it is the worse policy
    summary = per_repeat({"lucky": {"attempts": [200, 500, 480], "t100_s": [0.5, 2.0, NEVER]},
                          "steady": {"attempts": [300, 310, 320], "t100_s": [1.0, 1.1, 0.9]}})
    assert ranked(summary[summary["repeat"] == 0], "attempts")["policy"].tolist() == ["lucky", "steady"]
    med = over_repeats(summary)
    assert ranked(med, "attempts")["policy"].tolist() == ["steady", "lucky"]
    assert ranked(med, "t100_s")["policy"].tolist() == ["steady", "lucky"]


def test_table_shows_median_and_range():
    summary = per_repeat({"full-jitter": {"attempts": [306, 237, 410], "t100_s": [0.86, 0.63, 1.13]},
                          "none": {"attempts": [2706, 2600, 2800], "t100_s": [0.78, NEVER, 0.70]}})
    text = report.table(over_repeats(summary), "attempts")
    lines = text.splitlines()
    assert "306 (237–410)" in lines[1] and "0.86 (0.63–1.13)" in lines[1] and "full-jitter" in lines[1]
    assert "2706 (2600–2800)" in lines[2] and "0.78 (0.70–never)" in lines[2]
    html = report._html_table(over_repeats(summary), "t100_s")
    assert "306 (237–410)" in html and html.index("none") < html.index("full-jitter")
    # one run per policy: plain figures, no ranges
    plain = report.table(over_repeats(summary[summary["repeat"] == 0]), "attempts")
    assert "(" not in plain and "306" in plain and "0.86" in plain


def test_seeds_per_repeat():
    s = runner.StormSettings(modes.ModeParams("boot"), [], [10], seed=5, repeat=3)
    assert s.seeds() == [5, 6, 7]
    drawn = runner.StormSettings(modes.ModeParams("boot"), [], [10], repeat=3).seeds()
    assert drawn == [drawn[0], drawn[0] + 1, drawn[0] + 2]  # --seed drawn[0] --repeat 3 reproduces them


@pytest.fixture
def fake_storm(monkeypatch, tmp_path):
    """run_storm with locust replaced: agent i of a run needs 1 + (i + seed) % 3 attempts
    (none: 10 more), all but the last answered 409; times grow with the attempt. The center's log:
    one request."""
    configs = []

    def fake_locust(config, agents, workers, log_dir, timeout_s, **kw):
        configs.append(config)
        t0 = 1_000.0
        extra = 10 if config["policy"]["name"] == "none" else 0
        rows = []
        for i in range(agents):
            n = 1 + (i + config["seed"]) % 3 + extra
            for a in range(1, n + 1):
                t = t0 + 0.1 * a
                rows.append((f"n{i}", "register", a, t, t, t + 0.01, 200 if a == n else 409, None, math.nan))
        return {"meta": {"complete": True, "events": {"go": t0}, "first_index": 0, "config": config},
                "columns": list(COLUMNS), "rows": rows}

    monkeypatch.setattr(runner, "run_locust", fake_locust)
    monkeypatch.setattr(runner, "center_log", lambda url, since: [
        {"ts": 1_000.1, "path": "/v1/register", "node_id": "n0", "attempt": 1, "status": 200, "latency_ms": 1.0}])
    policies = make_policies(["none", "full-jitter"], base_ms=100, cap_ms=4000, factor=2, deadline_s=30,
                             profile=load_profile("reference"))
    settings = runner.StormSettings(modes.ModeParams("contention"), policies, [4], workers=0, seed=7, repeat=3)
    lines: list[str] = []
    world = runner.ExternalWorld(modes.Endpoints(center="http://127.0.0.1:9", target="http://127.0.0.1:9"))
    result = runner.run_storm(settings, world, tmp_path, progress=lines.append)
    return result, configs, lines, tmp_path


def test_run_storm_runs_every_policy_k_times_with_seed_plus_i(fake_storm):
    result, configs, lines, _ = fake_storm
    assert result.seeds == [7, 8, 9]
    assert [(r.policy.name, r.repeat, r.seed) for r in result.runs] == [
        ("none", 0, 7), ("full-jitter", 0, 7), ("none", 1, 8), ("full-jitter", 1, 8),
        ("none", 2, 9), ("full-jitter", 2, 9)]
    assert [c["seed"] for c in configs] == [7, 7, 8, 8, 9, 9]
    assert all(r.meta["config"]["seed"] == r.seed for r in result.runs)  # the meta records the seed
    assert configs[2]["output"].endswith("none-n4-r1.json")
    assert any(line.startswith("storm: full-jitter-n4 #2/3: ") and "seed 8" in line for line in lines)
    summary = result.summary()
    assert summary[["repeat", "seed"]].values.tolist()[:2] == [[0, 7], [0, 7]]
    assert summary.loc[summary["policy"] == "full-jitter", "attempts"].tolist() == [8, 9, 7]
    ranking = result.ranking()
    assert len(ranking) == 2 and ranking.set_index("policy").loc["full-jitter", "attempts"] == 8
    assert [r.repeat for r in result.first_repeat()] == [0, 0]


def test_report_files_per_repeat_and_medians(fake_storm):
    result, _, _, folder = fake_storm
    paths = report.write(result, folder, "test-run")
    csv = pd.read_csv(paths["csv"])
    assert len(csv) == 6 and csv["repeat"].tolist() == [0, 0, 1, 1, 2, 2] and csv["seed"].tolist()[-1] == 9
    medians = pd.read_csv(paths["medians"])
    assert medians["policy"].tolist() == ["none", "full-jitter"] and set(medians["runs"]) == {3}
    assert {"attempts_min", "attempts_max", "t100_s_min", "t100_s_max"} <= set(medians.columns)
    assert sorted(set(pd.read_csv(paths["timeseries"])["repeat"])) == [0, 1, 2]
    assert sorted(set(pd.read_parquet(paths["records"])["repeat"])) == [0, 1, 2]
    assert sorted(set(pd.read_parquet(paths["center"])["repeat"])) == [0, 1, 2]
    data = json.loads(paths["json"].read_text())
    assert data["repeat"] == 3 and data["seeds"] == [7, 8, 9] and data["seed"] == 7
    assert len(data["summary"]) == 6 and len(data["medians"]) == 2
    page = paths["html"].read_text()
    assert "8 (7–9)" in page and "medians of 3 repeats" in page and "repeat 0 (seed 7)" in page
    text = report.tables(result, "release")
    assert "8 (7–9)" in text and "ranked by time to 100 % registered:" in text and "seeds 7–9" in text


def test_one_repeat_keeps_the_plain_files(monkeypatch, tmp_path, fake_storm):
    result, _, _, _ = fake_storm
    result.settings.repeat = 1
    result.runs = result.first_repeat()
    result.seeds = result.seeds[:1]
    paths = report.write(result, tmp_path / "one", "test-run")
    assert "medians" not in paths and not (tmp_path / "one" / "storm_medians.csv").exists()
    assert "(" not in report.table(result.ranking(), "attempts")
    assert "medians of" not in paths["html"].read_text()
