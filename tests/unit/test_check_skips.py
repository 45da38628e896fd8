"""Per-check skips: a check that cannot decide is skipped alone with its reason, the scenario's
other checks are still judged, and every reader of verdicts (journal, junit, score, summary,
tables, html, compare, CLI lines) says so. No Docker."""

import json
import xml.etree.ElementTree as ET

import pytest

from harness.checks.base import Check, overall
from harness.checks.readiness import Registered
from harness.checks.recovery import Recovers
from harness.checks.retry_gaps import GapsGrow
from harness.checks.retry_schedule import RetrySchedule
from harness.config import SCENARIOS_DIR
from harness.lifecycle import ScenarioResult, conclude, decide, run_scenario, unjudged_verdicts
from harness.profile import Profile, load_profile
from harness.reports import write_run
from harness.reports.build import headline, run_data
from harness.reports.compare import compare_runs
from harness.reports.journal import RunRecord, load_run
from harness.reports.score import Weights, resilience_score
from harness.reports.summary import summary_markdown
from harness.reports.tables import scenario_figures
from harness.runtime import Run
from harness.scenario import load_scenario
from harness.skip import ScenarioSkipped
from harness.view import NO_ATTEMPT_SOURCE
from timelines import T0, context


def bare(**fields) -> Profile:
    """An HTTP agent that declares neither a register route nor an attempt signal (plus ``fields``)."""
    return Profile.model_validate({"name": "bare", "images": {"amd64": "bare:1"}, **fields})


READY = {"health": {"ready": {"http": {"port": 8080, "path": "/ready"}}}}


# --- the rule -----------------------------------------------------------------------------------
def test_a_scenario_is_fail_if_any_check_failed_pass_if_one_passed_skip_if_none_was_judged():
    assert overall(["pass", "skip", "skip"]) == "pass"
    assert overall(["fail", "skip", "pass"]) == "fail"
    assert overall(["skip", "fail"]) == "fail"  # a skip never hides a failure
    assert overall(["skip", "skip"]) == "skip"
    assert overall(["pass", "pass"]) == "pass"


class Raises(Check):
    type: str = "raises"

    def evaluate(self, ctx, final):
        raise ScenarioSkipped("too short to judge")


class Passes(Check):
    type: str = "passes"

    def evaluate(self, ctx, final):
        return self.verdict("pass", "fine")


def test_a_check_that_raises_a_skip_skips_itself_only():
    verdicts = {}
    decide([Raises(), Passes()], context(), verdicts, final=False)
    assert (verdicts[0].status, verdicts[0].message) == ("skip", "too short to judge")
    assert verdicts[1].status == "pass"


def test_a_check_that_ran_out_of_scenario_skips_the_whole_scenario():
    import pytest

    from harness.skip import EndedTooSoon

    class EndsTooSoon(Check):
        type: str = "ends_too_soon"

        def evaluate(self, ctx, final):
            raise EndedTooSoon("the scenario ended before the declared policy")

    with pytest.raises(EndedTooSoon):
        decide([EndsTooSoon(), Passes()], context(), {}, final=True)


def test_conclude_keeps_every_verdict_and_names_every_reason_when_none_was_judged():
    checks = [Raises(), Raises()]
    verdicts = {i: c.skip(f"reason {i}") for i, c in enumerate(checks)}
    result = ScenarioResult("s", "network")
    conclude(result, checks, verdicts)
    assert result.status == "skip" and result.error == "no check could be judged: raises: reason 0; raises: reason 1"
    verdicts[1] = Passes().verdict("pass", "fine")
    conclude(result, checks, verdicts)
    assert result.status == "pass" and [v["status"] for v in result.verdicts] == ["skip", "pass"]
    assert result.skipped_checks == [result.verdicts[0]] and result.failed_checks == []


# --- profile fields, per check ------------------------------------------------------------------
def test_checks_of_attempts_skip_when_the_profile_gives_no_source_of_them():
    for check in (Registered(within_s=5), GapsGrow(), Recovers(within_s=8), RetrySchedule()):
        assert NO_ATTEMPT_SOURCE in check.missing(bare(retry_policy={"base_ms": 100, "cap_ms": 1000})), check.type
        assert NO_ATTEMPT_SOURCE not in check.missing(load_profile("reference")), check.type
        assert NO_ATTEMPT_SOURCE not in check.missing(load_profile("tp-prometheus")), check.type  # center log
    tcp = bare(center={"protocol": "tcp"})
    assert Registered(within_s=5).missing(tcp) == []  # the wire is its source
    signal = bare(signals={"match": {"attempt": {"where": {"msg": "connecting"}}}})
    assert Registered(within_s=5).missing(signal) == []


