"""Scenario files: valid ones load; every malformed one names the file, the field and the fix."""

from pathlib import Path

import pytest

from harness.errors import InputError
from harness.faults import FAULTS
from harness.checks import CHECKS
from harness.profile import load_profile
from harness.scenario import find_scenarios, load_scenario

GOOD = """\
name: {name}
deadline_s: 30
faults:
  - type: proxy_down
    at_s: 0
    duration_s: 5
expect:
  - type: recovers
    within_s: 8
"""


def write(tmp_path: Path, text: str, name: str = "sample") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_every_shipped_scenario_loads():
    paths = find_scenarios()
    assert {p.stem for p in paths} >= {"baseline", "center-outage"}
    for path in paths:
        scenario = load_scenario(path)
        assert scenario.expect, path


def test_good_scenario_builds_typed_faults_and_checks(tmp_path):
    scenario = load_scenario(write(tmp_path, GOOD.format(name="sample")))
    assert scenario.faults[0].type == "proxy_down" and scenario.faults[0].clears_at_s == 5
    assert scenario.expect[0].within_s == 8


@pytest.mark.parametrize("text, field, fix_words", [
    (GOOD.replace("within_s: 8", "within_s: soon"), "expect[0].recovers.within_s", "write a number"),
    (GOOD.replace("type: recovers", "type: recover"), "expect", "known types"),
    (GOOD.replace("type: proxy_down", "type: nope"), "faults", "known types"),
    (GOOD.replace("deadline_s: 30", "deadline_s: 30\nbogus: 1"), "bogus", "remove it"),
    (GOOD.replace("    within_s: 8\n", ""), "expect[0].recovers.within_s", "add the field"),
    (GOOD.replace("duration_s: 5", "duration_s: 50"), "(top level)", "raise deadline_s"),
    (GOOD.replace("name: {name}", "name: Bad_Name"), "name", "lower-case"),
    ("name: [unclosed\n", "line ", "indentation or quoting"),
    ("- just\n- a list\n", "(top level)", "top level"),
])
def test_malformed_scenario_names_file_field_and_fix(tmp_path, text, field, fix_words):
    path = write(tmp_path, text.replace("{name}", "sample"))
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message
    assert caught.value.field.startswith(field), message
    assert fix_words in message, message


def test_name_must_match_file_name(tmp_path):
    path = write(tmp_path, GOOD.format(name="other"), name="sample")
    with pytest.raises(InputError, match="rename the file"):
        load_scenario(path)


def test_unknown_scenario_name_lists_known_ones():
    with pytest.raises(InputError, match="baseline"):
        find_scenarios(["no-such-scenario"])


def test_registries_and_reference_profile():
    assert {"proxy_down", "center_failure"} <= set(FAULTS)
    assert {"registered", "ready", "stage_order", "recovers", "gaps_grow"} <= set(CHECKS)
    profile = load_profile("reference")
    assert profile.retry_policy.envelope_s(1) == pytest.approx(0.1)
    assert profile.retry_policy.envelope_s(10) == pytest.approx(4.0)


def test_a_profile_names_files_beside_itself_before_startles_own(tmp_path):
    """A user's profile in its own repository: ``fixtures/agent/config`` is its own folder there,
    even though startle ships a folder of that name; a path only startle has is startle's."""
    import shutil
    original = Path(load_profile("reference").path)
    (tmp_path / "fixtures" / "agent" / "config").mkdir(parents=True)
    shutil.copy(original, tmp_path / "mine.yaml")
    mine = load_profile(tmp_path / "mine.yaml")
    assert mine.config_source() == tmp_path / "fixtures" / "agent" / "config"
    assert mine.resolve("fixtures/agent/launcher.sh") == load_profile("reference").resolve("fixtures/agent/launcher.sh")


def test_unknown_profile_is_named():
    with pytest.raises(InputError, match="reference"):
        load_profile("nonexistent")
