"""A renamed copy of the reference agent is judged exactly like the reference agent.

tests/mutants/renamed/ changes every name seen from outside (log keys and events, health port and
paths, center paths, config file, diagnosis text); fixtures/profiles/reference-renamed.yaml says
so. The same scenarios run with each profile must give the same verdict for every (scenario,
check), the same figures within run-to-run noise (``startle compare`` exits 0), and the renamed
run's report must hold the same plots: nothing outside the profile knows the reference's words.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from harness import images

STARTLE = [sys.executable, "-m", "harness.cli"]
SCENARIOS = ["baseline", "center-outage", "center-503-then-ok", "config-missing", "region-from-metadata",
             "log-export-outage", "advertise-unroutable"]
RUN_TIMEOUT_S = 400


def startle_runs(tmp_path: Path, *profiles: str) -> list[Path]:
    """One ``startle run`` per profile, all at once: the same load on each, and half the wall time."""
    procs = [subprocess.Popen([*STARTLE, "run", "--no-pairs", "-j", "2", "--profile", profile, *SCENARIOS],
                              env={**os.environ, "STARTLE_REPORTS": str(tmp_path / profile)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for profile in profiles]
    for profile, proc in zip(profiles, procs):
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        assert proc.returncode == 0, f"every check must pass with profile {profile}:\n{out}"
    return [(tmp_path / profile / "latest").resolve() for profile in profiles]


def verdicts(run: Path) -> dict[tuple[str, str], str]:
    journal = json.loads((run / "results.json").read_text())
    return {(s["name"], v["check"]): v["status"] for s in journal["scenarios"] for v in s["verdicts"]}


def test_the_renamed_agent_gets_the_same_verdicts_figures_and_plots(docker, tmp_path):
    images.build(mutants=True, names=["mutant-renamed"], log=lambda line: None)
    reference, renamed = startle_runs(tmp_path, "reference", "reference-renamed")
    assert verdicts(renamed) == verdicts(reference) and len(verdicts(reference)) >= 18

    gate = subprocess.run([*STARTLE, "compare", str(reference), str(renamed)], capture_output=True, text=True,
                          timeout=60)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    # A figure one run did not catch (the scenario ends when its checks are decided, which may be
    # before startle's probe saw readiness) is "not comparable", not a difference.
    summary = gate.stdout.splitlines()[-1]
    assert summary.startswith(f"compare: 0 regressions, {len(SCENARIOS)} unchanged"), gate.stdout

    html = {run: (run / "report.html").read_text() for run in (reference, renamed)}
    for run, text in html.items():  # a timeline per scenario, a retry-gap plot where the agent retried
        assert text.count('<figure class="plot timeline">') == len(SCENARIOS), run
    gaps = {run: text.count('<figure class="plot gaps">') for run, text in html.items()}
    assert gaps[renamed] == gaps[reference] >= 2, gaps  # center-outage, center-503-then-ok
