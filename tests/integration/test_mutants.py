"""Every verdict can fail: each mutant agent is flagged by the scenario and check it breaks.

Each folder under tests/mutants/ with a ``mutant.yaml`` (``scenario``, ``check``, ``description``)
is one test case, and one more per scenario of its optional ``also_scenarios`` (the same check must
fail there too: ``<name>@<scenario>``); ``make mutants`` builds it as ``startle/mutant-<name>:amd64``
(``:arm64`` with ``arch: arm64``). A mutant of another agent
than the reference names its profile (``profile: tp-mosquitto``): it is built FROM that
profile's image and the scenario runs with that profile. A launcher mutant
has no Dockerfile but a ``launcher_edit:`` (``replace``/``with``): the scenario runs the profile's
image through a copy of its launcher (the reference's fixtures/agent/launcher.sh when no profile is
named) with that one edit. The run ends once the named check is decided (``until_decided``): the
others are not looked at.
"""

from pathlib import Path

import pytest
import yaml

from harness.config import SCENARIOS_DIR
from harness.lifecycle import run_scenario
from harness.profile import load_profile
from harness.scenario import load_scenario

MUTANTS_DIR = Path(__file__).resolve().parent.parent / "mutants"
MUTANTS = sorted(p.parent for p in MUTANTS_DIR.glob("*/mutant.yaml"))
REFERENCE_LAUNCHER = Path(__file__).resolve().parents[2] / "fixtures" / "agent" / "launcher.sh"


def scenarios_of(folder: Path) -> list[str]:
    """The scenario of a mutant, then those of its ``also_scenarios``."""
    spec = yaml.safe_load((folder / "mutant.yaml").read_text())
    return [spec["scenario"], *spec.get("also_scenarios", [])]


CASES = [(folder, name) for folder in MUTANTS for name in scenarios_of(folder)]


def test_every_mutant_folder_declares_what_catches_it():
    assert MUTANTS, "no mutants found"
    for folder in MUTANTS_DIR.iterdir():
        if folder.is_dir() and (folder / "mutant.yaml").exists():
            spec = yaml.safe_load((folder / "mutant.yaml").read_text())
            assert {"scenario", "check", "description"} <= set(spec), folder
            assert set(spec) <= {"scenario", "also_scenarios", "check", "description", "profile", "arch",
                                 "launcher_edit"}, folder
            for name in scenarios_of(folder):
                assert (SCENARIOS_DIR / f"{name}.yaml").exists(), (folder, name)
            if spec.get("profile"):
                assert load_profile(spec["profile"]).images.get("amd64"), folder


def mutant_launcher(edit: dict, original: Path, out: Path) -> Path:
    """A copy of ``original`` (a launcher) with one text edit; fails if the text is not there once."""
    text = original.read_text()
    assert text.count(edit["replace"]) == 1, f"launcher_edit.replace must match {original} exactly once"
    out.write_text(text.replace(edit["replace"], edit["with"]))
    out.chmod(0o755)
    return out


@pytest.mark.docker
@pytest.mark.parametrize("folder,scenario_name", CASES,
                         ids=[f.name if name == scenarios_of(f)[0] else f"{f.name}@{name}" for f, name in CASES])
def test_mutant_is_flagged(docker, world_pool, folder, scenario_name, tmp_path):
    spec = yaml.safe_load((folder / "mutant.yaml").read_text())
    scenario = load_scenario(SCENARIOS_DIR / f"{scenario_name}.yaml")
    profile = load_profile(spec["profile"]) if spec.get("profile") else None
    if spec.get("launcher_edit"):
        original = profile.resolve(profile.launcher.script) if profile else REFERENCE_LAUNCHER
        launcher = mutant_launcher(spec["launcher_edit"], original, tmp_path / original.name)
        result = run_scenario(scenario, world_pool.run, profile=profile, launcher=launcher, pool=world_pool,
                              until_decided=spec["check"])
    else:
        image = f"startle/mutant-{folder.name}:{spec.get('arch', 'amd64')}"
        docker.images.get(image)  # built by `make mutants`; a missing image is an error, not a skip
        result = run_scenario(scenario, world_pool.run, profile=profile, image=image, pool=world_pool,
                              until_decided=spec["check"])
    assert result.status == "fail", f"{folder.name} ({spec['description']}) passed: {result.summary_line()}"
    # the named check itself failed: not skipped (a check that cannot judge counts neither way, so a
    # skip there would let the mutant through), not passed while another check failed
    statuses = {v["check"]: v["status"] for v in result.verdicts}
    assert statuses.get(spec["check"]) == "fail", \
        f"{folder.name} was not flagged by {spec['check']} ({statuses.get(spec['check'])}): {result.summary_line()}"
