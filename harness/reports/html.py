"""``report.html``: one self-contained page (no network: inline CSS, inline SVG plots, no script).

Head: run facts, host, shard or merge origin, totals, the resilience score and its families, run-level figures. Then a
summary table (failures first; each name links to its section), then one section per scenario:
faults with their windows, verdicts, the timeline and retry-gap plots (plots.py), and the agent's
log around the deciding event. The markup lives in ``templates/report.html.j2``.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from harness.reports.journal import RunData, ScenarioRecord
from harness.reports.merge import missing_line, origin_line
from harness.reports.plots import (COLOURS, FAULT_COLOURS, TOLERANCE_S, Gaps, origin, render_all, retry_gaps,
                                   windows_of)
from harness.reports.score import Score
from harness.reports.tables import run_summary
from harness.view import describe_source

ORDER = {"fail": 0, "error": 1, "skip": 2, "pass": 3}
"""Summary and section order: what needs a look first."""
LOG_AROUND = 8
"""Agent log lines shown before and after the one nearest the deciding event."""
QUIET_FIELDS = {"ts", "event", "node_id"}
"""Fields a log line leaves out: its time and event are shown already, the node is the scenario's."""


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = number
    return env


def number(value: Any, digits: int = 2) -> str:
    """A figure for a table cell: ``–`` when missing (None, NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def compact(value: Any, width: int = 90) -> str:
    """A measured or expected value on one short line (at most ``width`` characters): floats to 4
    significant digits, lists cut after 6 items."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        shown = ", ".join(compact(v, 20) for v in value[:6])
        return f"[{shown}, … ({len(value)})]" if len(value) > 6 else f"[{shown}]"
    if isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {compact(v, 30)}" for k, v in value.items()) + "}"
    else:
        text = "–" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def deciding_time(scenario: ScenarioRecord) -> float | None:
    """Unix s of the deciding event: the first failed verdict's decision, else the last decision."""
    failed = [v.decided_at for v in scenario.failed_checks if v.decided_at is not None]
    decided = [v.decided_at for v in scenario.verdicts if v.decided_at is not None]
    return failed[0] if failed else max(decided, default=None)


def log_line(event: dict, zero: float) -> str:
    """``+12.345 s  event  key=value …`` for a JSON log event; the raw text for a non-JSON line."""
    fields = event["fields"]
    if event["kind"] == "line":
        body = str(fields.get("line", ""))
    else:
        body = f"{event['kind']:<16} " + "  ".join(f"{k}={compact(v, 60)}" for k, v in fields.items()
                                                    if k not in QUIET_FIELDS)
    return f"{event['t'] - zero:+9.3f} s  {body}"


def log_window(events: list[dict], deciding: float | None, zero: float,
               around: int = LOG_AROUND) -> list[tuple[str, bool]]:
    """(line, is the nearest to ``deciding``) for the agent's log events around ``deciding`` (Unix s);
    the last lines when nothing decided."""
    agent = sorted((e for e in events if e["source"] == "agent"), key=lambda e: e["t"])
    if not agent:
        return []
    near = len(agent) - 1 if deciding is None else min(range(len(agent)), key=lambda i: abs(agent[i]["t"] - deciding))
    first = max(0, near - around)
    return [(log_line(e, zero), deciding is not None and i == near)
            for i, e in enumerate(agent[first: near + around + 1], start=first)]


def fault_rows(scenario: ScenarioRecord, events: list[dict], zero: float) -> list[dict[str, Any]]:
    """Each fault with its windows as text, relative to the agent start."""
    rows = []
    for i, fault in enumerate(scenario.faults):
        text = ", ".join(f"{s - zero:+.1f} s → " + (f"{e - zero:+.1f} s" if e is not None else "end")
                         for s, e in windows_of(fault, events)) or "from creation, whole run"
        rows.append({"type": fault.type, "description": fault.description, "windows": text,
                     "colour": FAULT_COLOURS[i % len(FAULT_COLOURS)]})
    return rows


def section(scenario: ScenarioRecord, events: list[dict], svgs: tuple[str, str | None] | None,
            gaps: Gaps | None, figures: pd.Series) -> dict[str, Any]:
    """What the template shows of one scenario; times relative to the agent start (s)."""
    zero = origin(scenario, events)
    deciding = deciding_time(scenario)
    logs = log_window(events, deciding, zero)
    return {"name": scenario.name, "record": scenario, "figures": figures,
            "faults": fault_rows(scenario, events, zero),
            "verdicts": [{"v": v, "measured": [(k, compact(x)) for k, x in v.measured.items()],
                          "expected": [(k, compact(x)) for k, x in v.expected.items()],
                          "at": None if v.decided_at is None else v.decided_at - zero} for v in scenario.verdicts],
            "deciding": None if deciding is None else deciding - zero,
            "timeline": Markup(svgs[0]) if svgs else None,
            "gaps": Markup(svgs[1]) if svgs and svgs[1] else None, "gaps_source": gaps.source if gaps else "",
            "restarts": bool(gaps and gaps.restarts),
            "attempts_from": describe_source(source) if isinstance(source := figures["attempts_source"], str) else "",
            "logs": logs or [(line, False) for line in scenario.agent_log_tail[-2 * LOG_AROUND:]]}


def head(data: RunData) -> dict[str, Any]:
    """Run id, UTC date, duration, host facts, Docker's detail and any failed prerequisite."""
    record = data.record
    prerequisites = record.host.get("prerequisites", [])
    docker = next((p.get("detail", "") for p in prerequisites if p.get("name") == "docker engine"), "")
    started = datetime.fromtimestamp(record.started, timezone.utc)
    minutes, seconds = divmod(round(record.finished - record.started), 60)
    return {"run_id": record.run_id, "date": started.strftime("%a %d %b %Y, %H:%M:%S UTC"),
            "duration": f"{minutes} min {seconds} s" if minutes else f"{seconds} s", "host": record.host,
            "docker": docker, "failed_prerequisites": [p for p in prerequisites if not p.get("ok", True)],
            "origin": origin_line(record), "incomplete": missing_line(record)}


def render_html(data: RunData, figures: pd.DataFrame, score: Score) -> str:
    """The whole page. Plots are drawn for the scenarios whose checks ran (pass, fail, or skip with
    verdicts: none could be judged); one skipped before it ran, or in error, shows the reason."""
    scenarios = sorted(data.record.scenarios, key=lambda s: ORDER.get(s.status, 9))
    events = {s.name: data.timelines.get(s.name, []) for s in scenarios}
    plotted = [s for s in scenarios if s.status in ("pass", "fail") or (s.status == "skip" and s.verdicts)]
    gaps = {s.name: retry_gaps(s, events[s.name]) for s in plotted}
    svgs = dict(zip((s.name for s in plotted),
                    render_all([(s, events[s.name], deciding_time(s), gaps[s.name]) for s in plotted])))
    sections = [section(s, events[s.name], svgs.get(s.name), gaps.get(s.name), figures.loc[s.name])
                for s in scenarios]
    return environment().get_template("report.html.j2").render(
        head=head(data), stats=run_summary(figures), score=score, sections=sections, colours=COLOURS,
        tolerance_s=TOLERANCE_S)
