"""Every verdict can fail: each mutant agent is flagged by the scenario and check it breaks.

Each folder under tests/mutants/ with a ``mutant.yaml`` (``scenario``, ``check``, ``description``)
is one test case; ``make mutants`` builds it as ``startle/mutant-<name>:amd64``.
"""

from pathlib import Path

import pytest
import yaml

from harness.config import SCENARIOS_DIR
from harness.lifecycle import run_scenario
from harness.runtime import Run
from harness.scenario import load_scenario

MUTANTS_DIR = Path(__file__).resolve().parent.parent / "mutants"
MUTANTS = sorted(p.parent for p in MUTANTS_DIR.glob("*/mutant.yaml"))


def test_every_mutant_folder_declares_what_catches_it():
    assert MUTANTS, "no mutants found"
    for folder in MUTANTS_DIR.iterdir():
        if folder.is_dir() and (folder / "Dockerfile").exists():
            spec = yaml.safe_load((folder / "mutant.yaml").read_text())
            assert {"scenario", "check", "description"} <= set(spec), folder
            assert (SCENARIOS_DIR / f"{spec['scenario']}.yaml").exists(), folder


@pytest.mark.docker
@pytest.mark.parametrize("folder", MUTANTS, ids=[p.name for p in MUTANTS])
def test_mutant_is_flagged(docker, folder):
    spec = yaml.safe_load((folder / "mutant.yaml").read_text())
    image = f"startle/mutant-{folder.name}:amd64"
    docker.images.get(image)  # built by `make mutants`; a missing image is an error, not a skip
    scenario = load_scenario(SCENARIOS_DIR / f"{spec['scenario']}.yaml")
    result = run_scenario(scenario, Run(), image=image)
    assert result.status == "fail", f"{folder.name} ({spec['description']}) passed: {result.summary_line()}"
    failed = {v["check"]: v["message"] for v in result.failed_checks}
    assert spec["check"] in failed, f"{folder.name} was not flagged by {spec['check']}: {result.summary_line()}"
