"""A real third-party agent from Debian's packages, judged through its profile alone.

Prometheus 2.42 in agent mode (fixtures/thirdparty/prometheus/, profile tp-prometheus) pushes
remote_write (snappy protobuf) to the recording center's declared route; it logs no attempt, so its
attempts come from the center's log and the wire. A slice of the matrix it passes, as measured
(fixtures/thirdparty/prometheus/README.md); ``make bench-thirdparty`` runs the whole matrix on both
third-party agents. Its mutant (tests/mutants/tp-prometheus-no-backoff) is in test_mutants.py.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

STARTLE = [sys.executable, "-m", "harness.cli"]
PASSING = ["baseline", "center-outage", "center-503-then-ok", "config-unreadable", "arch-binfmt-off"]


def test_prometheus_is_judged_from_the_center_log_and_the_wire(docker, tmp_path):
    env = {**os.environ, "STARTLE_REPORTS": str(tmp_path)}
    proc = subprocess.run([*STARTLE, "run", "--no-pairs", "-j", "2", "--profile", "tp-prometheus", *PASSING,
                           "toxic-latency"], env=env, capture_output=True, text=True, timeout=600)
    journal = json.loads((Path(tmp_path) / "latest" / "results.json").read_text())
    statuses = {s["name"]: s["status"] for s in journal["scenarios"]}
    assert statuses == {**{name: "pass" for name in PASSING}, "toxic-latency": "skip"}, proc.stdout[-4000:]
    outage = next(s for s in journal["scenarios"] if s["name"] == "center-outage")
    grows = next(v for v in outage["verdicts"] if v["check"] == "gaps_grow")
    assert grows["measured"]["source"] == "center+wire"  # refused connections seen on the wire
    latency = next(s for s in journal["scenarios"] if s["name"] == "toxic-latency")
    assert "one HTTP request cannot be told from another" in latency["error"]
