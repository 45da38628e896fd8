"""The release gate flags a slower agent that every check lets through.

Two quick scenarios run twice, each run in its own reports root: once with the reference agent,
once with the variant tests/mutants/slower/ (2 s slower to start its health server; every check
still passes). ``startle compare`` must exit 1 and name the slower figure; a run compared with
itself must exit 0.
"""

import os
import subprocess
import sys
from pathlib import Path

from harness import images

STARTLE = [sys.executable, "-m", "harness.cli"]
SCENARIOS = ["baseline", "center-503-then-ok"]  # no retries / 8 jittered retries before ready
VARIANT = "startle/mutant-slower:amd64"
RUN_TIMEOUT_S = 300


def startle_run(reports: Path, *options: str) -> Path:
    """``startle run --no-pairs -j 2`` of :data:`SCENARIOS` into ``reports``; the run folder."""
    env = {**os.environ, "STARTLE_REPORTS": str(reports)}
    proc = subprocess.run([*STARTLE, "run", "--no-pairs", "-j", "2", *options, *SCENARIOS], env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, f"every check must pass:\n{proc.stdout}\n{proc.stderr}"
    return (reports / "latest").resolve()


def compare(run_a: Path, run_b: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*STARTLE, "compare", str(run_a), str(run_b)], capture_output=True, text=True,
                          timeout=60)


def test_compare_flags_the_slower_variant(docker, tmp_path):
    # built with the mutants (`make mutants`); reused in about a second when it is current
    built = images.build(mutants=True, names=["mutant-slower"], log=lambda line: None)
    assert VARIANT in next(r for r in built if r.name == "mutant-slower").aliases
    reference = startle_run(tmp_path / "reference")
    slower = startle_run(tmp_path / "slower", "--image", VARIANT)

    gate = compare(reference, slower)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    lines = gate.stdout.splitlines()
    for scenario in SCENARIOS:  # center-503-then-ok: with its jittered backoff sleeps taken out
        line = next((l for l in lines if l.strip().startswith(f"{scenario}: ready ")), None)
        assert line is not None and ") SLOWER" in line, gate.stdout
    assert lines[-1].startswith("compare: 2 regressions (2 slower)"), gate.stdout

    same = compare(reference, reference)
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.splitlines()[-1] == "compare: 0 regressions, 2 unchanged", same.stdout
