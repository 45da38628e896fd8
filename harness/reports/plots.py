"""Matplotlib plots of one scenario as inline SVG text (text kept as text): its timeline and its
retry gaps against the declared policy's band.

x is seconds since the agent container's first start. Only the object API is used (no pyplot
state), on one reused Figure per process and plot kind: building axes is most of a figure's cost.
:func:`render_all` spreads the scenarios over a fork pool of two processes (single-threaded callers only).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from harness.profile import STAGES, RetryPolicySpec
from harness.reports.journal import FaultRecord, ScenarioRecord, fault_windows
from harness.reports.tables import view_of
from harness.view import UNANSWERED, View, describe_source

TOLERANCE_S = 0.25
"""Seconds a gap may leave its band before it is drawn red (the retry_schedule check's default)."""
COLOURS = {
    "2xx": "#2da44e", "4xx": "#e16f24", "5xx": "#cf222e", "none": "#8c959f",
    "created": "#d0d7de", "running": "#218bff", "exited": "#afb8c1",
    "startup": "#f2cc60", "ready": "#8fd19e", "live": "#1a7f37",
    "healthy": "#1a7f37", "unhealthy": "#cf222e", "probe": "#24292f", "oom": "#cf222e",
    "band": "#b6e3ff", "ceiling": "#0969da", "gap": "#0550ae", "outside": "#cf222e",
    "breaker": "#e16f24", "retry_after": "#8250df", "decided": "#57606a", "decided_fail": "#cf222e",
}
FAULT_COLOURS = ["#8250df", "#bf3989", "#0550ae", "#953800", "#1b7c83"]
LANES = ["center requests", "health stage", "container", "faults"]
"""Lanes of the timeline plot, bottom (y = 0) to top."""
RC = {"svg.fonttype": "none", "font.size": 8, "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"],
      "axes.edgecolor": "#8c959f", "axes.linewidth": 0.6, "xtick.color": "#57606a", "ytick.color": "#24292f",
      "xtick.major.size": 3, "ytick.major.size": 0, "axes.labelcolor": "#57606a", "axes.labelsize": 7.5}
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
GROUP_IDS = re.compile(r' id="[A-Za-z][A-Za-z0-9.]*_\d+"')
"""Matplotlib's ids of SVG groups (figure_1, patch_3, ...): the same in every plot, so dropped to keep
ids unique in the page; what is referenced (clip paths, markers) has salted hash ids."""
POOL_MIN = 8
"""Fewer scenarios than this are drawn in-process (a pool's start-up would cost more)."""


@dataclass
class Gaps:
    """Retry gaps of one scenario: ``x`` attempt number k of each gap (k to k + 1), ``gaps_s`` seconds,
    ``band`` (low, high) s per gap (empty without a declared policy), ``kinds`` backoff / breaker /
    retry_after, ``source`` where they come from; ``restarts``: gap indices where a new run of attempts
    begins (a success or an agent restart lies between)."""

    x: list[int]
    gaps_s: list[float]
    band: list[tuple[float, float]]
    kinds: list[str]
    source: str
    restarts: list[int] = field(default_factory=list)

    def outside(self) -> list[bool]:
        """Whether each backoff gap leaves its band by more than :data:`TOLERANCE_S`."""
        if not self.band:
            return [False] * len(self.gaps_s)
        return [k == "backoff" and not lo - TOLERANCE_S <= g <= hi + TOLERANCE_S
                for g, (lo, hi), k in zip(self.gaps_s, self.band, self.kinds)]


def ceilings_s(policy: dict[str, Any], attempts: list[int]) -> list[float]:
    """The declared policy's ceiling E_k in s after each failed attempt k (a journal's ``policy``,
    which has ``base_ms`` and ``cap_ms``): :meth:`RetryPolicySpec.envelope_s`, i.e. min(cap, base ·
    factor^(k−1)) for the exponential family, min(cap, base) for ``family: constant``."""
    declared = RetryPolicySpec.model_construct(**{k: v for k, v in policy.items() if k in RetryPolicySpec.model_fields})
    return [declared.envelope_s(k) for k in attempts]


