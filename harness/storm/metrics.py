"""The storm's figures, with pandas, from request records.

A records frame has one row per request, the columns :data:`COLUMNS` (:mod:`harness.storm.simagent`):

=============  ===============================================================================
``agent``      node id
``kind``       ``register`` (a registration attempt: the profile's register route), ``read``
               (contention: the version read), else the path (ignored by the figures except
               ``requests``)
``attempt``    1-based attempt number of the agent (0 for reads)
``t_planned``  when the agent meant to send (Unix s; NaN when unknown, e.g. from a center log)
``t_start``    request sent (simulation) or arrived (center log), Unix s
``t_end``      answer received (simulation) or ready (center log: ``ts + latency_ms``), Unix s
``status``     HTTP status; NaN/None when no answer (refused, reset, timed out, dropped)
``error``      why there was no answer (or the center's note)
``sleep_s``    backoff chosen after a failed attempt (NaN when unknown)
=============  ===============================================================================

The real-container cross-check feeds the center's own request log through
:func:`records_from_center_log` (same columns) into the same functions.

Definitions (``t_ref`` is the reference time: the agents' release, or the center's return in
outage mode; times are seconds since ``t_ref``):

- ``attempts``: registration attempts (``kind == "register"``), answered or not;
  ``attempts_per_agent_*``: their count per agent over all ``agents`` (mean, p95, max);
- ``requests``: every request the agents made (attempts + contention reads);
- ``center_requests``: the requests that reached the center (the center's log when given, else
  the records with an HTTP status); ``center_peak_rps``: the largest count of them in one
  1-second bin aligned on ``t_ref``; ``offered_peak_rps`` the same over every request sent;
  ``center_ok``: registrations the center answered with a 2xx (its view: more than ``registered`` when
  answers arrived after the agent had timed out and left — work the center did for nobody);
- ``t50_s``/``t95_s``/``t100_s``: time until 50 / 95 / 100 % of the ``agents`` were registered
  (an agent is registered at the ``t_end`` of its first 2xx); NaN if that share never registered;
- ``registered``/``never_registered``: agents with / without a 2xx;
- ``status_429``, ``status_409``, ``no_answer``: attempts answered 429 / 409 / not at all;
- ``wasted``: attempts that did not register their agent = ``attempts - registered`` (each
  registered agent has exactly one successful attempt; every other attempt — refused, dropped,
  timed out, 5xx, 429, 409 — was work for nothing); ``wasted_pct`` = ``wasted / attempts``;
  ``work_per_agent`` = ``attempts / registered`` (attempts paid per registration);
- ``lag_p95_ms``: p95 of ``t_start - t_planned`` of each attempt's first request (its read in
  contention mode, else its registration): how late the simulator sent compared with the
  policy's schedule (the simulator's own health: large values mean the load generator, not the
  policy, shaped the storm).

Over repeats (``--repeat K``: every policy and N run K times with seeds ``seed + i``),
:func:`over_repeats` gives per (mode, policy, N) the **median** of each figure over the K runs,
``runs`` = K, and the min and max of the two ranking figures (``attempts``, ``t100_s``). A figure
in :data:`NEVER_COLUMNS` that is NaN ("never") counts as +infinity: the median of t100 s
[0.8, 1.1, never] is 1.1, of [0.8, never, never] never (more than half never); with an even K the
two middle values are averaged, so [0.8, 1.1, never, never] gives never as well. Its max is never
when any run never got there; its min only when none did.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from harness.storm.simagent import COLUMNS
from harness.view import accepted
from harness.storm.target import StormTarget, default_target

SUMMARY_COLUMNS = ("mode", "policy", "agents", "attempts", "attempts_per_agent_mean", "attempts_per_agent_p95",
                   "attempts_per_agent_max", "requests", "center_requests", "center_peak_rps", "offered_peak_rps",
                   "t50_s", "t95_s", "t100_s", "registered", "center_ok", "never_registered", "status_429", "status_409",
                   "no_answer", "wasted", "wasted_pct", "work_per_agent", "lag_p95_ms", "duration_s")
KEYS = ("mode", "policy", "agents")
"""What identifies one (policy, N) across repeats."""
RANGE_COLUMNS = ("attempts", "t100_s")
"""The ranking figures: :func:`over_repeats` adds their ``_min`` and ``_max`` over the repeats."""
NEVER_COLUMNS = ("t50_s", "t95_s", "t100_s", "work_per_agent")
"""Figures whose NaN means never (nobody / not that share registered): +infinity over repeats."""


def records_frame(rows: Iterable[Iterable[Any]], columns: Iterable[str] = COLUMNS) -> pd.DataFrame:
    """Records (tuples in ``columns`` order) as a frame with numeric time and status columns."""
    frame = pd.DataFrame(list(rows), columns=list(columns))
    for col in ("attempt", "t_planned", "t_start", "t_end", "status", "sleep_s"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def _ok(status: pd.Series) -> pd.Series:
    """Answers that register: :func:`harness.view.accepted`, the one rule (any 2xx)."""
    return status.map(accepted).astype(bool)


def records_from_center_log(log: Iterable[dict], target: StormTarget | None = None) -> pd.DataFrame:
    """The center's request records (``GET /admin/requests``) as a records frame: ``kind`` from
    ``target``'s route (default: the default profile's), ``t_start`` = arrival, ``t_end`` =
    arrival + latency, ``error`` = the center's note for unanswered ones."""
    target = target or default_target()
    rows = []
    for rec in log:
        ts = float(rec["ts"])
        latency = rec.get("latency_ms")
        status = rec.get("status")
        rows.append((rec.get("node_id"), target.kind(rec.get("method"), rec.get("path")), rec.get("attempt") or 0,
                     math.nan, ts, ts + (float(latency) / 1000.0 if latency is not None else 0.0),
                     status, rec.get("note") if status is None else None, math.nan))
    return records_frame(rows)


