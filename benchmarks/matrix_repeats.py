"""Benchmark: run the whole matrix N times and count verdict flips (prints figures).

A *flip* is a (scenario, check) whose status is not the same in every repeat, or a scenario whose
overall status changes. A harness whose verdicts flip on an unchanged agent is noise, not a test.

    .venv/bin/python benchmarks/matrix_repeats.py [--repeats 20] [--jobs 3]
    .venv/bin/python benchmarks/matrix_repeats.py --analyse reports/RUN_A reports/RUN_B ...

Each repeat is a normal ``startle run`` (its reports stay under ``reports/<run-id>/``); the table is
built from their ``results.json`` files, so an interrupted series can be analysed afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from harness.config import REPORTS_DIR

STARTLE = [sys.executable, "-m", "harness.cli"]


def verdict_rows(run_dir: Path) -> list[dict]:
    """One row per (scenario, check) of a run, plus one per scenario for its overall status."""
    doc = json.loads((run_dir / "results.json").read_text())
    rows = []
    for scenario in doc["scenarios"]:
        rows.append({"run": doc["run_id"], "scenario": scenario["name"], "check": "(status)",
                     "status": scenario["status"], "wall_s": scenario["wall_s"]})
        for verdict in scenario["verdicts"]:
            rows.append({"run": doc["run_id"], "scenario": scenario["name"], "check": verdict["check"],
                         "status": verdict["status"], "wall_s": None})
    return rows


def flip_table(run_dirs: list[Path]) -> pd.DataFrame:
    """(scenario, check) rows with the count of each status across runs; ``flips`` is True when not unanimous."""
    frame = pd.DataFrame([row for d in run_dirs for row in verdict_rows(d)])
    counts = frame.pivot_table(index=["scenario", "check"], columns="status", values="run",
                               aggfunc="count", fill_value=0)
    counts["flips"] = (counts > 0).sum(axis=1) > 1
    return counts


def run_series(repeats: int, jobs: int) -> list[Path]:
    dirs = []
    for index in range(1, repeats + 1):
        started = time.monotonic()
        proc = subprocess.run([*STARTLE, "run", "-j", str(jobs)], capture_output=True, text=True)
        run_dir = (REPORTS_DIR / "latest").resolve()
        dirs.append(run_dir)
        totals = json.loads((run_dir / "results.json").read_text())["totals"]
        print(f"repeat {index:2d}/{repeats}: {run_dir.name} exit {proc.returncode} "
              f"{totals} in {time.monotonic() - started:.0f} s", flush=True)
    return dirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--analyse", nargs="+", type=Path, help="run folders to compare instead of running")
    args = parser.parse_args()
    dirs = args.analyse or run_series(args.repeats, args.jobs)
    table = flip_table(dirs)
    flipped = table[table["flips"]]
    scenarios = table.index.get_level_values("scenario").nunique()
    print(f"\n{len(dirs)} runs, {scenarios} scenarios, {len(table)} (scenario, check) verdicts, "
          f"{len(flipped)} flipped")
    if len(flipped):
        print(flipped.to_string())
    return 1 if len(flipped) else 0


if __name__ == "__main__":
    sys.exit(main())
