"""``startle run --image CANDIDATE`` — the README's CI example — with a single-architecture image
(the reference agent re-tagged): what that image cannot provide (the arm64 scenarios) is skipped
with the reason, everything else is judged, and the run exits 0."""

import json
import os
import subprocess
import sys

CANDIDATE = "startle/candidate-test:1.0"
SLICE = ["baseline", "config-missing", "arch-qemu", "arch-binfmt-off", "rollback-bad-upgrade"]


def test_a_single_arch_candidate_image_is_judged_and_its_arch_scenarios_skipped(docker, tmp_path):
    docker.images.get("startle/agent:amd64").tag(CANDIDATE)
    try:
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "-j", "3", "--image", CANDIDATE, *SLICE],
                              env={**os.environ, "STARTLE_REPORTS": str(tmp_path)}, capture_output=True, text=True,
                              timeout=600)
    finally:
        docker.images.remove(CANDIDATE)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    journal = json.loads((tmp_path / "latest" / "results.json").read_text())
    statuses = {s["name"]: (s["status"], s.get("error") or "") for s in journal["scenarios"]}
    for name in ("arch-qemu", "arch-binfmt-off"):
        status, reason = statuses[name]
        assert status == "skip" and f"{CANDIDATE}, is amd64" in reason, statuses[name]
    assert all(statuses[name][0] == "pass" for name in ("baseline", "config-missing", "rollback-bad-upgrade")), statuses