def _first_requests(records: pd.DataFrame, reg: pd.DataFrame) -> pd.DataFrame:
    """Each attempt's first request: its read (contention mode), else its registration."""
    reads = records[records["kind"] == "read"]
    if reads.empty:
        return reg
    read_keys = pd.MultiIndex.from_frame(reads[["agent", "attempt"]])
    return pd.concat([reads, reg[~pd.MultiIndex.from_frame(reg[["agent", "attempt"]]).isin(read_keys)]])


def registration_times(records: pd.DataFrame, t_ref: float) -> pd.Series:
    """Per registered agent, seconds from ``t_ref`` to the end of its first successful attempt (sorted)."""
    reg = records[(records["kind"] == "register") & _ok(records["status"])]
    return (reg.groupby("agent")["t_end"].min() - t_ref).sort_values()


def time_to_share(done: pd.Series, agents: int, share: float) -> float:
    """Seconds until ``ceil(share * agents)`` agents were registered; NaN if never."""
    need = max(1, math.ceil(share * agents - 1e-9))
    return float(done.iloc[need - 1]) if len(done) >= need else math.nan


def _per_second(times: pd.Series, t_ref: float, bin_s: float) -> pd.Series:
    if times.empty:
        return pd.Series(dtype="int64")
    bins = np.floor((times.to_numpy(dtype=float) - t_ref) / bin_s).astype(np.int64)
    return pd.Series(bins).value_counts().sort_index()


def _center_side(records: pd.DataFrame, center: pd.DataFrame | None) -> pd.DataFrame:
    return center if center is not None else records[records["status"].notna()]


def summarise(records: pd.DataFrame, agents: int, t_ref: float, center: pd.DataFrame | None = None,
              t_go: float | None = None, **labels: Any) -> dict[str, Any]:
    """The figures of one storm (one policy, one N) as a flat dict (see the module docstring).
    ``center``: the center's own records (:func:`records_from_center_log`) when available.
    ``t_go``: when the agents were released (default ``t_ref``), for ``duration_s``.
    ``labels`` (mode, policy, ...) are copied into the result."""
    reg = records[records["kind"] == "register"]
    attempts = int(len(reg))
    per_agent = reg.groupby("agent").size()
    if len(per_agent) < agents:  # agents that never sent count as 0 attempts
        per_agent = pd.concat([per_agent, pd.Series(0, index=[f"_silent{i}" for i in range(agents - len(per_agent))])])
    done = registration_times(records, t_ref)
    registered = int(len(done))
    side = _center_side(records, center)
    center_rate = _per_second(side["t_start"], t_ref, 1.0)
    offered_rate = _per_second(records["t_start"], t_ref, 1.0)
    firsts = _first_requests(records, reg)
    lag = (firsts["t_start"] - firsts["t_planned"]).dropna()
    t_go = t_ref if t_go is None else t_go
    out: dict[str, Any] = {"mode": labels.get("mode"), "policy": labels.get("policy"), "agents": int(agents)}
    out.update(labels)
    out.update({
        "attempts": attempts,
        "attempts_per_agent_mean": attempts / agents if agents else math.nan,
        "attempts_per_agent_p95": float(per_agent.quantile(0.95)) if len(per_agent) else math.nan,
        "attempts_per_agent_max": int(per_agent.max()) if len(per_agent) else 0,
        "requests": int(len(records)),
        "center_requests": int(len(side)),
        "center_peak_rps": int(center_rate.max()) if len(center_rate) else 0,
        "offered_peak_rps": int(offered_rate.max()) if len(offered_rate) else 0,
        "t50_s": time_to_share(done, agents, 0.50),
        "t95_s": time_to_share(done, agents, 0.95),
        "t100_s": time_to_share(done, agents, 1.00),
        "registered": registered,
        "center_ok": int(((side["kind"] == "register") & _ok(side["status"])).sum()),
        "never_registered": int(agents - registered),
        "status_429": int((reg["status"] == 429).sum()),
        "status_409": int((reg["status"] == 409).sum()),
        "no_answer": int(reg["status"].isna().sum()),
        "wasted": attempts - registered,
        "wasted_pct": 100.0 * (attempts - registered) / attempts if attempts else 0.0,
        "work_per_agent": attempts / registered if registered else math.nan,
        "lag_p95_ms": float(lag.quantile(0.95) * 1000.0) if len(lag) else math.nan,
        "duration_s": float(records["t_end"].max() - t_go) if len(records) else 0.0,
    })
    return out