def test_a_check_lacking_a_field_is_skipped_alone_and_the_scenario_still_runs():
    scenario = load_scenario(SCENARIOS_DIR / "center-outage.yaml")  # gaps_grow, recovers, ready
    profile = bare(**READY)
    assert scenario.missing(profile) == []  # ready can be judged: the scenario runs
    assert sorted(scenario.unjudged(profile)) == [0, 1]
    skips = unjudged_verdicts(scenario, profile)
    assert skips[0].check == "gaps_grow" and skips[0].status == "skip"
    assert "profile bare does not declare signals.match.attempt or center.register" in skips[0].message


def test_a_promise_the_profile_does_not_make_skips_the_scenario_its_other_checks_presume_it():
    """exits for a DNS failure with no `exit_codes.dns`: the agent does not promise to exit, so its
    diagnosis and never_ready (which presume it) are not judged either; a breaker or a heartbeat it
    does not declare likewise. A check that only cannot *see* something (a log signal) is skipped alone."""
    mosquitto, prometheus = load_profile("tp-mosquitto"), load_profile("tp-prometheus")
    dns = load_scenario(SCENARIOS_DIR / "dns-unresolvable.yaml")
    assert "exit_codes.dns (needed by exits)" in dns.missing(mosquitto)
    breaker = load_scenario(SCENARIOS_DIR / "breaker-opens.yaml")
    assert "retry_policy.breaker_threshold (needed by breaker_opens)" in breaker.missing(prometheus)
    waits = load_scenario(SCENARIOS_DIR / "ready-waits-for-center.yaml")
    assert "health.ready_after_registered (needed by ready_not_before_registered)" in waits.missing(prometheus)
    flapping = load_scenario(SCENARIOS_DIR / "center-flapping.yaml")  # registered, error_kind, resumes, no_restart
    assert flapping.missing(mosquitto) == ["center.heartbeat (needed by resumes)"]  # no heartbeat to resume
    # an agent with a heartbeat it does not log: only the check that reads the log is skipped
    quiet = load_profile("reference").model_copy(update={"signals": load_profile("tp-prometheus").signals})
    assert flapping.missing(quiet) == []
    assert {flapping.checks[i].type: f for i, f in flapping.unjudged(quiet).items()} == {
        "error_kind": ["signals.match.heartbeat"]}


def test_a_scenario_none_of_whose_checks_can_be_judged_is_skipped_before_any_container():
    scenario = load_scenario(SCENARIOS_DIR / "center-outage.yaml")
    missing = scenario.missing(bare())
    assert any(m.startswith("health.ready (needed by ready)") for m in missing)
    assert any("(needed by gaps_grow)" in m for m in missing)
    result = run_scenario(scenario, Run(), profile=bare())  # raises before any Docker call
    assert result.status == "skip" and "health.ready (needed by ready)" in result.error
    assert result.verdicts == [] and result.phases.keys() == {"cleanup"}


# --- reports ------------------------------------------------------------------------------------
def verdict(check, status, message="", **measured):
    return {"check": check, "status": status, "message": message or f"{check} {status}", "measured": measured,
            "expected": {}, "decided_at": T0 + 5}


def result(name, status, verdicts, error=None, family="network"):
    timeline = [{"source": "docker", "kind": "start", "t": T0, "container": "agent", "fields": {}},
                {"source": "center", "kind": "request", "t": T0 + 1, "container": "center",
                 "fields": {"path": "/v1/register", "status": 200}}]
    return ScenarioResult(name, family, status=status, started=T0 - 1, finished=T0 + 10, agent_started=T0,
                          profile="reference", verdicts=verdicts, error=error, timeline=timeline if verdicts else [])


GAPS_SKIP = "the 10.0 s fault holds about 2 gaps of the agent's declared policy, fewer than the 4 needed"


def outage(status="pass", gaps="skip", recovers="pass"):
    return result("center-outage", status, [verdict("gaps_grow", gaps, GAPS_SKIP if gaps == "skip" else ""),
                                            verdict("recovers", recovers, recovery_s=1.5),
                                            verdict("ready", "pass", ready_after_s=11.0)])


def none_judged():
    return result("cpu-starved", "skip", [verdict("slower_init", "skip", "too fast for a slowdown to be measured")],
                  error="no check could be judged: slower_init: too fast for a slowdown to be measured",
                  family="resources")


