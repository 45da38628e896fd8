"""Split one scenario set across N runs (``startle run --shard K/N``), the same way on every machine.

The plan is a pure function of the scenario names, the shard count and the durations of a previous
journal, so N machines that compute it independently agree, and every scenario of the whole set
(pairs and combinations already expanded) lands in exactly one shard:

1. Timed scenarios (a duration, ``wall_s``, in the timing journal), longest first (ties: by name),
   each go to the shard with the least predicted seconds so far (ties: the lowest k) — greedy
   longest-processing-time-first.
2. Untimed scenarios (new, or no timing journal at all), sorted by name, are then dealt one each to
   the shards in turn, starting with the least-loaded shard (ties: the lowest k); with no timing
   journal that is plain round-robin: shard 1, 2, …, N, 1, …

The timing journal is ``<reports>/latest``; when that is itself a shard run, the journal *it* was
planned from (its ``shard.timings_from``), so shards run one after another on one machine plan
alike. Within a shard, scenarios keep the order of the whole set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError

SHARD_FLAG = "--shard"


@dataclass(frozen=True)
class Shard:
    """Shard ``k`` (1-based) of ``n``."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` → :class:`Shard`; :class:`InputError` (exit 2) unless 1 ≤ K ≤ N."""
    fix = "give this runner's shard K and the shard count N as K/N, 1 ≤ K ≤ N, e.g. --shard 2/3"
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise InputError(SHARD_FLAG, text, "not of the form K/N", fix)
    k, n = int(match[1]), int(match[2])
    if not 1 <= k <= n:
        raise InputError(SHARD_FLAG, text, f"shard {k} of {n} does not exist", fix)
    return Shard(k, n)


@dataclass(frozen=True)
class Plan:
    """Which scenarios each shard runs. ``shards[i]`` are shard i+1's names in the set's order;
    ``predicted_s[i]`` its predicted seconds (timed scenarios only)."""

    shards: list[list[str]]
    predicted_s: list[float]
    timings_from: str | None

    def names(self, shard: Shard) -> list[str]:
        return self.shards[shard.k - 1]


def assign(names: list[str], durations: dict[str, float], n: int, timings_from: str | None = None) -> Plan:
    """Split ``names`` (unique, in run order) into ``n`` shards by the rule in this module's docstring.

    ``durations``: seconds per scenario name from the timing journal (names not in ``names`` are ignored).
    """
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise InputError(SHARD_FLAG, "(scenarios)", f"scenario name(s) given twice: {', '.join(twice)}",
                         "sharding needs unique names: drop the duplicate file or rename one")
    load = [0.0] * n
    shard_of: dict[str, int] = {}
    timed = sorted((name for name in names if name in durations), key=lambda name: (-durations[name], name))
    for name in timed:
        target = min(range(n), key=lambda i: (load[i], i))
        shard_of[name] = target
        load[target] += durations[name]
    turn = sorted(range(n), key=lambda i: (load[i], i))
    for position, name in enumerate(sorted(name for name in names if name not in durations)):
        shard_of[name] = turn[position % n]
    shards: list[list[str]] = [[] for _ in range(n)]
    for name in names:
        shards[shard_of[name]].append(name)
    return Plan(shards, [round(seconds, 3) for seconds in load], timings_from)


def start_order(names: list[str], durations: dict[str, float]) -> list[int]:
    """The order to start ``names`` in with several at once (indexes into ``names``): those without
    a duration first (a new scenario may be long), then the timed ones taken alternately from the
    longest and the shortest end — the run does not end waiting on a long scenario started last,
    and the short ones (an agent that exits at once: all container start and removal) are spread
    among the long ones' waits instead of all at the end, where their Docker work would contend.
    Ties keep the given order taken from the long end, the reverse taken from the short end."""
    untimed = [i for i in range(len(names)) if names[i] not in durations]
    timed = sorted((i for i in range(len(names)) if names[i] in durations),
                   key=lambda i: (-durations[names[i]], i))
    alternated = []
    while timed:
        alternated.append(timed.pop(0))
        if timed:
            alternated.append(timed.pop())
    return untimed + alternated


def last_durations(reports_root: Path) -> tuple[str | None, dict[str, float]]:
    """(run id, seconds per scenario) of the timing journal under ``reports_root`` (``latest``, or the
    run a shard ``latest`` was planned from); ``(None, {})`` when there is none or it cannot be read."""
    from harness.reports.journal import load_record
    try:
        record = load_record(reports_root / "latest")
        if record.shard is not None:
            if record.shard.timings_from is None:
                return None, {}
            record = load_record(reports_root / record.shard.timings_from)
    except InputError:
        return None, {}
    return record.run_id, {s.name: s.wall_s for s in record.scenarios}


def shard_record(shard: Shard, selection: list[str], profiles: list[str], image: str | None,
                 reports_root: Path) -> dict:
    """The journal's ``shard`` field (schema: harness/reports/journal.py) of ``shard`` of the whole set
    ``selection`` (names in run order), planned from the timing journal under ``reports_root``."""
    timings_from, durations = last_durations(reports_root)
    plan = assign(selection, durations, shard.n, timings_from)
    return {"k": shard.k, "n": shard.n, "of": len(selection), "names": plan.names(shard), "selection": selection,
            "profiles": profiles, "image": image, "timings_from": plan.timings_from, "predicted_s": plan.predicted_s}
