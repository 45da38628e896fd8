"""harness/sentinel.py: startle's own world breaking is named, the agent's doings are not."""

from harness.sentinel import SLOW_ENGINE_S, broken
from timelines import context


def test_the_agent_dying_is_the_agents_business():
    assert broken(context([("docker", "die", 1, "agent", {"exit_code": 11})]).timeline) is None


def test_the_center_or_toxiproxy_dying_is_startles():
    for role in ("center", "toxiproxy"):
        reason = broken(context([("docker", "die", 1, role, {"exit_code": 137})]).timeline)
        assert reason and f"the {role} container died (exit 137)" in reason


def test_the_engine_going_away_is_startles():
    reason = broken(context([("harness", "engine_lost", 2, "", {"reason": "its event stream ended"})]).timeline)
    assert reason and "event stream ended" in reason


def test_an_engine_event_that_arrives_late_stops_the_judging():
    on_time = context([("docker", "start", 1, "agent", {"lag_s": 0.05})]).timeline
    assert broken(on_time) is None
    late = context([("docker", "die", 1, "agent", {"lag_s": SLOW_ENGINE_S + 1, "exit_code": 1})]).timeline
    assert "too slow" in broken(late) and "die" in broken(late)
