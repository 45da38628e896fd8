"""The largest storm this machine carries: N simulated agents after a center outage, the locust
workers in network namespaces of their own (`startle storm --worker-netns`: each worker its own
address, talking to the master and the center over veth links, as remote workers would).

    .venv/bin/python benchmarks/storm_scale.py --agents 100000 [--outage-s 10] [--workers 2] [--seed 1]
    .venv/bin/python benchmarks/storm_scale.py --from-json reports/storm-scale-....json   # print again

Prints what the storm did (attempts, the center's peak requests/s, t50/t95/t100 of registration
after the center's return) and what limited it: the simulator's lag (how late the simulated agents
sent against their schedule), the CPU seconds and peak cores of the locust master and workers, the
center container's CPU seconds, the connections the kernel dropped at the center's listen queue,
and the kinds of failed attempts (a worker short of file descriptors or ports says so there).
Outage mode with `--outage-switch center` (Toxiproxy accepts ~2,000 connections/s: docs/storm.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's harness, whatever the venv has installed
from harness.config import REPORTS_DIR  # noqa: E402


def run_storm(args: argparse.Namespace, out: Path) -> int:
    cmd = [sys.executable, "-m", "harness.storm.cli", "--mode", "outage", "--outage-switch", "center",
           "--outage-s", str(args.outage_s), "--agents", str(args.agents), "--policy", args.policy,
           "--workers", str(args.workers), "--seed", str(args.seed), "--json", str(out)]
    cmd += ["--worker-netns"] if not args.no_netns else []
    print("$", " ".join(cmd[1:]), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def describe(data: dict) -> str:
    import pandas as pd
    (row,) = data["summary"]
    folder = Path(data["folder"])
    records = pd.read_parquet(folder / "records.parquet")
    lag = (records["t_start"] - records["t_planned"]).dropna() * 1000
    errors = records["error"].fillna("answered").value_counts()
    first = (records[records["attempt"] == 1]["t_start"] - row["t_go_unix"]).sort_values()
    n = row["agents"]

    def t(key):
        return "never" if row[key] is None else f"{row[key]:.2f}"
    lines = [
        f"N = {n:,} agents, outage {data['mode']['outage_s']:g} s, {row['policy']}, {data['workers']} workers"
        f"{' in network namespaces' if data.get('worker_netns') else ''}, seed {data['seeds'][0]}: "
        f"{'complete' if row['complete'] else 'INCOMPLETE'} in {row['wall_s']:.1f} s wall",
        f"  attempts {row['attempts']:,} ({row['attempts_per_agent_mean']:.2f} per agent), registered "
        f"{row['registered']:,}/{n:,}, never {row['never_registered']:,}",
        f"  center: peak {row['center_peak_rps']:,} req/s, {row['center_requests']:,} requests reached it, "
        f"{row['center_ok']:,} answered 200, listen overflows {row['listen_overflows']}, "
        f"CPU {row['center_cpu_s']} s; reached from {row['center_sources']}",
        f"  registration after the center's return: t50 {t('t50_s')} s, t95 {t('t95_s')} s, t100 {t('t100_s')} s",
        f"  simulator lag (send - schedule): p50 {lag.quantile(0.5):.0f} ms, p95 {lag.quantile(0.95):.0f} ms, "
        f"p99 {lag.quantile(0.99):.0f} ms, max {lag.max():.0f} ms; the first attempts (all due at go, "
        f"{row.get('spawned_at_go')} agents spawned then) went out over {first.quantile(0.5):.2f} / "
        f"{first.quantile(0.95):.2f} / {first.max():.2f} s (p50 / p95 / max)",
        f"  simulator CPU: master {row['master_cpu_s']} s, workers {row['workers_cpu_s']} s together, busiest "
        f"process {row['simulator_peak_cores']} cores at peak",
        "  outcomes of attempts: " + ", ".join(f"{k} {v:,}" for k, v in errors.items()),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--outage-s", type=float, default=10.0)
    parser.add_argument("--policy", default="full-jitter")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-netns", action="store_true", help="workers in the root namespace (127.0.0.1)")
    parser.add_argument("--from-json", type=Path, help="print the figures of an earlier run's --json")
    args = parser.parse_args()
    out = args.from_json
    if out is None:
        out = REPORTS_DIR / f"storm-scale-{args.agents}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        code = run_storm(args, out)
        if not out.exists():
            sys.exit(code or 3)
    print()
    print(describe(json.loads(out.read_text())))


if __name__ == "__main__":
    main()
