"""Run-vs-run comparison, the release gate: ``startle compare RUN_A RUN_B`` (A: baseline, B: candidate).

Every scenario present in either run is classified:

=================  ==============================================  ===========
outcome            statuses A → B                                  regression?
=================  ==============================================  ===========
new failure        pass/skip → fail/error                          yes
fixed              fail/error → pass, every check failed in A      no
                   judged in B
still failing      fail/error → fail/error                         no
skipped            skip in A or B (and not a new failure), or      no
                   fail → pass with a check failed in A skipped
                   in B (not judged is not fixed)
added / removed    only in B / only in A                           no
slower / more …    pass → pass, a figure grew beyond noise         yes
faster / fewer …   pass → pass, a figure shrank beyond noise       no
unchanged          pass → pass, every figure within noise          no
=================  ==============================================  ===========

Figures compared (of scenarios that pass in both runs):

* ``ready``     seconds from the agent's start to readiness, **less the backoff sleeps the agent logged
  in that window** (its ``backoff`` events' ``sleep_s``);
* ``recovery``  seconds from the last fault cleared to the first registration, less the backoff sleep
  time inside that window;
* ``attempts``  registration attempts (``tables.attempt_count``: from the source the profile gives,
  harness/view.py); ``restarts`` Docker restarts of the agent.

A check judged in one run and skipped in the other (it could not be judged there) is listed with
the figures not comparable; it is never a regression nor a fix.

Why backoff sleeps are taken out: the reference agent retries with full jitter, so any time that
spans a retry is dominated by random sleeps. Across 36 runs of the unchanged reference agent the raw
time to ready of ``center-503-then-ok`` ranged 3.20–11.63 s and raw recovery of ``toxic-reset-peer``
0.02–4.73 s, while the same times less the logged sleeps ranged 0.09–0.26 s and 0.002–0.010 s.
What is left is the agent's own work (start-up, requests, timeouts), which a slower release changes.
A slower *policy* (longer sleeps) is not this module's business: the ``retry_schedule`` check tests
the sleeps against the declared policy.

Not comparable (reported, never a regression):

* a figure missing in A or B (the check that measures it did not run, or the agent never got there);
* a time whose window holds retries (more than one registration attempt, or backoff events) but no
  logged ``sleep_s`` to take out — the jitter cannot be removed, the raw time would raise false alarms;
* the times of a scenario whose agent runs under QEMU emulation (``requires: qemu``): ``arch-qemu``'s
  time to ready ranged 2.61–4.21 s (+62 %) over 36 runs, with host load, not the agent.

A change is beyond noise only when it exceeds BOTH thresholds of its kind (:class:`Noise`, whose
docstring has the measurements behind the defaults); the relative one is taken against A's value.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from harness.errors import InputError
from harness.reports.journal import RunData, ScenarioRecord, load_run
from harness.reports.tables import attempt_times, scenario_figures, view_of
from harness.view import View

FAILED = ("fail", "error")
KIND_ORDER = ("new failure", "slower", "more attempts", "more restarts",
              "fixed", "faster", "fewer attempts", "fewer restarts")
"""Kinds of :class:`Finding`, in the order the summary line counts them."""


@dataclass(frozen=True)
class Noise:
    """Run-to-run noise: a figure changed only if ``|B − A|`` exceeds the absolute AND the relative
    threshold of its kind (relative to A's value).

    Measured on this machine (2 cores, Docker 20.10, cgroup v1): 36 runs of the 59-scenario matrix
    (``startle run -j 3``) with the unchanged reference agent, 2026-11-28, 2123 of 2124 scenario runs
    passing; every ordered pair of runs compared (1260 comparisons). Largest spread, max − min:

    * ready, backoff sleeps taken out: 0.88 s but +15 % (``toxic-latency-x-center-503-then-ok``,
      5.89–6.77 s); 0.60 s / +12 % (``config-late-x-toxic-latency``); 0.54 s / +51 %
      (``device-mapped-x-toxic-latency``, 1.06–1.60 s) and 0.53 s / +52 % (``toxic-latency``,
      1.02–1.55 s): Toxiproxy's own ±100 ms latency jitter; 0.44 s (``docker-sock-mapped``,
      0.07–0.51 s); under 0.35 s everywhere else. (Raw, with the sleeps: up to 12.3 s.)
      Emulated ``arch-qemu`` ranged 2.61–4.21 s (+62 %): not compared (module docstring).
    * recovery, backoff sleeps taken out: at most 0.03 s (raw: 0.02–4.92 s).
    * attempts: +5 (``center-500-forever``, 31–36, +16 %: a deadline bounds them, jitter sets their
      number); +2 (``center-outage``/``toxic-reset-peer`` 9–11, ``breaker-opens`` 11–13);
      ``liveness-hang`` 2–3 (+50 %, +1).
    * restarts: +1 (``arch-binfmt-off`` 1–2, ``config-late-x-env-missing`` 4–5).

    At 0.5 s / 25 % two toxic-latency scenarios raised 10 false alarms; at these defaults, none
    (0.75 s leaves 0.2 s over the worst 0.54 s). A 1 s slower time to ready (added to B, over all
    pairs) is caught always in 22 of the 34 scenarios with a compared time to ready, in 88–98 % of
    pairs in 5 more whose own spread is widest (the three toxic-latency ones at ~1.3 s,
    ``docker-sock-mapped``, ``cpu-starved``), and rarely where 1 s is under 25 % of the time
    (``config-late*`` 4.1 s, ``toxic-latency-x-center-503-then-ok`` 6.3 s, ``toxic-timeout`` 13.7 s).
    A 2 s slowdown is caught always in 32 of them (85 % of pairs at 6.3 s; never at 13.7 s).
    Counts: no false alarm.
    """

    time_abs_s: float = 0.75
    """seconds"""
    time_rel: float = 0.25
    """fraction of A's value (0.25 = 25 %)"""
    attempts_abs: float = 2
    """count; applies to attempts and restarts"""
    attempts_rel: float = 0.5
    """fraction of A's value; applies to attempts and restarts"""

    def __post_init__(self) -> None:
        for name in ("time_abs_s", "time_rel", "attempts_abs", "attempts_rel"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
                raise InputError("(noise thresholds)", name, f"{value!r} is not a number ≥ 0",
                                 "pass a non-negative number")

    def thresholds(self, kind: str) -> tuple[float, float]:
        """(absolute, relative) thresholds of ``kind`` (``time`` or ``count``)."""
        return (self.time_abs_s, self.time_rel) if kind == "time" else (self.attempts_abs, self.attempts_rel)

    def beyond(self, kind: str, a: float, b: float) -> bool:
        """True when ``a → b`` exceeds both thresholds of ``kind``."""
        absolute, relative = self.thresholds(kind)
        delta = abs(b - a)
        return delta > absolute and (a == 0 or delta > relative * abs(a))


@dataclass(frozen=True)
class Figure:
    """A compared figure: the column of :func:`comparison_figures`, how it prints, its noise kind."""

    column: str
    label: str
    kind: str  # "time" (seconds) or "count"
    worse: str
    better: str


FIGURES = (
    Figure("ready_work_s", "ready", "time", "slower", "faster"),
    Figure("recovery_work_s", "recovery", "time", "slower", "faster"),
    Figure("attempts", "attempts", "count", "more attempts", "fewer attempts"),
    Figure("restarts", "restarts", "count", "more restarts", "fewer restarts"),
)


# --------------------------------------------------------------------------------------------
# per-run figures, jitter taken out


def work_time(start: float, took_s: float, view: View) -> tuple[float, float, str]:
    """``took_s`` (the window ``[start, start + took_s]``, seconds) less the backoff sleep time inside
    it (the agent's ``backoff`` signal).

    Returns (work seconds or NaN, sleep seconds taken out, why NaN or "").
    """
    end = start + took_s
    backoffs = [(t, s) for t, s in view.backoffs()
                if t <= end and (t >= start if s is None else t + s >= start)]
    attempts = [t for t in attempt_times(view) if start <= t <= end]
    if any(s is None for _, s in backoffs) or (len(attempts) > 1 and not backoffs):
        return np.nan, 0.0, "retries without logged backoff sleeps"
    slept = sum(max(0.0, min(t + s, end) - max(t, start)) for t, s in backoffs)
    return round(max(0.0, took_s - slept), 3), round(slept, 3), ""


def emulated(scenario: ScenarioRecord) -> bool:
    """True when the agent ran under QEMU emulation (the scenario requires qemu, or a check measured
    an emulated time): its times vary far more than native ones."""
    return (any(f.type == "requires" and "qemu" in (getattr(f, "needs", None) or []) for f in scenario.faults)
            or any("emulated_ready_s" in v.measured for v in scenario.verdicts))


def comparison_figures(data: RunData) -> pd.DataFrame:
    """:func:`harness.reports.tables.scenario_figures` plus, per time figure, the backoff sleep in
    its window (``*_backoff_s``), the time less that sleep (``*_work_s``) and why that is NaN
    (``*_why``). Seconds throughout. Raises :class:`InputError` if a scenario name repeats."""
    figures = scenario_figures(data)
    duplicated = figures.index[figures.index.duplicated()]
    if len(duplicated):
        raise InputError(data.dir / "results.json", f"scenarios.{duplicated[0]}", "the scenario ran more than once",
                         "compare runs in which every scenario ran once")
    extra = {}
    for scenario in data.record.scenarios:
        records = data.timelines.get(scenario.name, [])
        row = figures.loc[scenario.name]
        values: dict[str, Any] = {}
        view = view_of(scenario, records)
        windows = {"ready": (scenario.agent_started, row["ready_s"]),
                   "recovery": (view.last_lifted(), row["recovery_s"])}
        for label, (start, took) in windows.items():
            work, slept, why = np.nan, np.nan, ""
            if emulated(scenario):
                why = "emulated (QEMU)"
            elif pd.isna(took):
                why = f"no {label} figure"
            elif start is None:
                why = "agent start unknown" if label == "ready" else "fault clear time unknown"
            else:
                work, slept, why = work_time(start, float(took), view)
            values.update({f"{label}_backoff_s": slept, f"{label}_work_s": work, f"{label}_why": why})
        extra[scenario.name] = values
    return figures.join(pd.DataFrame.from_dict(extra, orient="index"))


# --------------------------------------------------------------------------------------------
# comparison


@dataclass
class Finding:
    """One regression or improvement: ``kind`` is new failure, fixed, slower, faster, more attempts…"""

    scenario: str
    kind: str
    detail: str


@dataclass
class Comparison:
    """The outcome of :func:`compare_runs`.

    ``rows``: one row per scenario (index: name) with ``family``, ``status_a``/``status_b``,
    ``outcome``, ``a_<label>``/``b_<label>`` per compared figure (seconds or counts), ``changes``
    (text of the figures beyond noise) and ``not_comparable`` (figures left out, and why; checks
    judged in one run only).
    ``figures``: one row per (scenario, figure) of the scenarios that pass in both runs.
    """

    run_a: str
    run_b: str
    noise: Noise
    rows: pd.DataFrame
    figures: pd.DataFrame
    regressions: list[Finding] = field(default_factory=list)
    improvements: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0: no regression; 1: at least one."""
        return 1 if self.regressions else 0

    def counts(self) -> dict[str, int]:
        return self.rows["outcome"].value_counts().to_dict()

    def summary(self) -> str:
        """``compare: 2 regressions (1 new failure, 1 slower), 1 fixed, 56 unchanged``."""
        def tally(findings: list[Finding]) -> str:
            kinds = [f.kind for f in findings]
            return ", ".join(f"{kinds.count(k)} {k}" for k in KIND_ORDER if k in kinds)

        counts = self.counts()
        word = "regression" if len(self.regressions) == 1 else "regressions"
        parts = [f"{len(self.regressions)} {word}" + (f" ({tally(self.regressions)})" if self.regressions else "")]
        if self.improvements:
            parts.append(tally(self.improvements))
        for outcome in ("still failing", "skipped", "added", "removed", "unchanged"):
            if counts.get(outcome) or outcome == "unchanged":
                parts.append(f"{counts.get(outcome, 0)} {outcome}")
        left_out = int((self.figures["verdict"] == "not comparable").sum()) if len(self.figures) else 0
        tail = f"; {left_out} figure(s) not comparable" if left_out else ""
        return "compare: " + ", ".join(parts) + tail

    def lines(self) -> list[str]:
        """The terminal report: a header, one line per changed scenario, the summary line."""
        noise = self.noise
        out = [f"compare: {self.run_a} (A) → {self.run_b} (B); beyond noise: time > {noise.time_abs_s:g} s and "
               f"> {_pct(noise.time_rel)}, attempts/restarts > {noise.attempts_abs:g} and > {_pct(noise.attempts_rel)}"]
        for name, row in self.rows.iterrows():
            if row["outcome"] != "unchanged":
                out.append(f"  {name}: {row['changes']}")
        left_out = [f"{name} {row['not_comparable']}" for name, row in self.rows.iterrows() if row["not_comparable"]]
        if left_out:
            out.append(f"  not comparable: {'; '.join(left_out)}")
        out.append(self.summary())
        return out

    def markdown(self) -> str:
        """A Markdown section for a CI job summary: the summary line and a table of changed scenarios."""
        verdict = "❌ regression" if self.regressions else "✅ no regression"
        out = [f"### startle compare: {verdict}", "",
               f"`{self.run_a}` (A) → `{self.run_b}` (B) — {self.summary().removeprefix('compare: ')}", ""]
        changed = self.rows[self.rows["outcome"] != "unchanged"]
        if len(changed):
            out += ["| scenario | A | B | outcome | figures |", "|---|---|---|---|---|"]
            for name, row in changed.iterrows():
                out.append(f"| {name} | {row['status_a'] or '—'} | {row['status_b'] or '—'} | "
                           f"{row['outcome']} | {row['changes'].replace('|', '/')} |")
        out.append("")
        out.append(f"Beyond noise: a time changed by more than {self.noise.time_abs_s:g} s and "
                   f"{_pct(self.noise.time_rel)}, a count by more than {self.noise.attempts_abs:g} and "
                   f"{_pct(self.noise.attempts_rel)}; times exclude the agent's logged backoff sleeps.")
        return "\n".join(out) + "\n"


def _pct(fraction: float) -> str:
    """0.25 → ``25 %``."""
    return f"{fraction * 100:.0f} %"


def _number(value: float, kind: str) -> str:
    return f"{value:.2f} s" if kind == "time" else f"{value:g}"


def _change_text(figure: Figure, record: dict[str, Any]) -> str:
    """``ready 1.30 s → 3.42 s (+2.12 s, +163 %) SLOWER``, plus the backoff sleeps left out, if any."""
    a, b = record["a"], record["b"]
    delta = b - a
    signed = f"{delta:+.2f} s" if figure.kind == "time" else f"{delta:+g}"
    rel = f", {delta / a * 100:+.0f} %" if a else ""
    text = (f"{figure.label} {_number(a, figure.kind)} → {_number(b, figure.kind)} ({signed}{rel}) "
            f"{record['verdict'].upper()}")
    slept = (record.get("a_backoff_s", 0.0), record.get("b_backoff_s", 0.0))
    if figure.kind == "time" and max(slept) > 0:
        text += f" [backoff sleeps left out: {slept[0]:.2f} s → {slept[1]:.2f} s]"
    return text


def _compare_figures(name: str, a: pd.Series, b: pd.Series, noise: Noise) -> list[dict[str, Any]]:
    """One record per figure of a scenario that passes in both runs."""
    records = []
    for figure in FIGURES:
        va, vb = a[figure.column], b[figure.column]
        record = {"scenario": name, "figure": figure.label, "kind": figure.kind, "a": va, "b": vb,
                  "delta": np.nan, "rel": np.nan, "verdict": "same", "why": ""}
        if figure.kind == "time":
            label = figure.label
            record.update(a_raw=a[f"{label}_s"], b_raw=b[f"{label}_s"],
                          a_backoff_s=a[f"{label}_backoff_s"], b_backoff_s=b[f"{label}_backoff_s"])
        raw = (record["a_raw"], record["b_raw"]) if figure.kind == "time" else (va, vb)
        if pd.isna(raw[0]) and pd.isna(raw[1]):
            continue  # the scenario has no such figure in either run (most have no recovery)
        if pd.isna(va) or pd.isna(vb):
            whys = {side: (row.get(f"{figure.label}_why", "") or "no figure")
                    for side, row, value in (("A", a, va), ("B", b, vb)) if pd.isna(value)}
            why = (next(iter(whys.values())) if len(set(whys.values())) == 1 and len(whys) == 2
                   else ", ".join(f"{side}: {text}" for side, text in whys.items()))
            record.update(verdict="not comparable", why=why)
        else:
            record["delta"] = vb - va
            record["rel"] = (vb - va) / va if va else np.nan
            if noise.beyond(figure.kind, va, vb):
                record["verdict"] = figure.worse if vb > va else figure.better
        records.append(record)
    return records


def _status_outcome(status_a: str | None, status_b: str | None) -> str | None:
    """The outcome decided by the statuses alone, or None for pass → pass (figures decide)."""
    if status_a is None:
        return "added"
    if status_b is None:
        return "removed"
    if status_b in FAILED:
        return "still failing" if status_a in FAILED else "new failure"
    if status_a in FAILED and status_b == "pass":
        return "fixed"
    if "skip" in (status_a, status_b):
        return "skipped"
    return None


def _checks(row: pd.Series | None, column: str) -> set[str]:
    """The check types of a figures row's ``failed_checks`` / ``skipped_checks`` column."""
    text = "" if row is None else row.get(column)
    return set(text.split(", ")) if isinstance(text, str) and text else set()


def _skip_changes(ra: pd.Series | None, rb: pd.Series | None) -> str:
    """Checks that were judged in one run and skipped in the other: ``gaps_grow (skipped in B)``."""
    if ra is None or rb is None or "skip" in (ra["status"], rb["status"]):
        return ""
    skipped_a, skipped_b = _checks(ra, "skipped_checks"), _checks(rb, "skipped_checks")
    return "; ".join([f"{c} (skipped in B)" for c in sorted(skipped_b - skipped_a)]
                     + [f"{c} (skipped in A)" for c in sorted(skipped_a - skipped_b)])


def _status_text(outcome: str, status_a: str | None, status_b: str | None, failed_b: str) -> str:
    if outcome == "added":
        return f"added ({status_b})"
    if outcome == "removed":
        return f"removed (was {status_a})"
    text = f"{outcome.upper() if outcome == 'new failure' else outcome} ({status_a} → {status_b})"
    return text + (f": {failed_b}" if failed_b and status_b in FAILED else "")


def compare_runs(a: RunData, b: RunData, noise: Noise = Noise()) -> Comparison:
    """Compare run B (candidate) against run A (baseline). Raises :class:`InputError` when the two
    cannot be compared: a run without scenarios, no scenario in common, a scenario repeated."""
    for data in (a, b):
        if not data.record.scenarios:
            raise InputError(data.dir / "results.json", "scenarios", "the run has no scenarios",
                             "compare two runs that ran scenarios")
    fa, fb = comparison_figures(a), comparison_figures(b)
    if not fa.index.intersection(fb.index).size:
        raise InputError(b.dir / "results.json", "scenarios", f"no scenario in common with {a.run_id}",
                         "compare runs of the same scenarios (e.g. both `startle run --no-pairs`)")
    names = list(fa.index) + [n for n in fb.index if n not in fa.index]
    rows, figure_records = [], []
    regressions, improvements = [], []
    for name in names:
        ra = fa.loc[name] if name in fa.index else None
        rb = fb.loc[name] if name in fb.index else None
        status_a = None if ra is None else ra["status"]
        status_b = None if rb is None else rb["status"]
        row: dict[str, Any] = {"name": name, "family": (ra if ra is not None else rb)["family"],
                               "status_a": status_a, "status_b": status_b}
        for figure in FIGURES:
            row[f"a_{figure.label}"] = np.nan if ra is None else ra[figure.column]
            row[f"b_{figure.label}"] = np.nan if rb is None else rb[figure.column]
        outcome = _status_outcome(status_a, status_b)
        not_comparable = _skip_changes(ra, rb)
        unjudged = sorted(_checks(ra, "failed_checks") & _checks(rb, "skipped_checks"))
        if outcome == "fixed" and unjudged:
            outcome = "skipped"  # a check that failed in A could not be judged in B: not a fix
        if outcome is not None:
            changes = _status_text(outcome, status_a, status_b, "" if rb is None else rb["failed_checks"])
            if unjudged:
                changes += f": {', '.join(unjudged)} failed in A, not judged in B"
            if outcome == "new failure":
                regressions.append(Finding(name, outcome, changes))
            elif outcome == "fixed":
                improvements.append(Finding(name, outcome, changes))
        else:
            records = _compare_figures(name, ra, rb, noise)
            figure_records += records
            by_label = {f.label: f for f in FIGURES}
            worse = [r for r in records if r["verdict"] == by_label[r["figure"]].worse]
            better = [r for r in records if r["verdict"] == by_label[r["figure"]].better]
            texts = [_change_text(by_label[r["figure"]], r) for r in worse + better]
            changes = "; ".join(texts)
            not_comparable = "; ".join([f"{r['figure']} ({r['why']})" for r in records
                                        if r["verdict"] == "not comparable"] + ([not_comparable] if not_comparable else []))
            if worse:
                outcome = worse[0]["verdict"]
                regressions.append(Finding(name, outcome, changes))
            elif better:
                outcome = better[0]["verdict"]
                improvements.append(Finding(name, outcome, changes))
            else:
                outcome = "unchanged"
        rows.append({**row, "outcome": outcome, "changes": changes, "not_comparable": not_comparable})
    table = pd.DataFrame(rows).set_index("name")
    figures = pd.DataFrame(figure_records, columns=["scenario", "figure", "kind", "a", "b", "delta", "rel",
                                                    "verdict", "why", "a_raw", "b_raw", "a_backoff_s",
                                                    "b_backoff_s"])
    return Comparison(a.run_id, b.run_id, noise, table, figures, regressions, improvements)


# --------------------------------------------------------------------------------------------
# command line (``startle compare`` delegates here)


def parser() -> argparse.ArgumentParser:
    defaults = Noise()
    p = argparse.ArgumentParser(prog="startle compare",
                                description="Compare run B (candidate) against run A (baseline); "
                                            "exit 1 on a regression, 2 on bad input.")
    p.add_argument("run_a", metavar="RUN_A", help="baseline run: folder, run id or latest")
    p.add_argument("run_b", metavar="RUN_B", help="candidate run: folder, run id or latest")
    p.add_argument("--time-abs-s", type=float, default=defaults.time_abs_s,
                   help="seconds a time must change by (default %(default)s)")
    p.add_argument("--time-rel", type=float, default=defaults.time_rel,
                   help="fraction of A's time it must change by too (default %(default)s)")
    p.add_argument("--attempts-abs", type=float, default=defaults.attempts_abs,
                   help="attempts/restarts a count must change by (default %(default)s)")
    p.add_argument("--attempts-rel", type=float, default=defaults.attempts_rel,
                   help="fraction of A's count it must change by too (default %(default)s)")
    p.add_argument("--markdown", metavar="FILE", type=Path,
                   help="also write a Markdown summary to FILE (e.g. $GITHUB_STEP_SUMMARY; appended)")
    return p


def main(argv: Iterable[str] | None = None) -> int:
    """Print the comparison; 0 no regression, 1 regression, 2 the runs cannot be compared."""
    args = parser().parse_args(None if argv is None else list(argv))
    try:
        noise = Noise(args.time_abs_s, args.time_rel, args.attempts_abs, args.attempts_rel)
        comparison = compare_runs(load_run(args.run_a), load_run(args.run_b), noise)
    except InputError as exc:
        print(f"startle compare: {exc}", file=sys.stderr)
        return 2
    print("\n".join(comparison.lines()))
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as out:
            out.write(comparison.markdown())
    return comparison.exit_code


if __name__ == "__main__":
    sys.exit(main())