def band(ceilings: list[float], jitter: str, base_s: float = 0.0, cap_s: float | None = None) -> list[tuple[float, float]]:
    """(low, high) s each gap may take given its ceiling E: full jitter [0, E], equal [E/2, E],
    none [E, E]; decorrelated [base, cap] (only bounded, as the retry_schedule check judges it)."""
    if jitter == "decorrelated":
        return [(base_s, cap_s if cap_s is not None else e) for e in ceilings]
    share = {"full": 0.0, "equal": 0.5, "none": 1.0}.get(jitter, 0.0)
    return [(e * share, e) for e in ceilings]


def attempt_records(view: View) -> tuple[list[tuple[float, int | None, int | None]], str]:
    """(Unix s, attempt, status; a success seen without HTTP status counts as 200) of each
    registration attempt from the best source the profile gives, and that source's description."""
    found = view.attempts(fallback_when_empty=True)
    return [(a.t, a.number, a.status if a.status is not None else 200 if a.ok else None)
            for a in found], found.describe()


def retry_gaps(scenario: ScenarioRecord, events: list[dict]) -> Gaps | None:
    """The scenario's retry gaps, or None with fewer than 2 attempts. Prefers the retry_schedule
    verdict's ``backoff_gaps_s``/``ceilings_s`` (breaker and Retry-After pauses already left out)."""
    policy = scenario.policy
    for verdict in scenario.verdicts:
        measured = verdict.measured
        if measured.get("backoff_gaps_s") and len(measured.get("ceilings_s", [])) == len(measured["backoff_gaps_s"]):
            jitter = measured.get("jitter") or policy.get("jitter", "full")
            cap = policy["cap_ms"] / 1000.0 if "cap_ms" in policy else None
            excluded = measured.get("excluded", {})
            return Gaps(list(range(1, len(measured["backoff_gaps_s"]) + 1)), measured["backoff_gaps_s"],
                        band(measured["ceilings_s"], jitter, policy.get("base_ms", 0) / 1000.0, cap),
                        ["backoff"] * len(measured["backoff_gaps_s"]),
                        f"{verdict.check} backoff gaps from {describe_source(measured.get('source'))} "
                        f"({excluded.get('breaker', 0)} breaker, {excluded.get('retry_after', 0)} Retry-After "
                        f"pauses left out); {jitter} jitter")
    view = view_of(scenario, events)
    records, source = attempt_records(view)
    opened = [e.t for e in view.signal("breaker") if e.get("state") == "open"]
    x, gaps, kinds, restarts = [], [], [], []
    for number, ((t0, n0, s0), (t1, n1, _)) in enumerate(zip(records, records[1:]), start=1):
        if (isinstance(s0, int) and 200 <= s0 < 300) or (n0 is not None and n1 is not None and n1 != n0 + 1):
            restarts += [len(gaps)] if gaps else []  # a success or a restart: the next attempt is no retry
            continue
        x.append(n0 or number)
        gaps.append(round(t1 - t0, 3))
        kinds.append("breaker" if any(t0 <= t <= t1 for t in opened) else "retry_after" if s0 == 429 else "backoff")
    if not gaps:
        return None
    if {"base_ms", "cap_ms"} <= policy.keys():
        jitter = policy.get("jitter", "full")
        limits = band(ceilings_s(policy, x), jitter, policy["base_ms"] / 1000.0, policy["cap_ms"] / 1000.0)
        return Gaps(x, gaps, limits, kinds, f"gaps between registration attempts ({source}); declared policy: "
                    f"{jitter} jitter", restarts)
    return Gaps(x, gaps, [], kinds, f"gaps between registration attempts ({source}); no declared policy", restarts)


def status_class(status: Any) -> str:
    """2xx (any answer below 400), 4xx, 5xx, or none (refused, timed out: no HTTP status)."""
    if not isinstance(status, int) or status <= 0:
        return "none"
    return "2xx" if status < 400 else "4xx" if status < 500 else "5xx"


