"""Run output under ``reports/<run-id>/``, with ``reports/latest`` pointing at the newest run.

Files (fixed names, like locust's report writers):

* ``results.json``           the journal: run facts, host facts, one record per scenario (schema below)
* ``junit.xml``              one testcase per scenario; a failure names the failed checks and why
* ``<scenario>/timeline.jsonl``  every event of the scenario, one JSON object per line

``results.json`` schema, version 1::

    {"schema_version": 1, "run_id", "started", "finished" (Unix s), "host": {doctor facts},
     "totals": {"pass", "fail", "error", "skip"},
     "scenarios": [{"name", "family", "status", "wall_s", "verdicts": [{"check", "status", "message",
                    "measured", "decided_at"}], "faults": [...], "images": {...}, "agent": {...},
                    "agent_started", "error", "agent_log_tail": [...]}]}
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterable

from harness.lifecycle import ScenarioResult
from harness.runtime import Run

SCHEMA_VERSION = 1


def totals(results: Iterable[ScenarioResult]) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "error": 0, "skip": 0}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def results_document(run: Run, results: list[ScenarioResult], host: dict[str, Any], finished: float) -> dict:
    return {"schema_version": SCHEMA_VERSION, "run_id": run.run_id, "started": run.started,
            "finished": finished, "host": host, "totals": totals(results),
            "scenarios": [r.to_dict() for r in results]}


def junit_document(run: Run, results: list[ScenarioResult]) -> ET.ElementTree:
    count = totals(results)
    suite = ET.Element("testsuite", name="startle", tests=str(len(results)), failures=str(count["fail"]),
                       errors=str(count["error"]), skipped=str(count["skip"]),
                       time=f"{sum(r.wall_s for r in results):.3f}", timestamp=run.run_id)
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=f"startle.{result.family}", name=result.name,
                             time=f"{result.wall_s:.3f}")
        if result.status == "fail":
            failed = result.failed_checks
            message = "; ".join(f"{v['check']}: {v['message']}" for v in failed)
            node = ET.SubElement(case, "failure", message=message, type="verdict")
            node.text = "\n".join(f"{v['check']}: {v['message']}\n  measured: {json.dumps(v['measured'])}"
                                  for v in failed) + "\n\nagent log (tail):\n" + "\n".join(result.agent_log_tail)
        elif result.status == "error":
            node = ET.SubElement(case, "error", message=(result.error or "")[:500], type="harness")
            node.text = result.error
        elif result.status == "skip":
            ET.SubElement(case, "skipped", message=result.error or "skipped")
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(f"{v['check']}: {v['status']} — {v['message']}" for v in result.verdicts)
    ET.indent(suite)
    return ET.ElementTree(suite)


def write_run(run: Run, results: list[ScenarioResult], host: dict[str, Any], finished: float) -> Path:
    """Write every report file of ``run`` and point ``reports/latest`` at it; returns the run folder."""
    folder = run.dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results_document(run, results, host, finished), indent=2))
    junit_document(run, results).write(folder / "junit.xml", encoding="utf-8", xml_declaration=True)
    for result in results:
        scenario_dir = folder / result.name
        scenario_dir.mkdir(exist_ok=True)
        with (scenario_dir / "timeline.jsonl").open("w") as out:
            for record in result.timeline:
                out.write(json.dumps(record) + "\n")
    point_latest(folder)
    return folder


def point_latest(folder: Path) -> None:
    """Atomically re-point ``<reports>/latest`` at ``folder`` (a relative symlink)."""
    link = folder.parent / "latest"
    tmp = folder.parent / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(folder.name)
    os.replace(tmp, link)
