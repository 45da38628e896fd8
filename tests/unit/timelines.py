"""Synthetic timelines for check unit tests: events at offsets (s) from T0, a clock you choose."""

from harness.checks import CheckContext
from harness.profile import load_profile
from harness.timeline import Timeline

T0 = 1_000_000.0
"""Unix time of the agent container's start in every synthetic timeline."""
NODE = "node-x"


def context(events=(), now_s: float = 3.0) -> CheckContext:
    """A timeline with the agent started at T0 plus ``events`` — tuples (source, kind, offset_s,
    container, fields) — and a clock that reads T0 + ``now_s``."""
    timeline = Timeline(start=T0 - 1)
    timeline.record("docker", "start", "agent", t=T0)
    for source, kind, t, container, fields in events:
        timeline.record(source, kind, container, t=T0 + t, **fields)
    return CheckContext(timeline, load_profile("reference"), NODE, clock=lambda: T0 + now_s)
