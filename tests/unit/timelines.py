"""Synthetic timelines for check unit tests: events at offsets (s) from T0, a clock you choose.

Agent events are written the way the reference agent logs them (``("agent", "register_attempt",
...)``) and read through the reference profile's matchers, as the log collector does: the
timeline holds startle's signal names (``attempt``...). ``("probe", STAGE, t, "agent", {"ok":
bool})`` is startle's probe of a health stage.
"""

import json

from harness.checks import CheckContext
from harness.profile import load_profile
from harness.signals import read_line
from harness.timeline import Event, Timeline

T0 = 1_000_000.0
"""Unix time of the agent container's start in every synthetic timeline."""
NODE = "node-x"


def as_events(source, kind, t, container, fields, profile) -> list[Event]:
    """One test tuple → the timeline events the collectors would record for it."""
    if source == "agent" and kind == "line":
        return read_line(fields["line"], profile.signals, t)
    if source == "agent":
        return read_line(json.dumps({"ts": t, "event": kind, **fields}), profile.signals, t)
    if source == "probe":
        return [Event("probe", "stage", t, container, {"stage": kind, "how": "test", **fields})]
    return [Event(source, kind, t, container, fields)]


def context(events=(), now_s: float = 3.0, profile=None) -> CheckContext:
    """A timeline with the agent started at T0 plus ``events`` — tuples (source, kind, offset_s,
    container, fields) — and a clock that reads T0 + ``now_s``."""
    profile = profile or load_profile("reference")
    timeline = Timeline(start=T0 - 1)
    timeline.record("docker", "start", "agent", t=T0)
    for source, kind, t, container, fields in events:
        for event in as_events(source, kind, T0 + t, container, fields, profile):
            timeline.add(event)
    return CheckContext(timeline, profile, NODE, clock=lambda: T0 + now_s)
