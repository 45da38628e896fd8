"""What a storm leaves in its folder (``reports/storm-<run id>/``), and the terminal table.

======================  ===========================================================================
``storm.csv``           one row per policy, N and repeat (``repeat`` 0-based, ``seed``): the figures
                        of :mod:`harness.storm.metrics`
``storm_medians.csv``   with ``--repeat K`` > 1: one row per policy and N, medians over the repeats
                        with ``runs`` and the min/max of attempts and t100 (:func:`metrics.over_repeats`)
``timeseries.csv``      per policy, N, repeat and second: attempts, requests, center requests,
                        registrations, 429s, 409s, unanswered, registered fraction
``records.parquet``     every request of every agent (the raw material; :data:`metrics` columns)
                        with ``policy``, ``agents_n``, ``repeat`` in front
``center.parquet``      the center's own request log of every run, as records (same columns)
``registered.svg/png``  registered fraction over time, a line per policy (and N); repeat 0 only
``center_rps.svg/png``  center requests/s over time, a panel per policy (and N); repeat 0 only
``storm.html``          self-contained page: settings, both rankings (of medians when K > 1), both plots
``storm.json``          settings (with the seeds), per-run ``summary`` and per-policy ``medians``
                        (what ``--json OUT`` also writes)
``locust/``             the locust processes' logs, per run (``<policy>-n<N>[-r<repeat>]``)
======================  ===========================================================================

With K > 1 the rankings are of medians, and attempts and t100 read "median (min–max)" over the
repeats: the jittered policies reorder between seeds, so one run's order is not a ranking.
"""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.storm.metrics import RANGE_COLUMNS, over_repeats, ranked

TABLE_COLUMNS = {
    "policy": "policy", "agents": "N", "attempts": "attempts", "attempts_per_agent_mean": "per agent",
    "attempts_per_agent_p95": "p95", "attempts_per_agent_max": "max", "center_peak_rps": "peak req/s",
    "t50_s": "t50 s", "t95_s": "t95 s", "t100_s": "t100 s", "status_429": "429", "status_409": "409",
    "no_answer": "no answer", "listen_overflows": "listen overflows", "wasted_pct": "wasted %",
    "never_registered": "never reg.", "center_ok": "center 2xx",
}
UNKNOWN_COLUMNS = ("listen_overflows",)
"""Columns whose NaN means "not measured" (e.g. the real fleet's center has its own network), not "never"."""


def _value(value: Any) -> str:
    """A figure as the tables show it: NaN = never, counts whole, anything else with 2 decimals."""
    if pd.isna(value):
        return "never"
    return str(int(value)) if pd.api.types.is_integer(value) else f"{value:.2f}"


def _shown(summary: pd.DataFrame, by: str | None) -> pd.DataFrame:
    """The table's frame: optionally ranked ``by`` a column, :data:`TABLE_COLUMNS` renamed; for
    medians over several runs (:func:`metrics.over_repeats`) attempts and t100 read "median (min–max)"."""
    frame = ranked(summary, by) if by else summary.reset_index(drop=True)
    if "runs" in frame.columns and frame["runs"].max() > 1:
        frame = frame.copy()
        for col in RANGE_COLUMNS:
            frame[col] = [f"{_value(m)} ({_value(lo)}–{_value(hi)})"
                          for m, lo, hi in zip(frame[col], frame[f"{col}_min"], frame[f"{col}_max"])]
    cols = (["rank"] if by else []) + [c for c in TABLE_COLUMNS if c in frame.columns]
    frame = frame[cols].copy()
    for col in UNKNOWN_COLUMNS:
        if col in frame.columns:
            frame[col] = [str(int(v)) if not pd.isna(v) else "n/a" for v in frame[col]]
    return frame.rename(columns=TABLE_COLUMNS)


def table(summary: pd.DataFrame, by: str | None = None) -> str:
    """The summary (or medians) as a fixed-width table, optionally ranked ``by`` a column."""
    return _shown(summary, by).to_string(index=False, float_format=lambda v: f"{v:.2f}", na_rep="never")


def repeats_note(result) -> str:
    """One line saying what a table of ``result.ranking()`` holds (empty when K = 1)."""
    k, seeds = result.settings.repeat, result.seeds
    if k <= 1:
        return ""
    return (f"medians of {k} repeats per policy and N (seeds {seeds[0]}–{seeds[-1]}); attempts and t100: "
            f"median (min–max); t100 never counts as slowest; each repeat in storm.csv")


def tables(result, reference: str) -> str:
    """The terminal's text after a storm: the table(s) of ``result.ranking()``, ranked by total
    work and by time to 100 % when there is more than one row, and what they hold."""
    ranking = result.ranking()
    if len(ranking) > 1:
        text = ("ranked by total work (attempts):\n" + table(ranking, "attempts")
                + "\n\nranked by time to 100 % registered:\n" + table(ranking, "t100_s"))
    else:
        text = table(ranking)
    note = repeats_note(result)
    return text + "\n\n" + (note + "\n" if note else "") + f"times in seconds since {reference.replace('_', ' ')}"


