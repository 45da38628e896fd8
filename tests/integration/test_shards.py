"""Three shards merged judge exactly like one unsharded run.

Six quick scenarios run once whole (``-j 2``), then as ``--shard 1/3``, ``2/3``, ``3/3`` one after
another in the same reports root (so the shards are balanced by the whole run's durations), then
``startle merge``. The merged run must hold the same (scenario, check) → status as the whole run,
and its junit.xml the same counts.
"""

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

STARTLE = [sys.executable, "-m", "harness.cli"]
SCENARIOS = ["baseline", "oom", "network-none", "config-missing", "toxic-slicer", "toxic-latency"]
TIMEOUT_S = 180


def startle(reports: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([*STARTLE, *args], env={**os.environ, "STARTLE_REPORTS": str(reports)},
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode in (0, 1), f"startle {' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def run(reports: Path, *options: str) -> dict:
    """``startle run --no-pairs -j 2`` of :data:`SCENARIOS`; the run's journal."""
    startle(reports, "run", "--no-pairs", "-j", "2", *options, *SCENARIOS)
    return json.loads((reports / "latest" / "results.json").read_text())


def verdicts(journal: dict) -> dict[tuple[str, str], str]:
    found = {}
    for scenario in journal["scenarios"]:
        found[(scenario["name"], "(scenario)")] = scenario["status"]
        for verdict in scenario["verdicts"]:
            found[(scenario["name"], verdict["check"])] = verdict["status"]
    return found


def junit_counts(folder: Path) -> dict[str, str]:
    suite = ET.parse(folder / "junit.xml").getroot()
    return {key: suite.get(key) for key in ("tests", "failures", "errors", "skipped")}


def test_three_shards_merged_judge_like_the_whole_run(docker, tmp_path):
    reports = tmp_path / "reports"
    whole = run(reports)
    shards = [run(reports, "--shard", f"{k}/3") for k in (1, 2, 3)]
    for k, shard in enumerate(shards, 1):
        assert shard["shard"]["k"] == k and shard["shard"]["of"] == len(SCENARIOS)
        assert shard["shard"]["timings_from"] == whole["run_id"], "every shard is timed by the whole run"
    assert sorted(name for s in shards for name in s["shard"]["names"]) == sorted(SCENARIOS)

    started = time.perf_counter()
    merge = startle(reports, "merge", *(s["run_id"] for s in shards))
    merge_s = time.perf_counter() - started
    merged_folder = (reports / "latest").resolve()
    merged = json.loads((merged_folder / "results.json").read_text())
    print(f"merge of 3 shards: {merge_s:.1f} s (wall, process start included); "
          f"predicted s per shard: {shards[0]['shard']['predicted_s']}")

    assert merged["run_id"] not in {whole["run_id"], *(s["run_id"] for s in shards)}, merge.stdout
    assert [s["run_id"] for s in merged["merged"]["shards"]] == [s["run_id"] for s in shards]
    assert merged["merged"]["never_run"] == [] and merged["merged"]["missing_shards"] == []
    assert verdicts(merged) == verdicts(whole)
    assert (merged_folder / "report.html").is_file()
    assert junit_counts(merged_folder) == junit_counts(reports / whole["run_id"])
