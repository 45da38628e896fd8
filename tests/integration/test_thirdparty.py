"""A real third-party agent from Debian's packages, judged through its profile alone.

Prometheus 2.42 in agent mode (fixtures/thirdparty/prometheus/, profile tp-prometheus) pushes
remote_write (snappy protobuf) to the recording center's declared route; it logs no attempt, so its
attempts come from the center's log and the wire. A slice of the matrix it passes, as measured
(fixtures/thirdparty/prometheus/README.md); ``make bench-thirdparty`` runs the whole matrix on both
third-party agents. Its mutant (tests/mutants/tp-prometheus-no-backoff) is in test_mutants.py.
mosquitto 2.0.11 (profile tp-mosquitto) is tested from an installed wheel (test_installed.py).
"""

import json
import os
import subprocess
import sys
from pathlib import Path


STARTLE = [sys.executable, "-m", "harness.cli"]
PASSING = ["baseline", "center-outage", "center-503-then-ok", "config-unreadable", "arch-binfmt-off",
           "toxic-latency"]


def verdict(scenario: dict, check: str) -> dict:
    return next(v for v in scenario["verdicts"] if v["check"] == check)


def test_prometheus_is_judged_from_the_center_log_and_the_wire(docker, tmp_path):
    env = {**os.environ, "STARTLE_REPORTS": str(tmp_path)}
    proc = subprocess.run([*STARTLE, "run", "--no-pairs", "-j", "2", "--profile", "tp-prometheus", *PASSING],
                          env=env, capture_output=True, text=True, timeout=600)
    journal = json.loads((Path(tmp_path) / "latest" / "results.json").read_text())
    statuses = {s["name"]: s["status"] for s in journal["scenarios"]}
    assert statuses == {name: "pass" for name in PASSING}, proc.stdout[-4000:]
    scenarios = {s["name"]: s for s in journal["scenarios"]}
    grows = verdict(scenarios["center-outage"], "gaps_grow")
    assert grows["measured"]["source"] == "center+wire"  # refused connections seen on the wire
    # toxic-latency: the request's time alone cannot be judged (it logs none, HTTP requests look
    # alike on the wire): that check is skipped with the reason, the others judged
    timed = verdict(scenarios["toxic-latency"], "request_time")
    assert timed["status"] == "skip" and "one HTTP request cannot be told from another" in timed["message"]
    assert {v["check"]: v["status"] for v in scenarios["toxic-latency"]["verdicts"]} == {
        "registered": "pass", "ready": "pass", "stage_order": "pass", "request_time": "skip"}
    assert "check request_time not judged" in proc.stdout
