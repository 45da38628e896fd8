"""startle's contention storm beside the classic "Exponential Backoff And Jitter" study (Marc Brooker,
AWS Architecture Blog, 2015): N = 100 agents, base 5 ms, cap 2 s, the study's five policies, medians
of K seeds, side by side with the figures of the study's published simulator, and the work ratios
full/exponential and full/none of both.

    .venv/bin/python benchmarks/storm_study.py --hop-delay-ms normal:10:2 [--base-ms 5] [--repeat 3] [--seed 1]
    .venv/bin/python benchmarks/storm_study.py --hop-delay-ms none       # loopback as it is
    .venv/bin/python benchmarks/storm_study.py --from-json reports/storm-study-....json   # print again

Each invocation is one `startle storm` (about 5 minutes here: exponential backoff's runs take a
minute each); ``make bench-storm-study`` runs three of them. The study counts work as the writes
its server receives; startle's ``attempts`` are the same thing (registrations, each after a read of
the registry version). docs/storm.md says where and why the two differ.
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

POLICIES = ("none", "exponential", "full-jitter", "equal-jitter", "decorrelated-jitter")
STUDY = {  # policy: (writes, ms until the last client finished), means of 100 runs at 100 clients
    "none": (2425, 2036), "exponential": (1851, 62984), "full-jitter": (796, 4965),
    "equal-jitter": (812, 6552), "decorrelated-jitter": (1003, 4559),
}
"""The study's published simulator (github.com/aws-samples/aws-arch-backoff-simulator,
src/backoff_simulator.py at 095a076: Net(10, 2) per message, Backoff(5, 2000), OCC server counting
writes) run unchanged at 100 clients, 100 runs per policy (its own driver stops at 50 clients); a
second batch of 100 runs agreed within 0.5 % on writes. The blog post shows its results as charts;
no table of figures was found to quote."""


def run_storm(args: argparse.Namespace, out: Path) -> None:
    cmd = [sys.executable, "-m", "harness.storm.cli", "--mode", "contention", "--agents", str(args.agents),
           "--base-ms", str(args.base_ms), "--cap-ms", str(args.cap_ms), "--factor", "2",
           "--deadline-s", str(args.deadline_s), "--repeat", str(args.repeat), "--seed", str(args.seed),
           "--json", str(out)]
    for name in POLICIES:
        cmd += ["--policy", name]
    if args.hop_delay_ms != "none":
        cmd += ["--hop-delay-ms", args.hop_delay_ms]
    print("$", " ".join(cmd[1:]), flush=True)
    code = subprocess.call(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if code not in (0, 1):
        sys.exit(code)


def compare(data: dict) -> str:
    medians = {row["policy"]: row for row in data["medians"]}
    hop = data.get("hop_delay")
    policy = next(p for p in data["policies"] if p["name"] == "exponential")
    lines = [f"contention, N = {data['agents'][0]}, base {policy['base_ms']:g} ms, cap {policy['cap_ms']:g} ms, "
             f"network delay {hop['spec'] + ' ms per hop' if hop else 'none (loopback)'}, medians of "
             f"{data['repeat']} seeds ({data['seeds'][0]}-{data['seeds'][-1]}); the study: means of 100 runs",
             f"{'policy':<20} {'startle work':>12} {'study work':>10} {'startle t100 s':>14} {'study t100 s':>12}"]
    for name in POLICIES:
        row = medians[name]
        work, t_ms = STUDY[name]
        t100 = row["t100_s"]
        lines.append(f"{name:<20} {row['attempts']:>12,.0f} {work:>10,} "
                     f"{'never' if t100 is None else f'{t100:.2f}':>14} {t_ms / 1000:>12.2f}")
    for a, b in (("full-jitter", "exponential"), ("full-jitter", "none"), ("exponential", "none")):
        ours = medians[a]["attempts"] / medians[b]["attempts"]
        theirs = STUDY[a][0] / STUDY[b][0]
        lines.append(f"work {a}/{b}: startle {ours:.2f}, study {theirs:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hop-delay-ms", default="normal:10:2",
                        help="the storm's --hop-delay-ms, or `none` (default normal:10:2, the study's network)")
    parser.add_argument("--base-ms", type=float, default=5.0,
                        help="5: the study's parameter; 10: the study's first ceiling (its attempt count starts at 1)")
    parser.add_argument("--cap-ms", type=float, default=2000.0)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deadline-s", type=float, default=300.0,
                        help="every agent's budget (default 300 s: the study's clients never give up)")
    parser.add_argument("--from-json", type=Path, help="print the comparison of an earlier run's --json")
    args = parser.parse_args()
    out = args.from_json
    if out is None:
        out = REPORTS_DIR / f"storm-study-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        run_storm(args, out)
    print()
    print(compare(json.loads(out.read_text())))


if __name__ == "__main__":
    main()
