"""stops_gracefully and ready_not_before_registered on synthetic timelines (no Docker): each
passes the promised behaviour and fails the broken one it exists for."""

from harness.checks.exits import StopsGracefully
from harness.checks.readiness import ReadyNotBeforeRegistered
from harness.profile import load_profile
from timelines import NODE, T0, context


def register(t, status=200):
    return ("center", "request", t, "center", {"path": "/v1/register", "status": status, "node_id": NODE,
                                               "method": "POST"})


def ready(t, ok=True, answered=None):
    """startle's ready probe: a round started at ``t``, its answer at ``answered`` (offsets, s)."""
    return ("probe", "ready", t, "agent", {"ok": ok, "answered": T0 + (answered if answered is not None else t)})


def test_ready_saying_no_until_registered_passes():
    events = [ready(0.2, ok=False), register(6.3, 503), register(6.4), ready(6.3, ok=True, answered=6.5)]
    verdict = ReadyNotBeforeRegistered().evaluate(context(events, now_s=7), final=False)
    assert verdict.passed, verdict.message


def test_ready_answered_before_the_registration_fails():
    events = [ready(0.2, ok=True), register(6.4)]
    verdict = ReadyNotBeforeRegistered().evaluate(context(events, now_s=7), final=False)
    assert verdict.status == "fail" and "before it could work" in verdict.message
    never = ReadyNotBeforeRegistered().evaluate(context([ready(0.2)], now_s=20), final=True)
    assert never.status == "fail" and "never registered" in never.message


def test_a_yes_asked_before_but_answered_after_the_registration_is_no_evidence():
    events = [register(1.0), ready(0.9, ok=True, answered=1.05)]
    assert ReadyNotBeforeRegistered().evaluate(context(events, now_s=2), final=False).passed


def test_only_a_profile_that_promises_it_is_judged():
    assert ReadyNotBeforeRegistered().unpromised(load_profile("reference")) == []
    assert "health.ready_after_registered" in ReadyNotBeforeRegistered().unpromised(load_profile("tp-prometheus"))


def stop(t=5.0, grace=10):
    return ("harness", "stop_sent", t, "agent", {"grace_s": grace})


def test_exiting_by_itself_within_the_grace_with_the_stopped_code_passes():
    events = [stop(), ("docker", "die", 5.4, "agent", {"exit_code": 0})]
    verdict = StopsGracefully().evaluate(context(events, now_s=6), final=False)
    assert verdict.passed and verdict.measured["stopped_after_s"] == 0.4


def test_killed_after_the_grace_or_another_code_fails():
    killed = [stop(), ("docker", "die", 15.1, "agent", {"exit_code": 137})]
    verdict = StopsGracefully().evaluate(context(killed, now_s=16), final=False)
    assert verdict.status == "fail" and "ignored SIGTERM" in verdict.message
    other = [stop(), ("docker", "die", 5.2, "agent", {"exit_code": 143})]
    assert "code 143" in StopsGracefully().evaluate(context(other, now_s=6), final=False).message
    assert StopsGracefully().evaluate(context([stop()], now_s=6), final=False) is None


def test_stays_down_passes_a_container_left_down_and_fails_a_restart_or_no_exit():
    from harness.checks.restarts import StaysDown
    start, die = ("docker", "start", 0.1, "agent", {}), ("docker", "die", 0.5, "agent", {"exit_code": 137})
    assert StaysDown(for_s=3).evaluate(context([start, die], now_s=2), final=False) is None
    assert StaysDown(for_s=3).evaluate(context([start, die], now_s=3.6), final=False).passed
    again = ("docker", "start", 0.8, "agent", {})
    restarted = StaysDown(for_s=3).evaluate(context([start, die, again], now_s=1), final=False)
    assert restarted.status == "fail" and "started again 0.30 s later" in restarted.message
    assert StaysDown(for_s=3, within_s=5).evaluate(context([start], now_s=4), final=False) is None
    assert StaysDown(for_s=3, within_s=5).evaluate(context([start], now_s=6), final=False).status == "fail"
