"""``startle merge``: shard runs joined into one run (synthetic journals), and every refusal."""

import json
import xml.etree.ElementTree as ET

import pytest

from harness.cli import EXIT_FAILED, EXIT_INPUT, EXIT_OK, main
from harness.errors import InputError
from harness.lifecycle import ScenarioResult
from harness.reports import write_run
from harness.reports.journal import load_run
from harness.reports.merge import merge_data
from harness.runtime import Run
from harness.shard import assign

SELECTION = ["baseline", "center-outage", "oom", "toxic-latency", "config-missing"]
T0 = 1_000.0


def result(name, status="pass"):
    verdicts = [{"check": "ready", "status": status, "message": f"{name} {status}", "measured": {}, "expected": {}}]
    return ScenarioResult(name, "network", status=status, started=T0, finished=T0 + 5, profile="reference",
                          verdicts=verdicts, timeline=[{"source": "docker", "kind": "start", "t": T0,
                                                        "container": "agent", "fields": {"scenario": name}}])


def shard_run(root, run_id, k, n=3, names=None, failed=(), version=None, **shard_fields):
    """A shard run written as ``startle run --shard k/n`` writes it; ``names``: default, the plan's."""
    names = assign(SELECTION, {}, n).shards[k - 1] if names is None else names
    shard = {"k": k, "n": n, "of": len(SELECTION), "names": names, "selection": SELECTION,
             "profiles": ["reference"], "image": None, "timings_from": None, "predicted_s": [0.0] * n, **shard_fields}
    folder = write_run(Run(reports_root=root, run_id=run_id, started=T0 + k), [result(x, "fail" if x in failed else
                                                                                        "pass") for x in names],
                       {"hostname": f"runner-{k}"}, T0 + 10 * k, shard=shard)
    if version:
        journal = json.loads((folder / "results.json").read_text())
        (folder / "results.json").write_text(json.dumps({**journal, "startle_version": version}))
    return folder


def test_merged_run_holds_every_shard_in_the_sets_order_with_every_report(tmp_path):
    shards = [shard_run(tmp_path, f"r{k}", k, failed=("oom",)) for k in (3, 1, 2)]
    merged = merge_data([load_run(f) for f in shards], "merged-1", tmp_path / "out")
    record = merged.record
    assert [s.name for s in record.scenarios] == SELECTION and record.totals == {"pass": 4, "fail": 1, "error": 0,
                                                                                  "skip": 0}
    assert [(s.run_id, s.k, s.hostname) for s in record.merged.shards] == [("r1", 1, "runner-1"),
                                                                             ("r2", 2, "runner-2"),
                                                                             ("r3", 3, "runner-3")]
    assert record.merged.missing_shards == [] and record.merged.never_run == [] and record.shard is None
    assert record.started == T0 + 1 and record.finished == T0 + 30
    assert merged.timelines["oom"][0]["fields"] == {"scenario": "oom"}


def test_merge_command_writes_a_new_run_that_startle_report_can_rebuild(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shards = [str(shard_run(tmp_path / "shards", f"r{k}", k)) for k in (1, 2, 3)]
    assert main(["merge", *shards, "--out", "merged"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "merged 3 shard run(s) (r1, r2, r3) into run" in out and "5 passed, 0 failed" in out
    folder = tmp_path / "merged"
    journal = json.loads((folder / "results.json").read_text())
    assert journal["run_id"] not in ("r1", "r2", "r3") and [s["run_id"] for s in journal["merged"]["shards"]] == \
        ["r1", "r2", "r3"]
    suite = ET.parse(folder / "junit.xml").getroot()
    assert suite.get("tests") == "5" and suite.get("failures") == "0"
    assert (folder / "report.html").is_file() and (folder / "oom" / "timeline.jsonl").is_file()
    assert "merged from 3 of 3 shard runs" in (folder / "summary.md").read_text()
    assert not (tmp_path / "latest").exists()  # --out: the reports root's latest is left alone
    assert main(["report", str(folder)]) == EXIT_OK
    assert main(["merge", *shards, "--out", "merged"]) == EXIT_INPUT  # never over another run
    assert "--out: exists and is not an empty folder" in capsys.readouterr().err


def test_missing_shards_merge_with_a_warning_and_the_scenarios_never_run(tmp_path, capsys):
    shards = [str(shard_run(tmp_path, f"r{k}", k)) for k in (1, 3)]
    assert main(["merge", *shards, "--out", str(tmp_path / "merged")]) == EXIT_FAILED
    never = assign(SELECTION, {}, 3).shards[1]
    warning = f"incomplete: shard(s) 2/3 not merged; {len(never)} scenario(s) never run: {', '.join(never)}"
    assert warning in capsys.readouterr().err
    summary = (tmp_path / "merged" / "summary.md").read_text()
    assert "— INCOMPLETE" in summary and warning in summary
    assert warning in (tmp_path / "merged" / "report.html").read_text()


def refusal(tmp_path, *shards) -> str:
    with pytest.raises(InputError) as caught:
        merge_data([load_run(f) for f in shards], "m", tmp_path / "m")
    return str(caught.value)


def test_shards_of_different_profiles_versions_images_n_or_sets_are_refused(tmp_path):
    one = shard_run(tmp_path, "r1", 1)
    cases = {"shard.profiles": shard_run(tmp_path, "p2", 2, profiles=["other"]),
             "startle_version": shard_run(tmp_path, "v2", 2, version="9.9.9"),
             "shard.image": shard_run(tmp_path, "i2", 2, image="my-agent:rc2"),
             "shard.n": shard_run(tmp_path, "n2", 2, n=2),
             "shard.selection": shard_run(tmp_path, "s2", 2, selection=SELECTION[:4], of=4)}
    for field, other in cases.items():
        message = refusal(tmp_path, one, other)
        assert f"results.json: {field}: run {other.name} has" in message and "but run r1 has" in message, message


def test_a_repeated_k_and_a_scenario_run_twice_are_refused_naming_both_runs(tmp_path):
    one, again = shard_run(tmp_path, "r1", 1), shard_run(tmp_path, "r1b", 1)
    assert "shard.k: runs r1 and r1b are both shard 1/3 (a repeated K)" in refusal(tmp_path, one, again)
    assert "(the same run given twice)" in refusal(tmp_path, one, one)
    overlapping = shard_run(tmp_path, "r2", 2, names=["baseline", "oom"])
    assert "scenarios: scenario baseline was run by both run r1 and run r2" in refusal(tmp_path, one, overlapping)


def test_a_run_that_is_no_shard_is_refused(tmp_path, capsys):
    whole = write_run(Run(reports_root=tmp_path, run_id="whole"), [result("baseline")], {}, T0 + 5)
    assert main(["merge", str(whole), str(shard_run(tmp_path, "r1", 1))]) == EXIT_INPUT
    assert "shard: run whole is not a shard run" in capsys.readouterr().err


def test_an_empty_shard_merges(tmp_path):
    shards = [shard_run(tmp_path, f"r{k}", k, n=7) for k in range(1, 8)]  # 5 scenarios: shards 6 and 7 empty
    assert load_run(shards[6]).record.scenarios == []
    merged = merge_data([load_run(f) for f in shards], "m", tmp_path / "m")
    assert [s.name for s in merged.record.scenarios] == SELECTION and merged.record.merged.never_run == []
