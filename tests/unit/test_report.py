"""Report files built from synthetic results: results.json schema, junit.xml, reports/latest."""

import json
import xml.etree.ElementTree as ET

from harness.lifecycle import ScenarioResult
from harness.reports import write_run
from harness.reports.journal import SCHEMA_VERSION
from harness.runtime import Run


def result(name, status, verdicts):
    return ScenarioResult(name=name, family="network", status=status, started=100.0, finished=112.5,
                          verdicts=verdicts, agent_log_tail=['{"event": "register_attempt"}'],
                          timeline=[{"source": "docker", "kind": "start", "t": 100.0, "container": "agent",
                                     "fields": {}}])


def verdict(check, status, message):
    return {"check": check, "status": status, "message": message, "measured": {"gaps_s": [0.5, 0.5]},
            "decided_at": 110.0}


def test_write_run_produces_journal_junit_timelines_and_latest(tmp_path):
    run = Run(reports_root=tmp_path)
    results = [result("baseline", "pass", [verdict("ready", "pass", "ready 1.20 s after start")]),
               result("center-outage", "fail", [verdict("gaps_grow", "fail", "gaps do not grow: ×1.0")]),
               ScenarioResult(name="broken", family="x", status="error", error="image missing")]
    folder = write_run(run, results, {"hostname": "h"}, finished=200.0)

    journal = json.loads((folder / "results.json").read_text())
    assert journal["schema_version"] == SCHEMA_VERSION
    assert journal["totals"] == {"pass": 1, "fail": 1, "error": 1, "skip": 0}
    assert journal["scenarios"][1]["verdicts"][0]["measured"]["gaps_s"] == [0.5, 0.5]
    assert journal["scenarios"][0]["wall_s"] == 12.5

    suite = ET.parse(folder / "junit.xml").getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("errors") == "1"
    failure = suite.find("testcase[@name='center-outage']/failure")
    assert "gaps_grow: gaps do not grow" in failure.get("message")
    assert suite.find("testcase[@name='broken']/error").get("message") == "image missing"

    lines = (folder / "center-outage" / "timeline.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "start"
    assert (tmp_path / "latest").resolve() == folder.resolve()


def test_latest_moves_to_the_newest_run(tmp_path):
    first = write_run(Run(reports_root=tmp_path, run_id="a"), [], {}, 1.0)
    second = write_run(Run(reports_root=tmp_path, run_id="b"), [], {}, 2.0)
    assert (tmp_path / "latest").resolve() == second.resolve() != first.resolve()