def plots(result, folder: Path, reference: str) -> dict[str, str]:
    """registered.svg/png (exact registration times; a logarithmic time axis when one policy takes
    ten times longer than another) and center_rps.svg/png (a panel per policy on its own time
    scale, 100-ms or 1-s bins); repeat 0 only. Returns {name: inline SVG text}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result.first_repeat()
    many_n = len({run.agents for run in runs}) > 1
    xlabel = f"seconds since {reference.replace('_', ' ')}"
    which = f" (repeat 0, seed {runs[0].seed})" if result.settings.repeat > 1 else ""
    out: dict[str, str] = {}

    from harness.storm.metrics import registration_times
    fig, ax = plt.subplots(figsize=(8, 4.2))
    ends = []
    for run in runs:
        done = registration_times(run.records, run.t_ref).to_numpy()
        label = f"{run.policy.name} (N={run.agents})" if many_n else run.policy.name
        start = min(0.0, run.t_go - run.t_ref)
        xs = [start, *done, max(done[-1] if len(done) else 0.0, run.summary()["duration_s"] + start)]
        ys = [0.0, *(100.0 * (i + 1) / run.agents for i in range(len(done))), 100.0 * len(done) / run.agents]
        ax.step(xs, ys, where="post", label=label)
        ends.append(xs[-1])
    if max(ends) > 20.0 and min(ends) < max(ends) / 10:  # a seconds-long and a minutes-long policy: both readable
        ax.set_xscale("symlog", linthresh=1.0)
        xlabel += " (logarithmic beyond ±1 s)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("agents registered (%)")
    ax.set_ylim(0, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"registered over time{which}")
    out["registered"] = _save(fig, folder / "registered")

    from harness.storm.metrics import timeseries
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 1.6 + 1.5 * len(runs)), squeeze=False)
    for ax, run in zip(axes[:, 0], runs):  # each panel on its own time scale and bin
        group = timeseries(run.records, run.agents, run.t_ref, run.center, bin_s=1.0)
        if group.empty:
            continue
        bin_s = 0.1 if len(group) <= 15 else 1.0  # short storms: 100-ms bins, still as requests per second
        if bin_s != 1.0:
            group = timeseries(run.records, run.agents, run.t_ref, run.center, bin_s=bin_s)
        label = f"{run.policy.name} (N={run.agents})" if many_n else run.policy.name
        label += f" · {bin_s * 1000:g}-ms bins"
        ax.bar(group["t"], group["center_requests"] / bin_s, width=bin_s, align="edge", color="#4c72b0",
               label="reached the center")
        for col, color in (("status_429", "#dd8452"), ("status_409", "#c44e52")):
            if group[col].any():
                ax.bar(group["t"], group[col] / bin_s, width=bin_s, align="edge", color=color, label=col[-3:])
        lost = (group["requests"] - group["center_requests"]).clip(lower=0)
        if lost.any():  # refused by the disabled proxy, or queued in front of the center
            ax.bar(group["t"], lost / bin_s, width=bin_s, align="edge", color="#8c8c8c",
                   bottom=group["center_requests"] / bin_s, label="sent, not (yet) at the center")
        ax.set_ylabel("req/s", fontsize=8)
        ax.set_title(label, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel(f"seconds since {reference.replace('_', ' ')} (each panel its own scale)")
    fig.suptitle(f"requests per second{which}")
    out["center_rps"] = _save(fig, folder / "center_rps")
    return out


def _save(fig, stem: Path) -> str:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=110)
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    stem.with_suffix(".svg").write_text(svg)
    return svg[svg.find("<svg"):]


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>startle storm {run_id}</title>
<style>body{{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:72em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}th{{background:#f4f4f4}}
td:nth-child(2){{text-align:left}}svg{{max-width:100%;height:auto}}code{{background:#f4f4f4}}</style></head><body>
<h1>startle storm {run_id}</h1>
<p>{mode} &middot; times since <b>{reference}</b> &middot; {workers}</p>
<ul>{policies}</ul>
{repeats}{cross_check}<h2>Ranked by total work (attempts)</h2>{by_work}
<h2>Ranked by time to 100 % registered</h2>{by_time}
<p>attempts: registration attempts (answered or not); peak req/s: most requests reaching the center in one
second; t50/t95/t100: seconds until that share of the N agents was registered ("never": not within the
deadline); wasted %: attempts that did not register their agent; never reg.: agents without a
registration at the end. Definitions: <code>harness/storm/metrics.py</code>.</p>
{curves}<h2>Registered over time</h2>{registered}
<h2>Center requests per second</h2>{center_rps}
<p>Files: storm.csv, {medians_csv}timeseries.csv, records.parquet, center.parquet, storm.json.</p></body></html>"""


