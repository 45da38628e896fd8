"""The journal (schema v3), the pandas tables, the resilience score and summary.md, on synthetic runs."""

import json

import pandas as pd
import pytest

from harness.config import ROOT
from harness.errors import InputError
from harness.lifecycle import ScenarioResult
from harness.reports import build_reports, write_run
from harness.reports.build import headline, run_data
from harness.reports.journal import json_schema, load_run
from harness.reports.score import Weights, load_weights, resilience_score
from harness.reports.summary import summary_markdown
from harness.reports.tables import events_frame, run_summary, scenario_figures
from harness.runtime import Run

T0 = 1_000.0


def event(source, kind, t_s, container="", **fields):
    return {"source": source, "kind": kind, "t": T0 + t_s, "container": container, "fields": fields}


def outage_result(name="center-outage", family="network", status="pass", ready_s=14.4, recovery_s=4.3):
    timeline = [event("docker", "start", 0.0, "agent"),
                event("fault", "applied", 0.1, fault="proxy_down"),
                *[event("center", "request", t, "center", path="/v1/register", status=503) for t in (0.2, 0.5, 1.2)],
                event("fault", "cleared", 10.1, fault="proxy_down"),
                event("center", "request", 14.3, "center", path="/v1/register", status=200),
                event("probe", "stage", ready_s, "agent", stage="ready", ok=True)]
    verdicts = [{"check": "recovers", "status": status, "message": f"registered {recovery_s:.2f} s after the fault cleared",
                 "measured": {"recovery_s": recovery_s}, "expected": {"within_s": 8.0}, "decided_at": T0 + 14.4}]
    return ScenarioResult(name, family, status=status, started=T0 - 2, finished=T0 + 16, agent_started=T0,
                          profile="reference",
                          verdicts=verdicts, deadline_s=60, policy={"base_ms": 100, "factor": 2, "cap_ms": 4000},
                          faults=[{"type": "proxy_down", "family": "network", "description": "proxy_down(...)"}],
                          agent={"restart_count": 0}, timeline=timeline)


def skipped(name="arch-qemu"):
    return ScenarioResult(name, "architecture", status="skip", error="requires qemu: QEMU is missing",
                          started=T0, finished=T0 + 0.1)


def test_journal_v2_records_fault_windows_expectations_and_policy(tmp_path):
    folder = write_run(Run(reports_root=tmp_path, run_id="r1"), [outage_result(), skipped()], {"cpus": 2}, T0 + 20)
    journal = json.loads((folder / "results.json").read_text())
    assert journal["schema_version"] == 3 and journal["totals"]["skip"] == 1
    scenario = journal["scenarios"][0]
    assert scenario["faults"][0]["windows"] == [{"start": T0 + 0.1, "end": T0 + 10.1}]
    assert scenario["verdicts"][0]["expected"] == {"within_s": 8.0}
    assert scenario["policy"]["cap_ms"] == 4000 and scenario["deadline_s"] == 60


def test_every_report_file_is_rebuilt_from_the_journal_alone(tmp_path):
    folder = write_run(Run(reports_root=tmp_path, run_id="r1"), [outage_result()], {}, T0 + 20)
    derived = ["junit.xml", "timeline.parquet", "timeline.csv", "report.html", "summary.md"]
    for name in derived:
        (folder / name).unlink()
    written = build_reports(folder)
    assert sorted(p.name for p in written) == sorted(derived)


def test_events_table_has_one_row_per_event_with_time_since_agent_start(tmp_path):
    folder = write_run(Run(reports_root=tmp_path, run_id="r1"), [outage_result(), skipped()], {}, T0 + 20)
    frame = pd.read_parquet(folder / "timeline.parquet")
    assert len(frame) == 8 and list(frame.columns) == ["scenario", "t", "t_s", "source", "container", "kind", "fields"]
    assert frame["t_s"].tolist()[:2] == [0.0, 0.1]
    assert json.loads(frame.loc[frame["kind"] == "cleared", "fields"].iloc[0]) == {"fault": "proxy_down"}
    assert len(pd.read_csv(folder / "timeline.csv")) == 8


def test_figures_read_ready_recovery_and_attempts_and_the_summary_takes_percentiles():
    data = run_data(Run(run_id="r"), [outage_result(), outage_result("b", ready_s=2.0, recovery_s=1.0), skipped()],
                    {}, T0 + 20)
    figures = scenario_figures(data)
    assert figures.loc["center-outage", "ready_s"] == pytest.approx(14.4)
    assert figures.loc["center-outage", "attempts"] == 4
    assert figures.loc["center-outage", "attempts_source"] == "center+wire"  # reference, no attempt lines here
    assert pd.isna(figures.loc["arch-qemu", "ready_s"])
    stats = run_summary(figures)
    assert stats["pass"] == 2 and stats["skip"] == 1 and stats["attempts_max"] == 4
    assert stats["recovery_p50_s"] == pytest.approx(2.65)


