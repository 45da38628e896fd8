"""Power of the retry_schedule check's jitter test: how narrow a jitter it flags, with how many gaps.

Simulates the check's own judge (harness/checks/retry_schedule.py) on the reference policy (base
0.1 s, factor 2, cap 4 s, full jitter, threshold 1e-4; gaps with 0–30 ms of overhead) for an agent
whose jitter spreads over a fraction ``s`` of the declared one — each gap uniform in
[0, s · ceiling] (s = 1: the declared policy, the false-alarm rate) — and a number of backoff gaps
per judgement (9 = a scenario of the reference whose breaker opens after 10 failures; 25 = the
retry-schedule scenario, whose breaker threshold is raised to 26). Prints, per (s, gaps), the share
of runs flagged, and per gap count the smallest s flagged in ≥ 99 % of runs.

    .venv/bin/python benchmarks/retry_power.py [--runs 4000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random

from harness.checks.retry_schedule import Gap, judge
from harness.profile import RetryPolicySpec

POLICY = RetryPolicySpec(family="exponential", jitter="full", base_ms=100, factor=2.0, cap_ms=4000,
                         breaker_threshold=None, breaker_cooldown_s=None)
SPREADS = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
GAP_COUNTS = [9, 12, 18, 25, 36]


def flagged(spread: float, gaps: int, rng: random.Random) -> bool:
    sample = []
    for n in range(1, gaps + 1):
        ceiling = min(4.0, 0.1 * 2 ** (n - 1))
        sample.append(Gap(n, 0.0, rng.uniform(0, spread * ceiling) + rng.uniform(0.0, 0.03), 503, "backoff"))
    return judge(sample, POLICY, 0.25, 0.02, 0.4, 1e-4, 5)[0] == "fail"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"share of {args.runs} simulated runs flagged (jitter spread s × the declared; s = 1 is the false-alarm rate)")
    print("gaps  tested " + " ".join(f"s={s:<5}" for s in SPREADS))
    smallest = {}
    for gaps in GAP_COUNTS:
        tested = sum(1 for n in range(1, gaps + 1) if min(4.0, 0.1 * 2 ** (n - 1)) >= 0.4)
        shares = [sum(flagged(s, gaps, rng) for _ in range(args.runs)) / args.runs for s in SPREADS]
        print(f"{gaps:>4}  {tested:>6} " + " ".join(f"{share:<7.4f}" for share in shares))
        smallest[gaps] = max((s for s, share in zip(SPREADS, shares) if share >= 0.99 and s < 1), default=None)
    for gaps, s in smallest.items():
        print(f"{gaps} gaps: flagged in >= 99 % of runs from a spread of "
              + (f"{s:g} x the declared down" if s else "none of the spreads tried"))


if __name__ == "__main__":
    main()
