"""Benchmark: the reference agent's matrix before startle learned to test any agent, and now.

Issue 10 made every verdict go through the profile (signals, probes, the wire tap, declared
policies). Its cost must stay under 10 % of the matrix time. This runs, in one sitting and
interleaved (before, now without pooled worlds, now), the scenarios both versions have, pairs left
out, at ``-j JOBS``:

* before: a detached worktree of ``--before`` (default 42093af, the last commit before issue 10),
  its own images built by its own ``startle build`` (content-hash tags: this version's images stay
  cached and are tagged back by the next ``startle build`` here);
* now, ``--no-pool``: a world per scenario, as before (the black box's cost alone);
* now: pooled worlds (issue 13).

Prints each run's wall seconds and status counts, then the medians and the ratios to before.

    .venv/bin/python benchmarks/matrix_before_after.py [--before REF] [--repeats 2] [--jobs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.config import ROOT
from harness.images import CACHE_DIR


def scenario_names(tree: Path) -> set[str]:
    return {p.stem for p in (tree / "scenarios").glob("*.yaml")}


def startle(tree: Path, *args: str, reports: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m harness.cli ARGS`` with ``tree``'s harness (the working directory comes first on
    sys.path), both versions sharing this checkout's build cache (Debian rootfs, Toxiproxy)."""
    env = {**os.environ, "STARTLE_CACHE_DIR": str(CACHE_DIR), **({"STARTLE_REPORTS": str(reports)} if reports else {})}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=tree, env=env,
                          capture_output=True, text=True)


def timed_run(tree: Path, jobs: int, names: list[str], reports: Path, *options: str) -> tuple[float, dict]:
    """Wall seconds of one ``startle run`` and its status counts."""
    built = startle(tree, "build")
    if built.returncode != 0:
        sys.exit(f"startle build in {tree} exited {built.returncode}:\n{built.stdout[-2000:]}{built.stderr[-2000:]}")
    started = time.monotonic()
    proc = startle(tree, "run", "-j", str(jobs), *options, *names, reports=reports)
    wall = time.monotonic() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"startle run in {tree} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    doc = json.loads((reports / "latest" / "results.json").read_text())
    counts: dict[str, int] = {}
    for scenario in doc["scenarios"]:
        counts[scenario["status"]] = counts.get(scenario["status"], 0) + 1
    return wall, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="42093af", help="the version to compare with (a git ref)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="startle-before-") as tmp:
        before = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            names = sorted(scenario_names(before) & scenario_names(ROOT))
            print(f"{len(names)} scenarios in both versions, pairs left out, -j {args.jobs}, "
                  f"before = {args.before}", flush=True)
            walls: dict[str, list[float]] = {"before": [], "now --no-pool": [], "now": []}
            for repeat in range(args.repeats):
                for label, tree, options in (("before", before, ()), ("now --no-pool", ROOT, ("--no-pool",)),
                                             ("now", ROOT, ())):
                    wall, counts = timed_run(tree, args.jobs, names, Path(tmp) / f"{label}-{repeat}", *options)
                    walls[label].append(wall)
                    print(f"  repeat {repeat + 1} {label:14} {wall:6.1f} s  {counts}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)
            startle(ROOT, "build")  # this version's tags back on its images
    base = statistics.median(walls["before"])
    for label, values in walls.items():
        median = statistics.median(values)
        print(f"{label:14} median {median:6.1f} s  ({median / base - 1:+.1%} vs before)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