@pytest.fixture
def run_folder(tmp_path):
    results = [outage(), outage("fail", gaps="fail"), none_judged()]
    results[1].name = "center-outage-2"
    return write_run(Run(reports_root=tmp_path, run_id="r1"), results, {}, T0 + 20)


def test_the_journal_records_a_skipped_verdict_and_validates(run_folder):
    journal = json.loads((run_folder / "results.json").read_text())
    RunRecord.model_validate(journal)
    assert journal["schema_version"] == 3
    assert journal["totals"] == {"pass": 1, "fail": 1, "error": 0, "skip": 1}
    assert journal["scenarios"][0]["verdicts"][0]["status"] == "skip"
    record = load_run(run_folder).record.scenarios[0]
    assert [v.check for v in record.skipped_checks] == ["gaps_grow"] and record.failed_checks == []


def test_junit_a_skipped_check_is_a_property_a_scenario_with_none_judged_is_skipped(run_folder):
    root = ET.parse(run_folder / "junit.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    judged = cases["center-outage"]
    assert judged.find("skipped") is None and judged.find("failure") is None
    [prop] = judged.findall("properties/property")
    assert prop.get("name") == "skipped check gaps_grow" and prop.get("value") == GAPS_SKIP
    failed = cases["center-outage-2"].find("failure")
    assert failed.get("message").startswith("gaps_grow:") and "recovers" not in failed.get("message")
    assert cases["cpu-starved"].find("skipped").get("message").startswith("no check could be judged")
    assert root.get("skipped") == "1" and root.get("failures") == "1"


def test_a_skipped_check_counts_neither_way_in_the_score(run_folder):
    data = load_run(run_folder)
    figures = scenario_figures(data)
    score = resilience_score(figures, Weights())
    network = score.families.loc["network"]
    assert (network["passed"], network["judged"]) == (1, 2)  # pass-with-a-skip passed, fail-with-a-skip failed
    assert score.families.loc["resources", "judged"] == 0 and score.families.loc["resources", "skipped"] == 1
    assert score.value == 50.0


def test_tables_summary_headline_and_html_name_the_checks_not_judged(run_folder):
    data = load_run(run_folder)
    figures = scenario_figures(data)
    assert figures.loc["center-outage", "skipped_checks"] == "gaps_grow"
    assert figures.loc["center-outage", "failed_checks"] == ""
    assert figures.loc["center-outage-2", "failed_checks"] == "gaps_grow"
    text = summary_markdown(data, figures, resilience_score(figures, Weights()))
    assert "(1 check(s) not judged)" in text and "### Checks not judged" in text
    assert f"- center-outage › gaps_grow: {GAPS_SKIP}" in text
    assert "- cpu-starved: no check could be judged" in text
    assert "1 check(s) not judged" in headline(run_folder)
    html = (run_folder / "report.html").read_text()
    assert "not judged: gaps_grow" in html and '<tr class="skip"><td><code>gaps_grow</code>' in html


def test_cli_summary_line_says_what_was_not_judged():
    assert outage().summary_line() == "center-outage: pass (11.0 s; not judged: gaps_grow)"
    failing = outage("fail", recovers="fail")
    assert failing.summary_line().startswith("center-outage: FAIL (11.0 s; not judged: gaps_grow) recovers:")


def compare_pair(tmp_path, a, b):
    runs = []
    for run_id, results in (("a", a), ("b", b)):
        runs.append(run_data(Run(reports_root=tmp_path, run_id=run_id), results, {}, T0 + 20))
    return compare_runs(*runs)


def test_compare_a_failed_check_that_is_not_judged_in_b_is_not_a_fix(tmp_path):
    a = [outage("fail", gaps="fail")]
    b = [outage("pass", gaps="skip")]
    comparison = compare_pair(tmp_path, a, b)
    row = comparison.rows.loc["center-outage"]
    assert row["outcome"] == "skipped" and not comparison.improvements
    assert "gaps_grow failed in A, not judged in B" in row["changes"]
    fixed = compare_pair(tmp_path, a, [outage("pass", gaps="pass")])
    assert fixed.rows.loc["center-outage", "outcome"] == "fixed"


def test_compare_lists_a_check_judged_in_one_run_only(tmp_path):
    comparison = compare_pair(tmp_path, [outage(gaps="pass")], [outage(gaps="skip")])
    row = comparison.rows.loc["center-outage"]
    assert comparison.exit_code == 0 and "gaps_grow (skipped in B)" in row["not_comparable"]