def test_attempts_come_from_the_source_the_profile_gives_and_say_so():
    """The agent's attempt log (the reference's first source) counts, not whichever source saw most."""
    result = outage_result()
    result.timeline += [event("agent", "attempt", t, "agent", attempt=i + 1) for i, t in enumerate((0.2, 14.3))]
    result.timeline += [event("wire", "connect", t, "agent", outcome="refused") for t in (3.0, 5.0, 7.0)]
    figures = scenario_figures(run_data(Run(run_id="r"), [result], {}, T0 + 20))
    assert figures.loc["center-outage", "attempts"] == 2 and figures.loc["center-outage", "attempts_source"] == "agent"


def test_score_weighs_families_and_leaves_skips_out():
    results = [outage_result("net-a"), outage_result("net-b", status="fail"),
               outage_result("rb", family="rollback"), skipped()]
    figures = scenario_figures(run_data(Run(run_id="r"), results, {}, T0))
    score = resilience_score(figures, Weights(default=1.0, families={"network": 2.0, "rollback": 4.0}))
    assert score.value == pytest.approx(100 * (2 * 1 + 4 * 1) / (2 * 2 + 4 * 1), abs=0.05)  # 75.0
    assert score.families.loc["architecture", "judged"] == 0 and score.families.loc["architecture", "skipped"] == 1
    nothing = resilience_score(scenario_figures(run_data(Run(run_id="r"), [skipped()], {}, T0)), Weights())
    assert nothing.value is None and "n/a" in nothing.line()


def test_the_shipped_weights_load_and_a_bad_weight_names_file_and_field(tmp_path):
    assert load_weights().of("rollback") > load_weights().of("combination")
    bad = tmp_path / "w.yaml"
    bad.write_text("families:\n  network: -1\n")
    with pytest.raises(InputError, match=r"w.yaml: families.network: .*greater than or equal to 0"):
        load_weights(bad)


def test_summary_markdown_lists_failures_skips_and_the_score(tmp_path, monkeypatch):
    step_summary = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    folder = write_run(Run(reports_root=tmp_path, run_id="r9"),
                       [outage_result(status="fail", recovery_s=9.5), skipped()], {}, T0 + 20)
    text = (folder / "summary.md").read_text()
    assert "FAILED" in text and "| ❌ center-outage | recovers | registered 9.50 s after the fault cleared |" in text
    assert "arch-qemu: requires qemu" in text and "resilience score: 0.0 / 100" in text
    assert step_summary.read_text().strip() == text.strip()
    assert "0 passed, 1 failed, 0 errors, 1 skipped" in headline(folder)


def test_load_run_names_the_file_and_field_of_a_broken_journal(tmp_path):
    with pytest.raises(InputError, match="no results.json"):
        load_run(tmp_path)
    (tmp_path / "results.json").write_text('{"schema_version": 2, "run_id": "x", "started": 1, "finished": 2, '
                                          '"scenarios": [{"name": "a", "family": "f", "status": "maybe"}]}')
    with pytest.raises(InputError, match=r"results.json: scenarios.0.status"):
        load_run(tmp_path)
    (tmp_path / "results.json").write_text('{"schema_version": 7}')
    with pytest.raises(InputError, match="schema_version: unsupported version 7"):
        load_run(tmp_path)


def test_a_version_1_journal_still_loads(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({
        "schema_version": 1, "run_id": "old", "started": 1.0, "finished": 2.0, "host": {}, "totals": {},
        "scenarios": [{"name": "baseline", "family": "baseline", "status": "pass", "wall_s": 4.0,
                       "verdicts": [{"check": "ready", "status": "pass", "message": "ok", "measured": {},
                                     "decided_at": 1.5}], "faults": [{"type": "env", "family": "env",
                                                                       "description": "env()"}]}]}))
    assert load_run(tmp_path).record.scenarios[0].faults[0].windows == []
    assert {p.name for p in build_reports(tmp_path)} >= {"report.html", "junit.xml"}


def test_the_committed_json_schema_is_current():
    committed = json.loads((ROOT / "docs" / "results.schema.json").read_text())
    assert committed == json_schema(), "run: python -m harness.reports.journal > docs/results.schema.json"


def test_a_run_is_found_by_its_id_or_latest_under_the_reports_root(tmp_path, monkeypatch):
    import harness.config
    monkeypatch.setattr(harness.config, "REPORTS_DIR", tmp_path)
    write_run(Run(reports_root=tmp_path, run_id="r7"), [outage_result()], {}, T0 + 20)
    assert load_run("r7").run_id == "r7" and load_run("latest").run_id == "r7"
