"""``startle merge``: join the runs of ``startle run --shard K/N`` into one new run.

The merged run is an ordinary run folder: its journal holds every shard's scenarios (in the whole
set's order) and timelines, plus a ``merged`` record (the shard runs, shards missing, scenarios
never run); every other report is then built by the same writers as any run's (build.py).

Refused (:class:`InputError`, exit 2), naming both runs and the field: a run that is no shard; shards
of different startle versions, profiles, agent images, shard counts N or scenario sets; a shard
given twice (the same K); a scenario that two shards ran. Accepted with a warning: missing shards —
the merge says which, and which scenarios were never run.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import InputError
from harness.reports.journal import RESULTS_FILE, RunData, RunRecord, load_run, results_document

FIX_SAME_SET = "merge the shards of one split: the same `startle run --shard K/N` command and startle, K varying"


SAME_IN_EVERY_SHARD = {
    "startle_version": lambda record: record.startle_version,
    "shard.profiles": lambda record: record.shard.profiles,
    "shard.image": lambda record: record.shard.image,
    "shard.n": lambda record: record.shard.n,
    "shard.selection": lambda record: record.shard.selection,
}
"""Journal fields whose value must be equal in every shard merged, and how to read each."""


def describe(field: str, record: RunRecord) -> str:
    if field == "shard.selection":
        return f"a set of {len(record.shard.selection)} scenarios starting {record.shard.selection[:3]}"
    return repr(SAME_IN_EVERY_SHARD[field](record))


def check_mergeable(shards: list[RunData]) -> None:
    """Raise :class:`InputError` unless ``shards`` are distinct shards of one split (see module docstring)."""
    if not shards:
        raise InputError("startle merge", "RUN", "no shard run given", "name each shard's run folder or run id")
    for data in shards:
        if data.record.shard is None:
            raise InputError(data.dir / RESULTS_FILE, "shard", f"run {data.run_id} is not a shard run",
                             "merge only runs of `startle run --shard K/N`")
    first = shards[0]
    for other in shards[1:]:
        for field, value_of in SAME_IN_EVERY_SHARD.items():
            if value_of(first.record) != value_of(other.record):
                raise InputError(other.dir / RESULTS_FILE, field,
                                 f"run {other.run_id} has {describe(field, other.record)} but run {first.run_id} "
                                 f"has {describe(field, first.record)}", FIX_SAME_SET)
    seen_k: dict[int, RunData] = {}
    ran_by: dict[str, RunData] = {}
    for data in shards:
        k = data.record.shard.k
        if k in seen_k:
            twice = "the same run given twice" if seen_k[k].run_id == data.run_id else "a repeated K"
            raise InputError(data.dir / RESULTS_FILE, "shard.k",
                             f"runs {seen_k[k].run_id} and {data.run_id} are both shard {k}/{data.record.shard.n} "
                             f"({twice})", "give each shard's run once")
        seen_k[k] = data
        for scenario in data.record.scenarios:
            if scenario.name in ran_by:
                raise InputError(data.dir / RESULTS_FILE, "scenarios",
                                 f"scenario {scenario.name} was run by both run {ran_by[scenario.name].run_id} and "
                                 f"run {data.run_id}", "the shards were planned differently (timings_from "
                                 f"{ran_by[scenario.name].record.shard.timings_from} vs "
                                 f"{data.record.shard.timings_from}): give every runner the same reports/latest, "
                                 "or none, and run the shards again")
            ran_by[scenario.name] = data


def merge_data(shards: list[RunData], run_id: str, folder: Path) -> RunData:
    """The merged run ``run_id`` (to be written into ``folder``) of ``shards``, checked first."""
    check_mergeable(shards)
    shards = sorted(shards, key=lambda d: d.record.shard.k)
    first = shards[0].record
    selection = first.shard.selection
    by_name = {s.name: s for d in shards for s in d.record.scenarios}
    order = {name: i for i, name in enumerate(selection)}
    scenarios = sorted(by_name.values(), key=lambda s: (order.get(s.name, len(order)), s.name))
    merged = {"n": first.shard.n,
              "shards": [{"run_id": d.run_id, "k": d.record.shard.k, "hostname": d.record.host.get("hostname", ""),
                          "started": d.record.started, "finished": d.record.finished} for d in shards],
              "missing_shards": sorted(set(range(1, first.shard.n + 1)) - {d.record.shard.k for d in shards}),
              "never_run": [name for name in selection if name not in by_name]}
    document = results_document(run_id, min(d.record.started for d in shards),
                                max(d.record.finished for d in shards), first.host,
                                [s.model_dump(mode="json") for s in scenarios],
                                startle_version=first.startle_version, merged=merged)
    timelines = {name: timeline for d in shards for name, timeline in d.timelines.items()}
    return RunData(folder, RunRecord.model_validate(document), timelines)


def merge_runs(runs: list[str | Path], run_id: str, folder: Path, weights: Path | str | None = None,
               latest: bool = True) -> RunData:
    """Read each shard run (folder or run id), merge them into the new run ``run_id`` and write it into
    ``folder`` with every report (``latest`` re-pointed when asked); returns the merged run."""
    from harness.reports.build import write_data
    data = merge_data([load_run(run) for run in runs], run_id, folder)
    write_data(data, weights, latest=latest)
    return data


def missing_line(record: RunRecord) -> str | None:
    """What a merged run lacks (shards, scenarios never run), in one line; None when the whole set ran."""
    merged = record.merged
    if merged is None or not (merged.missing_shards or merged.never_run):
        return None
    shards = ", ".join(f"{k}/{merged.n}" for k in merged.missing_shards)
    missing = f"shard(s) {shards} not merged; " if shards else ""
    return f"incomplete: {missing}{len(merged.never_run)} scenario(s) never run: {', '.join(merged.never_run)}"


def origin_line(record: RunRecord) -> str | None:
    """Where a shard or merged run's scenarios came from, in one line; None for a whole run."""
    if record.shard is not None:
        shard = record.shard
        basis = f"balanced by run {shard.timings_from}'s durations" if shard.timings_from else "round-robin by name"
        return f"shard {shard.k}/{shard.n}: {len(shard.names)} of {shard.of} scenarios ({basis})"
    if record.merged is not None:
        merged = record.merged
        runs = ", ".join(f"{s.run_id} ({s.k}/{merged.n}{', ' + s.hostname if s.hostname else ''})"
                         for s in merged.shards)
        return f"merged from {len(merged.shards)} of {merged.n} shard runs: {runs}"
    return None
