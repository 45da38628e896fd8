"""Turning raw Docker events and agent log lines into timeline events (no Docker needed)."""

from harness.collectors import DockerEvents, parse_agent_line
from harness.profile import SignalSpec


def test_json_log_line_becomes_a_named_event_at_the_agents_time():
    event = parse_agent_line('{"ts": 12.5, "event": "register_attempt", "attempt": 3}\n', SignalSpec(), 99.0)
    assert (event.source, event.kind, event.t, event.get("attempt")) == ("agent", "register_attempt", 12.5, 3)


def test_plain_and_broken_lines_are_kept_as_lines():
    plain = parse_agent_line("PREFLIGHT FAIL device /dev/ttyUSB0: permission denied", SignalSpec(), 5.0)
    broken = parse_agent_line('{"ts": 1, "event": ', SignalSpec(), 6.0)
    assert plain.kind == "line" and plain.t == 5.0 and "ttyUSB0" in plain.get("line")
    assert broken.kind == "line" and broken.t == 6.0


def test_profile_signal_names_are_honoured():
    signals = SignalSpec(event_key="msg", time_key="time")
    event = parse_agent_line('{"time": 3.0, "msg": "registered"}', signals, 9.0)
    assert event.kind == "registered" and event.t == 3.0


def test_docker_event_carries_role_exit_code_and_nanosecond_time():
    raw = {"Action": "die", "id": "abcdef0123456789", "timeNano": 1_700_000_000_123_000_000,
           "Actor": {"Attributes": {"startle.role": "agent", "exitCode": "20", "image": "startle/agent:amd64"}}}
    event = DockerEvents.to_event(raw)
    assert (event.kind, event.container, event.get("exit_code")) == ("die", "agent", 20)
    assert abs(event.t - 1_700_000_000.123) < 1e-6
