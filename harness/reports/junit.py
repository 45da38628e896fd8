"""``junit.xml``: one testcase per scenario, for CI test tabs.

A failure's ``message`` names every failed check with its reason and numbers; the body adds the
measured values, the expectation and the agent's last log lines. A check that could not be judged
is a property of its testcase (``skipped check <type>`` = its reason), whatever the scenario's
status; a scenario none of whose checks could be judged (or that could not run) is ``<skipped>``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from harness.reports.journal import RunData


def junit_document(data: RunData) -> ET.ElementTree:
    record = data.record
    count = record.totals
    suite = ET.Element("testsuite", name="startle", tests=str(len(record.scenarios)),
                       failures=str(count.get("fail", 0)), errors=str(count.get("error", 0)),
                       skipped=str(count.get("skip", 0)),
                       time=f"{sum(s.wall_s for s in record.scenarios):.3f}", timestamp=record.run_id)
    for scenario in record.scenarios:
        case = ET.SubElement(suite, "testcase", classname=f"startle.{scenario.family}", name=scenario.name,
                             time=f"{scenario.wall_s:.3f}")
        if scenario.skipped_checks:
            properties = ET.SubElement(case, "properties")
            for verdict in scenario.skipped_checks:
                ET.SubElement(properties, "property", name=f"skipped check {verdict.check}", value=verdict.message)
        if scenario.status == "fail":
            failed = scenario.failed_checks
            message = "; ".join(f"{v.check}: {v.message}" for v in failed)
            node = ET.SubElement(case, "failure", message=message, type="verdict")
            node.text = "\n".join(f"{v.check}: {v.message}\n  measured: {json.dumps(v.measured)}"
                                  + (f"\n  expected: {json.dumps(v.expected)}" if v.expected else "")
                                  for v in failed) + "\n\nagent log (tail):\n" + "\n".join(scenario.agent_log_tail)
        elif scenario.status == "error":
            node = ET.SubElement(case, "error", message=(scenario.error or "")[:500], type="harness")
            node.text = scenario.error
        elif scenario.status == "skip":
            ET.SubElement(case, "skipped", message=scenario.error or "skipped")
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(f"{v.check}: {v.status} — {v.message}" for v in scenario.verdicts)
    ET.indent(suite)
    return ET.ElementTree(suite)
