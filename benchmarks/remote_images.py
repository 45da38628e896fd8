"""Benchmark: how long the images `startle run` needs take to reach another engine (prints figures).

A second engine on this machine (harness/second_engine.py, TCP with TLS on loopback) stands for a
board: per repeat it is started empty, the agent, center and Toxiproxy images are streamed to it
(harness.images.ship_to_engine, cold), then streamed again (warm: every image already there), and
it is stopped. Loopback has no network cost, so the figures are the floor of a real board's: its
link's bandwidth divides the megabytes on top.

    .venv/bin/python benchmarks/remote_images.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from harness import images
from harness.second_engine import SecondEngine


def one_repeat() -> dict[str, float]:
    figures: dict[str, float] = {}
    started = time.monotonic()
    with SecondEngine.start(log=lambda line: None) as engine:
        figures["start_s"] = time.monotonic() - started
        target = engine.client(timeout_s=900)
        cold = time.monotonic()
        for shipped in images.ship_to_engine(target, log=lambda line: None):
            figures[f"{shipped.ref} s"] = shipped.seconds
            figures[f"{shipped.ref} MB"] = shipped.size_bytes / 1e6
        figures["cold_total_s"] = time.monotonic() - cold
        warm = time.monotonic()
        images.ship_to_engine(target, log=lambda line: None)
        figures["warm_total_s"] = time.monotonic() - warm
        target.close()
        stopping = time.monotonic()
    figures["stop_s"] = time.monotonic() - stopping
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for number in range(1, args.repeats + 1):
        runs.append(one_repeat())
        print(f"REMOTE repeat {number}: cold {runs[-1]['cold_total_s']:.1f} s, warm {runs[-1]['warm_total_s']:.2f} s",
              flush=True)
    print(f"REMOTE {'figure':<36} {'median':>8} {'min':>8} {'max':>8}   ({args.repeats} repeats)")
    for key in runs[0]:
        values = [run[key] for run in runs]
        print(f"REMOTE {key:<36} {statistics.median(values):8.2f} {min(values):8.2f} {max(values):8.2f}")
    megabytes = sum(v for k, v in runs[0].items() if k.endswith(" MB"))
    cold = statistics.median(run["cold_total_s"] for run in runs)
    print(f"REMOTE agent+center+toxiproxy: {megabytes:.0f} MB in {cold:.1f} s (median), {megabytes / cold:.0f} MB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
