"""Benchmark: the whole matrix with and without pooled worlds, in one sitting (prints figures).

For each mode (``--no-pool``: a world built per scenario; pooled: one per worker, reset in between)
it runs ``startle run -j JOBS`` (pairs included) and reads the run's ``results.json``:

* wall: seconds from the run's start to its end;
* overhead per scenario: the lifecycle's own phases — ``infrastructure`` (build or reset the
  world), ``agent`` (create and start it), ``verdict`` and ``cleanup`` — median and p90, over the
  scenarios that ran (skips excluded); ``observe`` is the agent's time, not the harness's;
* the verdicts of both modes side by side: a (scenario, check) whose status differs is listed.

    .venv/bin/python benchmarks/matrix_overhead.py [--jobs 3] [--order pooled-first] [SCENARIO...]
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
OVERHEAD_PHASES = ("infrastructure", "agent", "verdict", "cleanup")


def run_matrix(jobs: int, pooled: bool, scenarios: list[str]) -> tuple[Path, float]:
    """One ``startle run``; its folder and wall seconds."""
    started = time.monotonic()
    options = [] if pooled else ["--no-pool"]
    proc = subprocess.run([*STARTLE, "run", "-j", str(jobs), *options, *scenarios], capture_output=True, text=True)
    wall = time.monotonic() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"startle run exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return (REPORTS_DIR / "latest").resolve(), wall


def phase_frame(run_dir: Path) -> pd.DataFrame:
    """One row per scenario that ran: its phases (s), overhead (s), status."""
    doc = json.loads((run_dir / "results.json").read_text())
    rows = []
    for scenario in doc["scenarios"]:
        if scenario["status"] == "skip":
            continue
        phases = scenario.get("phases") or {}
        rows.append({"scenario": scenario["name"], "status": scenario["status"], "wall_s": scenario["wall_s"],
                     **{p: phases.get(p, 0.0) for p in (*OVERHEAD_PHASES, "observe")},
                     "overhead_s": sum(phases.get(p, 0.0) for p in OVERHEAD_PHASES)})
    return pd.DataFrame(rows)


def verdicts(run_dir: Path) -> dict[tuple[str, str], str]:
    doc = json.loads((run_dir / "results.json").read_text())
    out = {}
    for scenario in doc["scenarios"]:
        out[(scenario["name"], "(status)")] = scenario["status"]
        for verdict in scenario["verdicts"]:
            out[(scenario["name"], verdict["check"])] = verdict["status"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--order", choices=("pooled-first", "pooled-last"), default="pooled-last",
                        help="which mode runs first (run both orders to see the machine's drift)")
    parser.add_argument("scenarios", nargs="*", help="default: the whole matrix with its pairs")
    args = parser.parse_args(argv)
    modes = [False, True] if args.order == "pooled-last" else [True, False]
    figures, runs = [], {}
    for pooled in modes:
        name = "pooled" if pooled else "a world per scenario"
        run_dir, wall = run_matrix(args.jobs, pooled, args.scenarios)
        frame = phase_frame(run_dir)
        runs[name] = run_dir
        figures.append({"mode": name, "run": run_dir.name, "scenarios": len(frame), "wall_s": round(wall, 1),
                        "overhead_median_s": round(frame.overhead_s.median(), 2),
                        "overhead_p90_s": round(frame.overhead_s.quantile(0.9), 2),
                        "infrastructure_median_s": round(frame.infrastructure.median(), 2),
                        "agent_median_s": round(frame.agent.median(), 2),
                        "cleanup_median_s": round(frame.cleanup.median(), 2),
                        "overhead_total_s": round(frame.overhead_s.sum(), 1),
                        "scenario_seconds": round(frame.wall_s.sum(), 1),
                        "pass/fail/error": "/".join(str((frame.status == s).sum()) for s in ("pass", "fail", "error"))})
        print(f"{name}: {figures[-1]}", flush=True)
    print()
    print(pd.DataFrame(figures).set_index("mode").T.to_string())
    a, b = (verdicts(d) for d in runs.values())
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    print(f"\nverdicts that differ between the modes: {len(differ)}")
    for key in differ:
        print(f"  {key[0]} / {key[1]}: {a.get(key)} vs {b.get(key)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
