"""Every verdict can fail: each mutant agent is flagged by the scenario and check it breaks."""

import pytest

from harness.lifecycle import run_scenario
from harness.runtime import Run
from harness.scenario import load_scenario
from harness.config import SCENARIOS_DIR

MUTANTS = [
    # (mutant, scenario that must catch it, check that must fail)
    ("fixed-interval", "center-outage", "gaps_grow"),
    ("never-ready", "baseline", "ready"),
]


@pytest.mark.docker
@pytest.mark.parametrize("mutant, scenario_name, check", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_is_flagged(docker, mutant, scenario_name, check):
    image = f"startle/mutant-{mutant}:amd64"
    docker.images.get(image)  # built by `make mutants`; a missing image is an error, not a skip
    scenario = load_scenario(SCENARIOS_DIR / f"{scenario_name}.yaml")
    result = run_scenario(scenario, Run(), image=image)
    assert result.status == "fail", result.summary_line()
    failed = {v["check"]: v["message"] for v in result.failed_checks}
    assert check in failed, f"{mutant} was not flagged by {check}: {result.summary_line()}"