def origin(scenario: ScenarioRecord, events: list[dict]) -> float:
    """Unix s of x = 0: the agent container's first start, else the scenario's start."""
    if scenario.agent_started is not None:
        return scenario.agent_started
    starts = [e["t"] for e in events if e["source"] == "docker" and e["kind"] == "start" and e["container"] == "agent"]
    return min(starts, default=scenario.started)


def windows_of(fault: FaultRecord, events: list[dict]) -> list[tuple[float, float | None]]:
    """(start, end or None: until the end) Unix s of a FaultRecord's windows; a version-1 journal has
    none, so they come from the timeline's fault events. Empty: in force from creation."""
    return [(w.start, w.end) for w in fault.windows] or \
        [(w["start"], w["end"]) for w in fault_windows(fault.type, events)]


def _segments(marks: list[tuple[float, str]], end: float) -> list[tuple[str, float, float]]:
    """(state, from, to) from state changes ``marks`` (time, state), the last one lasting to ``end``."""
    return [(state, t, (marks[i + 1][0] if i + 1 < len(marks) else end) - t) for i, (t, state) in enumerate(marks)]


def draw_timeline(ax, scenario: ScenarioRecord, events: list[dict], deciding: float | None) -> None:
    """The four lanes of :data:`LANES`; x from the earliest event (or 0) to the last one, in s."""
    zero = origin(scenario, events)
    mine = [dict(e, x=e["t"] - zero) for e in events if e["container"] != "native"
            and not (e["source"] == "docker" and e["container"] in ("center", "toxiproxy"))]
    times = [e["x"] for e in mine] + ([deciding - zero] if deciding is not None else [])
    lo, end = min([0.0, *times]), max([0.0, *times])  # end: the last event, where open states end
    pad = max(end - lo, 1.0) * 0.02
    span = ax.set_xlim(lo - pad, max(end, lo + 1.0) + pad)
    _fault_lane(ax, scenario, events, zero, end, span)
    docker = [e for e in mine if e["source"] == "docker" and e["container"] == "agent"]
    _health_lane(ax, mine, _container_lane(ax, docker, end, span), end)
    register = {(e.t, e.get("path")) for e in view_of(scenario, events).register_requests()}
    for e in mine:
        e["register"] = (e["t"], e["fields"].get("path")) in register
    _request_lane(ax, mine)
    if deciding is not None:
        ax.axvline(deciding - zero, ls=":", lw=1.3,
                   color=COLOURS["decided_fail" if scenario.status == "fail" else "decided"])


def _fault_lane(ax, scenario: ScenarioRecord, events: list[dict], zero: float, end: float, span) -> None:
    """One row per fault, first on top: its windows, or a thin full-width bar when in force from creation."""
    height = 0.8 / max(1, len(scenario.faults))
    for i, fault in enumerate(scenario.faults):
        y, colour = 3.4 - (i + 1) * height, FAULT_COLOURS[i % len(FAULT_COLOURS)]
        bars = [(s - zero, (e - zero if e is not None else end) - (s - zero)) for s, e in windows_of(fault, events)]
        if bars:
            ax.broken_barh(bars, (y + 0.05 * height, 0.9 * height), color=colour, alpha=0.55, lw=0)
        else:
            ax.broken_barh([(span[0], span[1] - span[0])], (y + 0.35 * height, 0.3 * height), color=colour, alpha=0.4)
        ax.text(bars[0][0] if bars else span[0], y + height / 2, f" {fault.type}" + ("" if bars else " (from creation)"),
                fontsize=6.5, va="center", color="#24292f", clip_on=True)
        if fault.type == "flapping":  # the proxy's down phases, darker
            flaps = [(e["t"] - zero, "up" if e["fields"].get("enabled") else "down")
                     for e in events if e["source"] == "fault" and e["kind"] == "flap"]
            down = [(t, w) for state, t, w in _segments(flaps, end) if state == "down"]
            ax.broken_barh(down, (y + 0.05 * height, 0.9 * height), color=colour, alpha=0.9, lw=0)


