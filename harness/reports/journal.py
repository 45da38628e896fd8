"""``results.json``: the journal of a run, and the one input of every other report.

The schema is the pydantic models below; ``docs/results.schema.json`` is generated from them
(``python -m harness.reports.journal > docs/results.schema.json``; a unit test keeps it current).
Version history:

* 1 — run facts, host facts, per scenario: status, verdicts (check, status, message, measured,
  decided_at), faults, images, agent state, agent log tail, phases.
* 2 — adds per scenario ``profile``, ``deadline_s``, ``policy`` (the declared retry policy),
  ``signals`` (the profile's event names), per fault ``windows`` (when it was in force: empty when
  the fault logged no apply event, i.e. it only changed the container's creation), per verdict ``expected`` (the check's parameters:
  bounds, expected exit code or diagnosis). A version-1 journal still loads (new fields empty).
  Later additions to version 2, all optional (an older reader keeps them as extra fields): the
  run's ``startle_version``; ``shard`` (a ``startle run --shard K/N`` run: its part of the whole
  set, harness/shard.py); ``merged`` (a ``startle merge`` run: the shard runs it joins, shards
  missing, scenarios never run; harness/reports/merge.py).
* 3 — a verdict's ``status`` may be ``skip``: that check could not be judged (its ``message`` says
  why: a profile field missing, a fault too short for it...), the scenario's other checks were; a
  scenario is ``skip`` when none of its checks could be judged. Verdicts that count attempts say
  where from in ``measured.source`` (harness/view.py). Versions 1 and 2 still load.

Times are Unix seconds (float) unless a field's name ends in ``_s`` (a duration in seconds).
The per-scenario timelines live next to it, in ``<scenario>/timeline.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import InputError
from harness.yamlfile import parse_json, read_input

SCHEMA_VERSION = 3
RESULTS_FILE = "results.json"
TIMELINE_FILE = "timeline.jsonl"
MAX_TIMELINE_BYTES = 256 * 1024 * 1024
"""The largest timeline startle reads back (bytes; a long storm's is tens of MB)."""

Status = Literal["pass", "fail", "error", "skip"]


class Record(BaseModel):
    model_config = ConfigDict(extra="allow")  # a newer writer's extra fields are kept, not lost


class VerdictRecord(Record):
    check: str = Field(description="check type, e.g. retry_schedule")
    status: Literal["pass", "fail", "skip"] = Field(description="skip: this check could not be judged (the "
                                                    "message says why); it counts neither way")
    message: str = Field(description="why, with the numbers behind it")
    measured: dict[str, Any] = Field(default_factory=dict, description="the values measured (units in names)")
    expected: dict[str, Any] = Field(default_factory=dict, description="the check's parameters (bounds, codes)")
    decided_at: float | None = Field(None, description="Unix s when the timeline decided it")


class FaultWindow(Record):
    start: float = Field(description="Unix s the fault was applied")
    end: float | None = Field(None, description="Unix s it was cleared; null: in force until the end")


class FaultRecord(Record):
    type: str
    family: str = ""
    description: str = ""
    windows: list[FaultWindow] = Field(default_factory=list,
                                       description="empty when the fault only changed the container's creation "
                                       "(in force throughout)")


class ScenarioRecord(Record):
    name: str
    family: str
    status: Status
    wall_s: float = Field(0.0, description="harness wall time for the scenario, infrastructure and cleanup included")
    started: float = 0.0
    finished: float = 0.0
    agent_started: float | None = Field(None, description="Unix s of the agent container's first start")
    profile: str = ""
    deadline_s: float | None = None
    policy: dict[str, Any] = Field(default_factory=dict, description="declared retry policy of the profile")
    signals: dict[str, Any] = Field(default_factory=dict, description="the profile's signal matchers")
    profile_spec: dict[str, Any] = Field(default_factory=dict, description="the whole profile as it was used: "
                                         "reports read the timeline through it (harness/view.py)")
    verdicts: list[VerdictRecord] = Field(default_factory=list)
    faults: list[FaultRecord] = Field(default_factory=list)
    images: dict[str, Any] = Field(default_factory=dict, description="agent image tag and its ID")
    agent: dict[str, Any] = Field(default_factory=dict, description="the agent container's final state")
    error: str | None = Field(None, description="harness error, or the reason of a skip (a skipped scenario: "
                              "a requirement or profile field missing, or every check's reason)")
    agent_log_tail: list[str] = Field(default_factory=list)
    phases: dict[str, float] = Field(default_factory=dict, description="seconds per lifecycle phase")

    @property
    def failed_checks(self) -> list[VerdictRecord]:
        return [v for v in self.verdicts if v.status == "fail"]

    @property
    def skipped_checks(self) -> list[VerdictRecord]:
        """The checks that could not be judged (each ``message`` says why)."""
        return [v for v in self.verdicts if v.status == "skip"]


class ShardRecord(Record):
    """This run's part of a scenario set split across N runs (``startle run --shard K/N``)."""

    k: int = Field(description="this shard, 1..n")
    n: int = Field(description="how many shards the set was split into")
    of: int = Field(description="scenarios in the whole set, every shard included")
    names: list[str] = Field(description="this shard's scenarios, in run order")
    selection: list[str] = Field(default_factory=list, description="every scenario of the whole set, in run order")
    profiles: list[str] = Field(default_factory=list, description="the agent profile(s) of the whole set")
    image: str | None = Field(None, description="the agent image override (--image), null: the profiles' own")
    timings_from: str | None = Field(None, description="run id of the journal whose durations balanced the "
                                     "shards; null: none was found (round-robin by name)")
    predicted_s: list[float] = Field(default_factory=list,
                                     description="each shard's predicted seconds (index 0 is shard 1)")


class MergedShard(Record):
    run_id: str
    k: int
    hostname: str = ""
    started: float = 0.0
    finished: float = 0.0


class MergeRecord(Record):
    """What a ``startle merge`` run was joined from, and what it lacks."""

    n: int = Field(description="shards the set was split into")
    shards: list[MergedShard] = Field(description="the shard runs merged, by k")
    missing_shards: list[int] = Field(default_factory=list, description="k of every shard not given")
    never_run: list[str] = Field(default_factory=list,
                                 description="scenarios of the whole set that no merged shard ran")


class RunRecord(Record):
    schema_version: int
    run_id: str
    started: float
    finished: float
    startle_version: str = Field("", description="the startle that ran it (empty: written before it was recorded)")
    host: dict[str, Any] = Field(default_factory=dict, description="`startle doctor` facts")
    totals: dict[str, int] = Field(default_factory=dict)
    scenarios: list[ScenarioRecord] = Field(default_factory=list)
    shard: ShardRecord | None = Field(None, description="set when this run is one shard of a split set")
    merged: MergeRecord | None = Field(None, description="set when this run merges shard runs")


@dataclass
class RunData:
    """A run as read back from disk: the journal plus each scenario's timeline records."""

    dir: Path
    record: RunRecord
    timelines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def scenario(self, name: str) -> ScenarioRecord:
        return next(s for s in self.record.scenarios if s.name == name)


def totals(statuses: Iterable[str]) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "error": 0, "skip": 0}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def fault_windows(fault_type: str, timeline: list[dict[str, Any]]) -> list[dict[str, float | None]]:
    """The [start, end] windows of one fault type from the timeline's fault events (Unix s)."""
    windows: list[dict[str, float | None]] = []
    for event in sorted(timeline, key=lambda e: e["t"]):
        if event["source"] != "fault" or event["fields"].get("fault") != fault_type:
            continue
        if event["kind"] == "applied":
            windows.append({"start": event["t"], "end": None})
        elif event["kind"] == "cleared" and windows and windows[-1]["end"] is None:
            windows[-1]["end"] = event["t"]
    return windows


