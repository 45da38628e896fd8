"""Tables built with pandas from a run's journal and timelines.

* :func:`events_frame`      one row per event of every scenario (``timeline.parquet`` / ``.csv``)
* :func:`scenario_figures`  one row per scenario: status and the figures people compare
  (time to ready, recovery time, registration attempts and their source, restarts), the checks
  that failed and those that could not be judged
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.reports.journal import RunData, ScenarioRecord
from harness.view import View

EVENT_COLUMNS = ["scenario", "t", "t_s", "source", "container", "kind", "fields"]
"""``t``: Unix s; ``t_s``: seconds since the agent's first start (NaN if it never started);
``fields``: the event's own fields as a JSON object string."""

FIGURE_COLUMNS = ["family", "status", "wall_s", "ready_s", "recovery_s", "attempts", "attempts_source",
                  "restarts", "failed_checks", "skipped_checks"]
"""``attempts_source``: where ``attempts`` were read from (harness/view.py: agent, center+wire, wire...);
``failed_checks`` / ``skipped_checks``: check types, comma-separated."""


def events_frame(data: RunData) -> pd.DataFrame:
    """Every event of every scenario, in time order within a scenario."""
    frames = []
    for scenario in data.record.scenarios:
        records = data.timelines.get(scenario.name, [])
        if not records:
            continue
        frame = pd.DataFrame.from_records(records, columns=["source", "kind", "t", "container", "fields"])
        frame.insert(0, "scenario", scenario.name)
        zero = scenario.agent_started if scenario.agent_started is not None else np.nan
        frame["t_s"] = (frame["t"] - zero).round(6)
        frame["fields"] = [json.dumps(f, sort_keys=True, default=str) for f in frame["fields"]]
        frames.append(frame.sort_values("t", kind="stable"))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("t", "t_s") else "object")
                             for c in EVENT_COLUMNS})
    return pd.concat(frames, ignore_index=True)[EVENT_COLUMNS]


def write_event_tables(data: RunData, folder: Path) -> list[Path]:
    """``timeline.parquet`` and ``timeline.csv`` in ``folder``; returns their paths."""
    frame = events_frame(data)
    parquet, csv = folder / "timeline.parquet", folder / "timeline.csv"
    frame.to_parquet(parquet, index=False)
    frame.to_csv(csv, index=False)
    return [parquet, csv]


def measured(scenario: ScenarioRecord, key: str) -> float | None:
    """The first verdict's measured ``key`` (a number), or None."""
    for verdict in scenario.verdicts:
        value = verdict.measured.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def view_of(scenario: ScenarioRecord, records: list[dict]) -> View:
    """The scenario's timeline read through the profile it ran with."""
    return View.of_journal(records, scenario.profile_spec, scenario.profile)


def attempt_times(view: View) -> list[float]:
    """Unix s of registration attempts, from the source the view chooses for the profile (the next
    one when that saw nothing): the same source the checks judged from."""
    return view.attempts(fallback_when_empty=True).times


def attempt_count(scenario: ScenarioRecord, records: list[dict]) -> tuple[int, str | None]:
    """(registration attempts, their source) from the view's chosen source; a journal without a
    timeline falls back on what a check counted, and its source."""
    found = view_of(scenario, records).attempts(fallback_when_empty=True)
    if found.items:
        return len(found), found.source
    for verdict in scenario.verdicts:
        count = verdict.measured.get("attempts")
        if isinstance(count, int) and not isinstance(count, bool) and count:
            return count, verdict.measured.get("source")
    return 0, None


def ready_after_s(scenario: ScenarioRecord, records: list[dict]) -> float | None:
    """Seconds from the agent's start to readiness: a check's measurement, else startle's first
    yes from the ready probe."""
    value = measured(scenario, "ready_after_s")
    if value is None:
        value = measured(scenario, "emulated_ready_s")
    if value is not None or scenario.agent_started is None:
        return value
    ready = view_of(scenario, records).stage_ok("ready")
    return round(ready.t - scenario.agent_started, 3) if ready else None


def scenario_figures(data: RunData) -> pd.DataFrame:
    """One row per scenario (index: name), columns :data:`FIGURE_COLUMNS`; missing figures are NaN."""
    rows = []
    for scenario in data.record.scenarios:
        records = data.timelines.get(scenario.name, [])
        attempts, source = attempt_count(scenario, records)
        rows.append({
            "name": scenario.name, "family": scenario.family, "status": scenario.status,
            "wall_s": scenario.wall_s,
            "ready_s": ready_after_s(scenario, records),
            "recovery_s": measured(scenario, "recovery_s"),
            "attempts": attempts if attempts else np.nan,
            "attempts_source": source if attempts else None,
            "restarts": scenario.agent.get("restart_count", np.nan),
            "failed_checks": ", ".join(v.check for v in scenario.failed_checks),
            "skipped_checks": ", ".join(v.check for v in scenario.skipped_checks),
        })
    frame = pd.DataFrame(rows, columns=["name", *FIGURE_COLUMNS]).set_index("name")
    for column in ("ready_s", "recovery_s", "attempts", "restarts"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def run_summary(figures: pd.DataFrame) -> dict[str, float | int | None]:
    """Counts per status, checks not judged in judged scenarios (``checks_skipped``), recovery and
    time-to-ready p50/p95 (s), attempts p50/max, over the run."""
    def pct(column: str, q: float) -> float | None:
        values = figures[column].dropna()
        return round(float(values.quantile(q)), 3) if len(values) else None

    counts = figures["status"].value_counts()
    partly = figures[figures["status"].isin(["pass", "fail"])]["skipped_checks"]
    return {"scenarios": len(figures), **{s: int(counts.get(s, 0)) for s in ("pass", "fail", "error", "skip")},
            "checks_skipped": int(sum(len(c.split(", ")) for c in partly if c)),
            "recovery_p50_s": pct("recovery_s", 0.5), "recovery_p95_s": pct("recovery_s", 0.95),
            "ready_p50_s": pct("ready_s", 0.5), "ready_p95_s": pct("ready_s", 0.95),
            "attempts_p50": pct("attempts", 0.5),
            "attempts_max": int(figures["attempts"].max()) if figures["attempts"].notna().any() else None}
