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

Each version keeps its own reports folder across repeats, so from the second repeat on each runs in
its own order from its own last journal (``-j``: the start order by last durations).
Prints each run's wall seconds, status counts and harness overhead per scenario (median / p90 of
``matrix_overhead.phase_frame``: world, agent start, verdict, teardown), then the medians and the
ratios to before. ``--no-black-box`` leaves the ``--no-pool`` runs out (a before/after of pooled runs).

    .venv/bin/python benchmarks/matrix_before_after.py [--before REF] [--repeats 2] [--jobs 3] [--no-black-box]
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

from matrix_overhead import phase_frame  # noqa: E402  (benchmarks/ is on sys.path when run as a script)


def scenario_names(tree: Path) -> set[str]:
    return {p.stem for p in (tree / "scenarios").glob("*.yaml")}


def startle(tree: Path, *args: str, reports: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m harness.cli ARGS`` with ``tree``'s harness (the working directory comes first on
    sys.path), both versions sharing this checkout's build cache (Debian rootfs, Toxiproxy)."""
    env = {**os.environ, "STARTLE_CACHE_DIR": str(CACHE_DIR), **({"STARTLE_REPORTS": str(reports)} if reports else {})}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=tree, env=env,
                          capture_output=True, text=True)


def timed_run(tree: Path, jobs: int, names: list[str], reports: Path, *options: str) -> tuple[float, dict, str]:
    """Wall seconds of one ``startle run``, its status counts and its overhead per scenario (median / p90, s)."""
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
    overhead = phase_frame((reports / "latest").resolve())["overhead_s"]
    return wall, counts, f"overhead {overhead.median():.2f} / {overhead.quantile(0.9):.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="42093af", help="the version to compare with (a git ref)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--no-black-box", action="store_true", help="leave the now --no-pool runs out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="startle-before-") as tmp:
        before = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            names = sorted(scenario_names(before) & scenario_names(ROOT))
            print(f"{len(names)} scenarios in both versions, pairs left out, -j {args.jobs}, "
                  f"before = {args.before}", flush=True)
            modes = [("before", before, ()), ("now --no-pool", ROOT, ("--no-pool",)), ("now", ROOT, ())]
            modes = [m for m in modes if not (args.no_black_box and m[0] == "now --no-pool")]
            walls: dict[str, list[float]] = {label: [] for label, _, _ in modes}
            for repeat in range(args.repeats):
                for label, tree, options in modes:
                    wall, counts, overhead = timed_run(tree, args.jobs, names, Path(tmp) / label, *options)
                    walls[label].append(wall)
                    print(f"  repeat {repeat + 1} {label:14} {wall:6.1f} s  {counts}  {overhead}", flush=True)
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