def scenario_record(result: dict[str, Any], timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """A scenario's journal entry from ``ScenarioResult.to_dict()`` plus its timeline (fault windows)."""
    faults = [{**f, "windows": fault_windows(f["type"], timeline)} for f in result.get("faults", [])]
    return {**result, "faults": faults}


def results_document(run_id: str, started: float, finished: float, host: dict[str, Any],
                     scenarios: list[dict[str, Any]], **run_fields: Any) -> dict[str, Any]:
    """The journal as plain data. ``run_fields``: ``shard``, ``merged``, ``startle_version`` (default:
    this startle's)."""
    from harness import build_id
    return {"schema_version": SCHEMA_VERSION, "run_id": run_id, "started": started, "finished": finished,
            "startle_version": build_id(), "host": host, "totals": totals(s["status"] for s in scenarios),
            "scenarios": scenarios, **run_fields}


def run_folder(folder: Path | str) -> Path:
    """A run folder as given, or a run id / ``latest`` under the reports root (``STARTLE_REPORTS``)."""
    from harness.config import REPORTS_DIR
    folder = Path(folder)
    if not folder.exists() and not folder.is_absolute() and (REPORTS_DIR / folder).exists():
        folder = REPORTS_DIR / folder
    return folder


def load_record(folder: Path | str) -> RunRecord:
    """Read and validate ``results.json`` alone (no timelines) of a run folder or run id.

    Raises :class:`InputError` naming the file and field when the journal is missing or invalid.
    """
    path = run_folder(folder) / RESULTS_FILE
    if not path.is_file():
        raise InputError(path, "(file)", "no results.json here",
                         "pass a run folder such as reports/latest or reports/<run-id>")
    raw = parse_json(path, read_input(path), "re-run the scenarios; the journal was cut short")
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise InputError(path, "schema_version", f"unsupported version {version!r}",
                         f"this startle reads versions 1 to {SCHEMA_VERSION}; upgrade startle")
    try:
        record = RunRecord.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(path, where, first["msg"], "fix or remove that field (see docs/results.schema.json)") from None
    return record


def load_run(folder: Path | str) -> RunData:
    """Read ``results.json`` and the timelines of a run folder, or of a run id / ``latest`` under the
    reports root.

    Raises :class:`InputError` naming the file and field when the journal is missing or invalid.
    """
    folder = run_folder(folder)
    record = load_record(folder)
    timelines: dict[str, list[dict[str, Any]]] = {}
    for scenario in record.scenarios:
        timeline_path = folder / scenario.name / TIMELINE_FILE
        if timeline_path.is_file():
            fix = "re-run the scenario; its timeline was cut short or edited"
            events = []
            for number, line in enumerate(read_input(timeline_path, MAX_TIMELINE_BYTES).splitlines(), 1):
                event = parse_json(timeline_path, line, fix, number) if line.strip() else {}
                if not isinstance(event, dict):
                    raise InputError(timeline_path, f"line {number}", "not a JSON object", fix)
                if event:
                    events.append(event)
            timelines[scenario.name] = events
        else:
            timelines[scenario.name] = []
    return RunData(folder, record, timelines)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` (what ``docs/results.schema.json`` holds)."""
    schema = RunRecord.model_json_schema()
    schema["title"] = f"startle results.json, schema version {SCHEMA_VERSION}"
    return schema


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2))
