"""The agent's log lines → timeline events, through the profile's matchers (any log format).

``read_line(text, spec, docker_t)`` parses one line as the profile says (``json``: an object;
``logfmt``: ``key=value`` pairs; ``text``: nothing parsed), then tests every declared signal's
matcher; each match is one ``agent/<signal>`` event, a line that matches none is ``agent/line``.
Fields: the parsed keys and the regex groups, renamed by the matcher's ``fields``, plus ``line``.

Time: from the line (``signals.time.key``, epoch seconds / milliseconds or RFC 3339) when the line
has it, else Docker's timestamp of the line (``docker_t``, Unix seconds).

Units: a matcher's ``units`` converts a field the agent writes in another unit (``2s``, ``100ms``,
milliseconds) to the unit its name gives (``*_s`` seconds, ``*_ms`` milliseconds): :func:`in_unit`.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime
from functools import lru_cache
from typing import Any

from harness.profile import Matcher, SignalSpec, TimeSpec
from harness.timeline import Event

_LOGFMT = re.compile(r'([\w.\-/]+)=("(?:[^"\\]|\\.)*"|\S*)')
SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}
"""Seconds per unit: of Go's duration text (``time.ParseDuration``), and of a number's declared unit."""
_DURATION = re.compile(r"([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:h|ms|m|s|us|µs|μs|ns))+)")
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(h|ms|m|s|us|µs|μs|ns)")


def parse_logfmt(text: str) -> dict[str, Any]:
    """``level=info msg="a b" n=3`` → ``{"level": "info", "msg": "a b", "n": "3"}`` (values as text)."""
    out: dict[str, Any] = {}
    for key, value in _LOGFMT.findall(text):
        if value.startswith('"'):
            try:
                value = shlex.split(value)[0] if value != '""' else ""
            except ValueError:
                value = value.strip('"')
        out[key] = value
    return out


def parse(text: str, fmt: str) -> dict[str, Any]:
    """The line's keys under the profile's format (empty when the line is not of that format)."""
    if fmt == "json":
        start = text.find("{")
        if start < 0:
            return {}
        try:
            obj = json.loads(text[start:])
        except json.JSONDecodeError:
            return {}
        return obj if isinstance(obj, dict) else {}
    if fmt == "logfmt":
        return parse_logfmt(text)
    return {}


def line_time(parsed: dict[str, Any], groups: dict[str, Any], spec: TimeSpec) -> float | None:
    """Unix seconds from the line, or None when it has no readable time."""
    raw = groups.get("ts") if groups.get("ts") is not None else (parsed.get(spec.key) if spec.key else None)
    if raw is None:
        return None
    if spec.format in ("epoch", "epoch_ms"):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return None
        return value / 1000.0 if spec.format == "epoch_ms" else value
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_duration(text: str) -> float | None:
    """Go's duration text in seconds (``"1m30s"`` → 90.0, ``"100ms"`` → 0.1, ``"0"`` → 0.0), or None."""
    text = text.strip()
    if text in ("0", "+0", "-0"):
        return 0.0
    found = _DURATION.fullmatch(text)
    if found is None:
        return None
    total = sum(float(number) * SECONDS[unit] for number, unit in _DURATION_PART.findall(found.group(2)))
    return -total if found.group(1) == "-" else total


def in_unit(value: Any, unit: str, field: str) -> float | None:
    """``value``, written in ``unit`` (s, ms, us, ns, or duration: Go's text), in the unit ``field``'s
    name gives (``*_ms`` milliseconds, else seconds); None when it is not a value of that unit."""
    if unit == "duration":
        seconds = parse_duration(value) if isinstance(value, str) else None
    else:
        try:
            seconds = None if isinstance(value, bool) else float(value) * SECONDS[unit]
        except (TypeError, ValueError):
            seconds = None
    if seconds is None or seconds != seconds:  # NaN is no value
        return None
    return round(seconds * 1000.0 if field.endswith("_ms") else seconds, 9)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def match(matcher: Matcher, text: str, parsed: dict[str, Any]) -> dict[str, Any] | None:
    """The regex groups (``{}`` when no regex) if the line is this signal, else None."""
    for key, wanted in matcher.where.items():
        if key not in parsed or str(parsed[key]) != str(wanted):
            return None
    if matcher.regex is None:
        return {}
    found = _compiled(matcher.regex).search(text)
    return None if found is None else {k: v for k, v in found.groupdict().items() if v is not None}


def read_line(text: str, spec: SignalSpec, docker_t: float) -> list[Event]:
    """One log line → its events (one per matching signal, or one ``line``), time-stamped."""
    text = text.rstrip("\r\n")
    parsed = parse(text, spec.format)
    events: list[Event] = []
    done: set[str] = set()
    for name, matcher in spec.matchers():
        groups = None if name in done else match(matcher, text, parsed)
        if groups is None:
            continue
        done.add(name)
        fields = {**parsed, **groups, **matcher.set}
        for ours, theirs in matcher.fields.items():
            if theirs in fields:
                fields[ours] = fields[theirs]
        for ours, unit in matcher.units.items():
            if ours in fields:
                fields[ours] = in_unit(fields[ours], unit, ours)
        fields["line"] = text
        events.append(_stamped(name, fields, line_time(parsed, groups, spec.time), docker_t))
    if not events:
        events.append(_stamped("line", {**parsed, "line": text}, line_time(parsed, {}, spec.time), docker_t))
    return events


def _stamped(kind: str, fields: dict[str, Any], line_t: float | None, docker_t: float) -> Event:
    """The event at the line's own time, else at Docker's (then ``t_from: docker``)."""
    if line_t is None:
        return Event("agent", kind, docker_t, "agent", {**fields, "t_from": "docker"})
    return Event("agent", kind, line_t, "agent", fields)
