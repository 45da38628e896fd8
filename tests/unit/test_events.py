"""The event catalogue is complete, and only the profile-aware layer knows an agent's words."""

import re
import subprocess
from pathlib import Path

from harness.events import EVENTS, SIGNALS
from harness.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]


def recorded_kinds() -> set[tuple[str, str]]:
    """(source, kind) of every literal ``timeline.record(...)`` / ``Event(...)`` in harness/."""
    found = set()
    for path in (ROOT / "harness").rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'\.record\(\s*"(\w+)",\s*"([\w: ]+)"', text))
        found |= set(re.findall(r'Event\(\s*"(\w+)",\s*"([\w: ]+)"', text))
    return found


def test_every_recorded_event_is_declared_once():
    missing = recorded_kinds() - set(EVENTS)
    assert not missing, f"declare these in harness/events.py: {sorted(missing)}"


def test_the_reference_profile_declares_only_known_signals():
    assert set(load_profile("reference").signals.match) <= set(SIGNALS)


def test_no_module_outside_the_profile_layer_knows_the_reference_agent():
    """Nothing in harness/ outside the profile-aware layer (harness/view.py) names the reference
    agent's events, config file or registration path: the storm included, which takes its route
    from the profile (harness/storm/target.py)."""
    words = ["register_attempt", "agent.json", "/v1/register"]
    hits = subprocess.run(["grep", "-rnE", "|".join(re.escape(w) for w in words), "harness"],
                          cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    allowed = ("harness/view.py:",)
    leaks = [h for h in hits if not h.startswith(allowed) and not h.startswith("Binary file")]
    assert not leaks, "\n".join(leaks)


def test_no_scenario_description_speaks_the_reference_agents_words():
    """Descriptions are printed in every agent's report: no file name, exit code or variable of the
    reference agent's."""
    import yaml
    words = re.compile(r"agent\.json|/v1/register|register_attempt|/app/config|NODE_ID|\(exit \d+\)")
    said = {path.name: yaml.safe_load(path.read_text()).get("description", "")
            for path in (ROOT / "scenarios").glob("*.yaml")}
    assert not {name: text for name, text in said.items() if words.search(text)}