def timeseries(records: pd.DataFrame, agents: int, t_ref: float, center: pd.DataFrame | None = None,
               bin_s: float = 1.0, labels: dict[str, Any] | None = None) -> pd.DataFrame:
    """Per ``bin_s`` bin (``t`` = bin start, seconds since ``t_ref``): ``attempts``, ``requests``
    (all kinds), ``center_requests`` (reached the center), ``registrations``, ``status_429``,
    ``status_409``, ``no_answer`` (counts in the bin; divide by ``bin_s`` for a rate) and
    ``registered_fraction`` (cumulative share of ``agents`` registered at the bin's end); ``labels``
    (e.g. mode, policy, agents) become constant columns."""
    labels = labels or {}
    reg = records[records["kind"] == "register"]
    side = _center_side(records, center)
    done = registration_times(records, t_ref)
    series = {
        "attempts": _per_second(reg["t_start"], t_ref, bin_s),
        "requests": _per_second(records["t_start"], t_ref, bin_s),
        "center_requests": _per_second(side["t_start"], t_ref, bin_s),
        "registrations": _per_second(done + t_ref, t_ref, bin_s),
        "status_429": _per_second(reg.loc[reg["status"] == 429, "t_start"], t_ref, bin_s),
        "status_409": _per_second(reg.loc[reg["status"] == 409, "t_start"], t_ref, bin_s),
        "no_answer": _per_second(reg.loc[reg["status"].isna(), "t_start"], t_ref, bin_s),
    }
    present = [s for s in series.values() if len(s)]
    if not present:
        return pd.DataFrame(columns=["t", *series, "registered_fraction", *labels])
    lo = min(int(s.index.min()) for s in present)
    hi = max(int(s.index.max()) for s in present)
    index = pd.RangeIndex(lo, hi + 1)
    frame = pd.DataFrame({name: s.reindex(index, fill_value=0).astype("int64") for name, s in series.items()})
    frame["registered_fraction"] = frame["registrations"].cumsum() / agents if agents else 0.0
    frame.insert(0, "t", index.to_numpy() * bin_s)
    for key, value in labels.items():
        frame[key] = value
    return frame.reset_index(drop=True)


def ranked(summary: pd.DataFrame, by: str) -> pd.DataFrame:
    """The summary sorted by ``by`` (``attempts`` = total work, ``t100_s`` = time to all
    registered; NaN — never all registered — last), with a ``rank`` column."""
    out = summary.sort_values([by, "attempts"], na_position="last", kind="stable").reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def over_repeats(summary: pd.DataFrame) -> pd.DataFrame:
    """Per-run summary rows (:func:`summarise`, one per repeat) as one row per (mode, policy,
    agents), in order of first appearance: ``runs`` (rows, = K), ``complete`` (every run
    complete), the median of every other numeric figure (``repeat``, ``seed``, ``*_unix`` dropped), and
    ``<figure>_min``/``_max`` of :data:`RANGE_COLUMNS` right after the figure. NaN in
    :data:`NEVER_COLUMNS` is +infinity (never; module docstring), other NaN (e.g. an unknown lag)
    is skipped. A count keeps its integer type when every median of it is whole."""
    keys = [k for k in KEYS if k in summary.columns]
    frame = summary.drop(columns=[c for c in summary.columns if c in ("repeat", "seed") or c.endswith("_unix")])
    never = [c for c in NEVER_COLUMNS if c in frame.columns]
    frame[never] = frame[never].astype(float).fillna(math.inf)
    flags = [c for c in frame.columns if c not in keys and pd.api.types.is_bool_dtype(frame[c])]
    figures = [c for c in frame.select_dtypes("number").columns if c not in keys and c not in flags]
    groups = frame.groupby(keys, sort=False, dropna=False)
    out = groups[figures].median()
    for col in figures:
        if pd.api.types.is_integer_dtype(frame[col]) and (out[col] % 1 == 0).all():
            out[col] = out[col].astype("int64")
    parts = [groups.size().rename("runs"), groups[flags].all()]
    for col in figures:
        parts.append(out[col])
        if col in RANGE_COLUMNS:
            parts += [groups[col].min().rename(f"{col}_min"), groups[col].max().rename(f"{col}_max")]
    return pd.concat(parts, axis=1).replace(math.inf, math.nan).reset_index()
