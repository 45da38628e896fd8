"""``summary.md``: the run in a screenful of Markdown, for a CI job summary.

Written next to the other reports, and appended to ``$GITHUB_STEP_SUMMARY`` when that is set
(GitHub Actions shows it on the run's page).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from harness.reports.journal import RunData
from harness.reports.merge import missing_line, origin_line
from harness.reports.score import Score
from harness.reports.tables import run_summary

ICON = {"pass": "✅", "fail": "❌", "error": "⚠️", "skip": "⏭️"}


def cell(value, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{value:g}{unit}" if isinstance(value, (int, float)) else str(value).replace("|", "\\|")


def summary_markdown(data: RunData, figures: pd.DataFrame, score: Score) -> str:
    record, stats = data.record, run_summary(figures)
    incomplete, origin = missing_line(record), origin_line(record)
    verdict = "FAILED" if stats["fail"] or stats["error"] else "INCOMPLETE" if incomplete else "passed"
    lines = [f"## startle run `{record.run_id}` — {verdict}", "",
             f"**{stats['pass']} passed, {stats['fail']} failed, {stats['error']} errors, {stats['skip']} skipped** "
             f"of {stats['scenarios']} scenarios"
             + (f" ({stats['checks_skipped']} check(s) not judged)" if stats["checks_skipped"] else "")
             + f" · **{score.line()}**", "",
             *([origin, ""] if origin else []), *([f"⚠️ **{incomplete}**", ""] if incomplete else []),
             "| recovery p50 | recovery p95 | ready p50 | ready p95 | attempts p50 | attempts max |",
             "|---:|---:|---:|---:|---:|---:|",
             f"| {cell(stats['recovery_p50_s'], ' s')} | {cell(stats['recovery_p95_s'], ' s')} "
             f"| {cell(stats['ready_p50_s'], ' s')} | {cell(stats['ready_p95_s'], ' s')} "
             f"| {cell(stats['attempts_p50'])} | {cell(stats['attempts_max'])} |", ""]
    failed = [s for s in record.scenarios if s.status in ("fail", "error")]
    if failed:
        lines += ["### Failures", "", "| scenario | check | why |", "|---|---|---|"]
        for scenario in failed:
            if scenario.status == "error":
                lines.append(f"| {ICON['error']} {scenario.name} | (harness) | {cell(scenario.error)} |")
            for verdict_ in scenario.failed_checks:
                lines.append(f"| {ICON['fail']} {scenario.name} | {verdict_.check} | {cell(verdict_.message)} |")
        lines.append("")
    skipped = [s for s in record.scenarios if s.status == "skip"]
    if skipped:
        lines += ["### Skipped", ""] + [f"- {s.name}: {s.error}" for s in skipped] + [""]
    partly = [(s, v) for s in record.scenarios if s.status in ("pass", "fail") for v in s.skipped_checks]
    if partly:
        lines += ["### Checks not judged", "", "The scenario's other checks were judged; these count neither way.", ""]
        lines += [f"- {s.name} › {v.check}: {v.message}" for s, v in partly] + [""]
    lines += ["<details><summary>Score by fault family</summary>", "",
              "| family | weight | passed | judged | skipped |", "|---|---:|---:|---:|---:|"]
    for row in score.families.itertuples():
        lines.append(f"| {row.Index} | {row.weight:g} | {row.passed} | {row.judged} | {row.skipped} |")
    lines += ["", "</details>", "",
              f"Reports: `reports/{record.run_id}/` (report.html, results.json, junit.xml, timeline.parquet)", ""]
    return "\n".join(lines)


def write_summary(text: str, folder: Path) -> Path:
    """Write ``summary.md``; also append it to ``$GITHUB_STEP_SUMMARY`` when set."""
    path = folder / "summary.md"
    path.write_text(text)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as out:
            out.write(text + "\n")
    return path
