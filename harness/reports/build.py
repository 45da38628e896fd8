"""Write a run's reports. Everything but ``results.json`` and the timelines is derived, so
``startle report RUN`` can rebuild it all from those two.

Files under ``reports/<run-id>/`` (fixed names, like locust's report writers):

=====================  =============================================================
results.json           the journal (schema: journal.py, docs/results.schema.json)
<scenario>/timeline.jsonl  every event of one scenario, one JSON object per line
junit.xml              one testcase per scenario (junit.py)
timeline.parquet/.csv  every event of the run, one row each (tables.py)
report.html            self-contained: summary, score, per-scenario plots (html.py)
summary.md             the CI job summary (summary.py)
=====================  =============================================================
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Protocol

from harness.reports.journal import (RESULTS_FILE, TIMELINE_FILE, RunData, RunRecord, load_run,
                                     results_document, scenario_record)
from harness.errors import InfrastructureError
from harness.reports.junit import junit_document
from harness.reports.score import load_weights, resilience_score
from harness.reports.summary import summary_markdown, write_summary
from harness.reports.tables import run_summary, scenario_figures, write_event_tables


class ResultLike(Protocol):
    """What :func:`write_run` needs of a scenario result (``harness.lifecycle.ScenarioResult``)."""

    name: str
    timeline: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]: ...


class RunLike(Protocol):
    run_id: str
    started: float
    dir: Path


def build_reports(folder: Path | str, weights: Path | str | None = None) -> list[Path]:
    """(Re)build every derived report of a run folder from its journal; returns the files written."""
    data = load_run(folder)
    return write_derived(data, weights)


def write_derived(data: RunData, weights: Path | str | None = None) -> list[Path]:
    from harness.reports.html import render_html  # matplotlib is imported only when reports are built
    folder = data.dir
    figures = scenario_figures(data)
    score = resilience_score(figures, load_weights(weights))
    junit_document(data).write(folder / "junit.xml", encoding="utf-8", xml_declaration=True)
    written = [folder / "junit.xml", *write_event_tables(data, folder)]
    html = folder / "report.html"
    html.write_text(render_html(data, figures, score), encoding="utf-8")
    written += [html, write_summary(summary_markdown(data, figures, score), folder)]
    return written


def headline(folder: Path | str, weights: Path | str | None = None) -> str:
    """One line: counts per status and the resilience score, e.g. for the end of ``startle run``."""
    try:
        figures = scenario_figures(load_run(folder))
        score = resilience_score(figures, load_weights(weights))
    except Exception as exc:  # noqa: BLE001  (a headline must not hide the run's exit code)
        return f"results in {folder} ({type(exc).__name__}: {exc})"
    stats = run_summary(figures)
    skipped = f", {stats['skip']} skipped" if stats["skip"] else ""
    unjudged = f" ({stats['checks_skipped']} check(s) not judged)" if stats["checks_skipped"] else ""
    return f"{stats['pass']} passed, {stats['fail']} failed, {stats['error']} errors{skipped}{unjudged} · {score.line()}"


def run_data(run: RunLike, results: list[ResultLike], host: dict[str, Any], finished: float,
             shard: dict[str, Any] | None = None) -> RunData:
    """The in-memory equivalent of what :func:`load_run` reads back from disk (``shard``: the
    journal's ``shard`` record of a ``--shard K/N`` run)."""
    scenarios = [scenario_record(r.to_dict(), r.timeline) for r in results]
    document = results_document(run.run_id, run.started, finished, host, scenarios, shard=shard)
    return RunData(run.dir, RunRecord.model_validate(document), {r.name: r.timeline for r in results})


def write_run(run: RunLike, results: list[ResultLike], host: dict[str, Any], finished: float,
              weights: Path | str | None = None, shard: dict[str, Any] | None = None) -> Path:
    """Write the journal and timelines of ``run``, every derived report, and point ``latest`` at it."""
    return write_data(run_data(run, results, host, finished, shard), weights)


def write_data(data: RunData, weights: Path | str | None = None, latest: bool = True) -> Path:
    """Write ``data``'s journal and timelines into ``data.dir``, then every derived report; point
    ``latest`` (in the folder's parent) at it unless ``latest`` is false. Returns the folder."""
    intended = data.dir
    try:
        folder = write_journal(data)
    except OSError as exc:  # the reports disk is full or read-only: keep the journal elsewhere
        data.dir = FALLBACK_DIR / data.dir.name
        try:
            write_journal(data)
        except OSError:
            raise InfrastructureError(f"could not write the journal to {intended} ({exc.strerror}) nor to "
                                      f"{data.dir}; the results are lost, free some disk space") from None
        raise InfrastructureError(f"could not write the reports to {intended} ({exc.strerror}); the journal is in "
                                  f"{data.dir}: free some space, copy it back and `startle report` it") from None
    try:
        write_derived(data, weights)
    except Exception as exc:  # noqa: BLE001  (the journal is written; a report bug must not lose the run)
        print(f"startle: could not build every report of {folder} ({type(exc).__name__}: {exc}); results.json "
              f"and the timelines are intact: `startle report {folder}` rebuilds the rest", file=sys.stderr)
    if latest:
        point_latest(folder)
    return folder


FALLBACK_DIR = Path(tempfile.gettempdir()) / "startle-reports"
"""Where a run's journal goes when its reports folder cannot be written (disk full, read-only)."""


def write_journal(data: RunData) -> Path:
    """Write ``results.json`` and one ``timeline.jsonl`` per scenario into ``data.dir``; returns it."""
    folder = data.dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RESULTS_FILE).write_text(data.record.model_dump_json(indent=2))
    for name, timeline in data.timelines.items():
        (folder / name).mkdir(exist_ok=True)
        with (folder / name / TIMELINE_FILE).open("w") as out:
            for record in timeline:
                out.write(json.dumps(record) + "\n")
    return folder


def point_latest(folder: Path) -> None:
    """Atomically re-point ``<reports>/latest`` at ``folder`` (a relative symlink)."""
    link = folder.parent / "latest"
    tmp = folder.parent / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(folder.name)
    os.replace(tmp, link)