def _container_lane(ax, docker: list[dict], end: float, span) -> list[tuple[float, str | None]]:
    """The agent container's state from its Docker events, exit codes and OOM kills; returns the
    state changes (x, state)."""
    states = {"create": "created", "start": "running", "die": "exited", "destroy": None}
    marks = [(e["x"], states[e["kind"]]) for e in docker if e["kind"] in states]
    for state, t, w in _segments(marks, end):
        if state:
            ax.broken_barh([(t, w)], (1.7, 0.6), color=COLOURS[state], lw=0)
    for e in docker:
        if e["kind"] == "die":
            code = e["fields"].get("exit_code")
            ax.text(e["x"], 2.33, f"exit {code}", fontsize=6.5, color=COLOURS["oom"] if code else "#57606a",
                    ha="right" if e["x"] > span[0] + 0.9 * (span[1] - span[0]) else "left")
        elif e["kind"] == "oom":
            ax.plot([e["x"]], [2.0], marker="X", ms=8, color=COLOURS["oom"], mec="white", mew=0.8)
            ax.text(e["x"], 1.55, " OOM", fontsize=6.5, color=COLOURS["oom"], va="top", fontweight="bold")
    return marks


def _health_lane(ax, mine: list[dict], container: list[tuple[float, str | None]], end: float) -> None:
    """Each stage while startle's probe of it said yes (a band per stage, startup lowest), Docker
    health, and the agent's own claims of readiness (diamonds)."""
    stopped = [(t, False) for t, state in container if state != "running"]
    for row, stage in enumerate(STAGES):
        answers = [(e["x"], bool(e["fields"].get("ok"))) for e in mine
                   if e["source"] == "probe" and e["kind"] == "stage" and e["fields"].get("stage") == stage]
        marks = sorted(answers + (stopped if answers else []), key=lambda m: m[0])
        for ok, t, w in _segments([(t, ok) for t, ok in marks], end):
            if ok:
                ax.broken_barh([(t, w)], (0.72 + row * 0.17, 0.15), color=COLOURS.get(stage, "#d0d7de"), lw=0)
    for e in mine:
        if e["source"] == "docker" and e["kind"].startswith("health_status") and e["container"] == "agent":
            healthy = e["kind"].endswith(": healthy")
            ax.plot([e["x"]], [1.3], marker="^" if healthy else "v", ms=6,
                    color=COLOURS["healthy" if healthy else "unhealthy"], mec="white", mew=0.5)
    claims = [e["x"] for e in mine if e["source"] == "agent" and e["kind"] == "ready"]
    if claims:
        ax.plot(claims, [0.72] * len(claims), ls="none", marker="D", ms=3.5, color=COLOURS["probe"])


def _request_lane(ax, mine: list[dict]) -> None:
    """The center's requests coloured by status class (registrations big, others small), plus the
    agent's registration attempts that got no HTTP answer (refused, timed out)."""
    requests = [(e["x"], status_class(e["fields"].get("status")), bool(e.get("register")))
                for e in mine if e["source"] == "center" and e["kind"] == "request"]
    requests += [(e["x"], "none", True) for e in mine if (e["source"] == "wire" and e["fields"].get("outcome")
                 in UNANSWERED) or (e["source"] == "agent" and e["kind"] == "attempt_result"
                                    and not isinstance(e["fields"].get("status"), int))]
    if requests:
        ax.scatter([r[0] for r in requests], [0.15 if r[2] else -0.2 for r in requests],
                   c=[COLOURS[r[1]] for r in requests], s=[16 if r[2] else 6 for r in requests], linewidths=0)


