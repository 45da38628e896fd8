"""``report.html`` (placeholder until the HTML report lands): a minimal self-contained page."""

from __future__ import annotations

import html as escape

import pandas as pd

from harness.reports.journal import RunData
from harness.reports.score import Score


def render_html(data: RunData, figures: pd.DataFrame, score: Score) -> str:
    rows = "".join(f"<tr><td>{escape.escape(n)}</td><td>{r['status']}</td></tr>" for n, r in figures.iterrows())
    return (f"<!doctype html><meta charset=utf-8><title>startle {data.run_id}</title>"
            f"<p>{score.line()}</p><table>{rows}</table>")