def _cross_check_html(check) -> str:
    """The real fleet's verdict against the simulation (empty when no fleet ran)."""
    if check is None:
        return ""
    colour = "#2e7d32" if check.agrees else "#c62828"
    return (f"<h2>Real containers beside the simulation</h2><p style=\"color:{colour}\"><b>"
            f"{html.escape(check.line())}</b></p><p>The row <code>containers</code> is the real fleet (its figures "
            "from the center's log); <code>profile</code> the simulation of its declared policy with the same "
            "outage and the same restart moments. Tests: <code>harness/storm/fleet.py</code>.</p>\n")


def _html_table(summary: pd.DataFrame, by: str) -> str:
    return _shown(summary, by).to_html(index=False, float_format=lambda v: f"{v:.2f}", na_rep="never", border=0)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in frame.to_dict("records")]


def summary_json(result, run_id: str, folder: Path) -> dict[str, Any]:
    """Settings, ``seeds`` (of each repeat; ``seed`` is the one given, None = random), ``summary``
    (one row per run, with ``repeat`` and ``seed``) and ``medians`` (per policy and N over the
    repeats, :func:`metrics.over_repeats`; with K = 1 the same figures, runs 1). NaN is null."""
    s = result.settings
    summary = result.summary()
    return {"run_id": run_id, "folder": str(folder), "mode": s.mode.to_dict(), "agents": s.agents,
            "workers": s.workers, "timeout_s": s.timeout_s, "seed": s.seed, "repeat": s.repeat,
            "hop_delay": s.hop_delay.to_dict() if s.hop_delay is not None else None,
            "worker_netns": s.worker_netns, "target": s.target.to_dict(),
            "seeds": result.seeds, "policies": [p.to_dict() for p in s.policies],
            "reference": s.mode.reference_event, "summary": _rows(summary), "medians": _rows(over_repeats(summary)),
            "cross_check": result.cross_check.to_dict() if result.cross_check is not None else None}


def write(result, folder: Path, run_id: str) -> dict[str, Path]:
    """Every file of the table above; returns {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    s = result.settings
    summary = result.summary()
    series = result.timeseries()
    paths = {"csv": folder / "storm.csv", "timeseries": folder / "timeseries.csv",
             "records": folder / "records.parquet", "json": folder / "storm.json", "html": folder / "storm.html"}
    summary.to_csv(paths["csv"], index=False)
    ranking = result.ranking()
    if s.repeat > 1:
        paths["medians"] = folder / "storm_medians.csv"
        ranking.to_csv(paths["medians"], index=False)
    series.to_csv(paths["timeseries"], index=False)
    records = result.records()
    records["status"] = records["status"].astype("Int64")
    records.to_parquet(paths["records"], index=False)
    center = result.center_records()
    if center is not None:
        paths["center"] = folder / "center.parquet"
        center["status"] = center["status"].astype("Int64")
        center.to_parquet(paths["center"], index=False)
    paths["json"].write_text(json.dumps(summary_json(result, run_id, folder), indent=2))
    svgs = plots(result, folder, s.mode.reference_event) if len(series) else {"registered": "", "center_rps": ""}
    page = PAGE.format(
        run_id=html.escape(run_id), mode=html.escape(s.mode.describe()),
        reference=html.escape(s.mode.reference_event.replace("_", " ")),
        workers=html.escape(f"{s.workers} locust worker process(es)"
                            f"{' in network namespaces of their own' if s.worker_netns else ''}, "
                            f"request timeout {s.timeout_s:g} s, network "
                            + (f"delay {s.hop_delay.describe()}" if s.hop_delay is not None else "as is (no delay added)")),
        policies="".join(f"<li><b>{html.escape(p.name)}</b>: {html.escape(p.describe())}, deadline "
                         f"{p.deadline_s:g} s</li>" for p in s.policies),
        repeats=f"<p>{html.escape(repeats_note(result))}.</p>\n" if s.repeat > 1 else "",
        cross_check=_cross_check_html(result.cross_check),
        by_work=_html_table(ranking, "attempts"), by_time=_html_table(ranking, "t100_s"),
        curves=(f"<p>The plots show repeat 0 (seed {result.seeds[0]}) of {s.repeat}, one line / panel per "
                "policy; every repeat's series is in timeseries.csv.</p>\n") if s.repeat > 1 else "",
        medians_csv="storm_medians.csv, " if s.repeat > 1 else "",
        registered=svgs["registered"], center_rps=svgs["center_rps"])
    paths["html"].write_text(page)
    return paths