def draw_gaps(ax, gaps: Gaps) -> None:
    n = len(gaps.x)
    ax.set_xlim(0.4, n + 0.6)
    if gaps.band:  # one step per gap: x from k - 0.5 to k + 0.5
        edges = [k + 0.5 for k in range(n + 1)]
        lows, highs = [lo for lo, _ in gaps.band], [hi for _, hi in gaps.band]
        ax.fill_between(edges, lows + lows[-1:], highs + highs[-1:], step="post", color=COLOURS["band"], lw=0)
        ax.step(edges, highs + highs[-1:], where="post", color=COLOURS["ceiling"], lw=0.8)
    for index in gaps.restarts:
        ax.axvline(index + 0.5, ls="--", lw=0.8, color=COLOURS["exited"])
    colours = [COLOURS["outside"] if out else COLOURS["gap"] if kind == "backoff" else COLOURS[kind]
               for out, kind in zip(gaps.outside(), gaps.kinds)]
    ax.scatter(range(1, n + 1), gaps.gaps_s, c=colours, s=22, zorder=3, linewidths=0)
    ax.set_ylim(0, max([*gaps.gaps_s, *(hi for _, hi in gaps.band)]) * 1.15 or 1.0)
    step = max(1, n // 12)
    ax.set_xticks(range(1, n + 1, step), [str(k) for k in gaps.x[::step]])


@cache
def _canvas(kind: str):
    """(figure, axes, its permanent artists) for the ``timeline`` or ``gaps`` plot, built once per
    process and reused (so not thread-safe: one thread builds a run's reports)."""
    if kind == "timeline":
        figure = Figure(figsize=(9, 2.2))
        ax = figure.add_axes((0.115, 0.2, 0.875, 0.76))
        ax.set_yticks(range(len(LANES)), LANES)
        ax.set_ylim(-0.5, 3.5)
        for y in (0.5, 1.5, 2.5):
            ax.axhline(y, color="#eaeef2", lw=0.8)
        ax.set_xlabel("seconds since the agent's first start", labelpad=2)
        ax.xaxis.set_major_locator(MaxNLocator(8))
        ax.grid(axis="x", color="#eaeef2", lw=0.6)
    else:
        figure = Figure(figsize=(9, 1.7))
        ax = figure.add_axes((0.115, 0.26, 0.875, 0.68))
        ax.set_ylabel("gap (s)")
        ax.set_xlabel("gap k (from attempt k to attempt k + 1)", labelpad=2)
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.grid(axis="y", color="#eaeef2", lw=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_axisbelow(True)
    return figure, ax, set(ax.get_children())


def _svg(kind: str, draw, *args) -> str:
    """Draw on the reused ``kind`` canvas, return the SVG element text, then remove what was drawn."""
    figure, ax, permanent = _canvas(kind)
    try:
        draw(ax, *args)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata=SVG_METADATA)
    finally:
        for artist in ax.get_children():
            if artist not in permanent:
                artist.remove()
    text = out.getvalue()
    return GROUP_IDS.sub("", text[text.index("<svg"):])


PlotItem = tuple[ScenarioRecord, list[dict], float | None, Gaps | None]
"""What one scenario's plots need: the scenario, its events, the deciding Unix s, its retry gaps."""


def scenario_svgs(item: PlotItem) -> tuple[str, str | None]:
    """(timeline SVG, retry-gap SVG or None: fewer than 2 attempts) of one scenario."""
    scenario, events, deciding, gaps = item
    with matplotlib.rc_context(RC):
        return (_svg("timeline", draw_timeline, scenario, events, deciding),
                _svg("gaps", draw_gaps, gaps) if gaps else None)


def render_all(items: list[PlotItem]) -> list[tuple[str, str | None]]:
    """:func:`scenario_svgs` of every item, in order: in a fork pool of 2 processes when it pays."""
    workers = min(2, os.cpu_count() or 1)
    # Fork only a single-threaded process: a child forked while another thread holds a lock
    # (stdout, logging, a Docker stream) can hang on it forever. A run with threads left draws alone.
    if (workers < 2 or len(items) < POOL_MIN or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()):
        return [scenario_svgs(item) for item in items]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(scenario_svgs, items, chunksize=max(1, len(items) // (4 * workers))))
