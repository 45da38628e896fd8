"""Turning raw Docker events and agent log lines into timeline events (no Docker needed)."""

import pytest

from harness.collectors import DockerEvents, split_docker_timestamp
from harness.profile import SignalSpec, load_profile
from harness.signals import parse_logfmt, read_line

REFERENCE = load_profile("reference").signals


def test_json_log_line_becomes_a_signal_at_the_agents_time():
    [event] = read_line('{"ts": 12.5, "event": "register_attempt", "attempt": 3}\n', REFERENCE, 99.0)
    assert (event.source, event.kind, event.t, event.get("attempt")) == ("agent", "attempt", 12.5, 3)


def test_plain_and_broken_lines_are_kept_as_lines_at_dockers_time():
    [plain] = read_line("starting up", REFERENCE, 5.0)
    [broken] = read_line('{"ts": 1, "event": ', REFERENCE, 6.0)
    assert plain.kind == "line" and plain.t == 5.0 and plain.get("t_from") == "docker"
    assert broken.kind == "line" and broken.t == 6.0


def test_a_json_line_of_no_declared_signal_keeps_its_keys():
    [event] = read_line('{"ts": 2.0, "event": "preflight_ok", "checks": 9}', REFERENCE, 9.0)
    assert event.kind == "line" and event.t == 2.0 and event.get("checks") == 9


def test_logfmt_signal_with_rfc3339_time():
    spec = SignalSpec.model_validate({"format": "logfmt", "time": {"key": "ts", "format": "rfc3339"},
                                      "match": {"attempt": {"where": {"msg": "connecting"}}}})
    [event] = read_line('ts=2026-12-01T10:00:00.5Z level=info msg="connecting" peer=center:1883', spec, 0.0)
    assert event.kind == "attempt" and event.get("peer") == "center:1883"
    assert abs(event.t - 1796119200.5) < 1e-6


def test_regex_signals_on_plain_text_with_groups_renames_and_constants():
    spec = SignalSpec.model_validate({"format": "text", "match": {
        "preflight_fail": [{"regex": r"Error: Unable to open config file (?P<path>\S+)",
                            "fields": {"subject": "path"}, "set": {"check": "config-missing"}},
                           {"regex": r"Error: Unable to open (?P<subject>/dev/\S+)", "set": {"check": "device"}}],
        "attempt": {"regex": r"^(?P<ts>\d+): Connecting bridge"}}})
    [fail] = read_line("Error: Unable to open config file /etc/m.conf.", spec, 3.0)
    assert (fail.kind, fail.get("check"), fail.get("subject")) == ("preflight_fail", "config-missing", "/etc/m.conf.")
    [device] = read_line("Error: Unable to open /dev/ttyUSB0", spec, 3.0)
    assert device.get("check") == "device"
    [attempt] = read_line("1700000000: Connecting bridge center", spec, 3.0)
    assert attempt.kind == "attempt" and attempt.t == 1_700_000_000.0


def test_a_line_may_be_two_signals():
    spec = SignalSpec.model_validate({"match": {"attempt_result": {"where": {"msg": "retry"}},
                                                "backoff": {"where": {"msg": "retry"}, "fields": {"sleep_s": "wait"}}}})
    events = read_line('{"msg": "retry", "wait": 0.5}', spec, 1.0)
    assert [e.kind for e in events] == ["attempt_result", "backoff"] and events[1].get("sleep_s") == 0.5


def test_a_matcher_converts_a_field_from_the_agents_unit():
    spec = SignalSpec.model_validate({"match": {"backoff": [
        {"where": {"msg": "go"}, "fields": {"sleep_s": "duration"}, "units": {"sleep_s": "duration"}},
        {"where": {"msg": "millis"}, "fields": {"sleep_s": "wait"}, "units": {"sleep_s": "ms"}}],
        "attempt_result": {"where": {"msg": "took"}, "fields": {"elapsed_ms": "took"}, "units": {"elapsed_ms": "duration"}}}})
    def field(line, name):
        return read_line(line, spec, 0.0)[0].get(name)
    assert field('{"msg": "go", "duration": "2s"}', "sleep_s") == 2.0
    assert field('{"msg": "go", "duration": "100ms"}', "sleep_s") == 0.1
    assert field('{"msg": "go", "duration": "1m30.5s"}', "sleep_s") == 90.5
    assert field('{"msg": "millis", "wait": 250}', "sleep_s") == 0.25
    assert field('{"msg": "millis", "wait": "1500"}', "sleep_s") == 1.5
    assert field('{"msg": "took", "took": "1.2s"}', "elapsed_ms") == 1200.0  # to the field's own unit
    # not a value of the declared unit: null, never a guess (the agent's own key is kept as written)
    assert field('{"msg": "go", "duration": "2"}', "sleep_s") is None
    assert field('{"msg": "go", "duration": "soon"}', "sleep_s") is None
    assert field('{"msg": "millis", "wait": "n/a"}', "sleep_s") is None
    assert field('{"msg": "go", "duration": "2s"}', "duration") == "2s"


def test_go_durations_as_time_parse_duration_reads_them():
    from harness.signals import parse_duration
    cases = {"0": 0.0, "2s": 2.0, "100ms": 0.1, "1h2m3s": 3723.0, "1.5m": 90.0, "300us": 3e-4, "-3s": -3.0,
             "5µs": 5e-6, "": None, "s": None, "2": None, "1.2.3s": None, "2 s": None, "2d": None}
    for text, seconds in cases.items():
        got = parse_duration(text)
        assert (got is None and seconds is None) or abs(got - seconds) < 1e-12, (text, got)


def test_units_apply_only_to_fields_that_name_theirs():
    with pytest.raises(ValueError, match="units apply to fields named"):
        SignalSpec.model_validate({"match": {"backoff": {"where": {"a": 1}, "units": {"sleep": "ms"}}}})
    with pytest.raises(ValueError, match="units"):
        SignalSpec.model_validate({"match": {"backoff": {"where": {"a": 1}, "units": {"sleep_s": "minutes"}}}})


def test_prometheus_retry_after_wait_is_read_in_seconds():
    """tp-prometheus logs its Retry-After wait as Go's duration text (a line seen in a real run)."""
    line = ('{"caller":"dedupe.go:112","component":"remote","duration":"2s","level":"info","msg":"Retrying after '
            'duration specified by Retry-After header","remote_name":"center","ts":"2026-12-01T21:30:24.624Z"}')
    [event] = read_line(line, load_profile("tp-prometheus").signals, 0.0)
    assert (event.kind, event.get("sleep_s"), event.get("reason")) == ("backoff", 2.0, "retry_after")


def test_logfmt_values_with_quotes():
    assert parse_logfmt('a=1 msg="hello world" b="x \\"y\\""') == {"a": "1", "msg": "hello world", "b": 'x "y"'}


def test_docker_timestamp_prefix():
    t, text = split_docker_timestamp("2026-12-01T10:00:00.123456789Z hello there", 5.0)
    assert text == "hello there" and abs(t - 1796119200.123456) < 1e-5
    assert split_docker_timestamp("no stamp here", 5.0) == (5.0, "no stamp here")


def test_docker_event_carries_role_exit_code_and_nanosecond_time():
    raw = {"Action": "die", "id": "abcdef0123456789", "timeNano": 1_700_000_000_123_000_000,
           "Actor": {"Attributes": {"startle.role": "agent", "exitCode": "20", "image": "startle/agent:amd64"}}}
    event = DockerEvents.to_event(raw)
    assert (event.kind, event.container, event.get("exit_code")) == ("die", "agent", 20)
    assert abs(event.t - 1_700_000_000.123) < 1e-6
