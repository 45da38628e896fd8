"""``startle compare``: synthetic run pairs, no Docker."""

import json
from types import SimpleNamespace

import pytest

from harness.errors import InputError
from harness.lifecycle import ScenarioResult
from harness.reports.build import run_data
from harness.reports.compare import Noise, compare_runs, comparison_figures, main, work_time
from harness.view import View

START = 1000.0
"""Unix s the agent starts in every synthetic scenario."""


def scenario(name, status="pass", ready=1.3, attempts=1, sleeps=(), recovery=None, recovery_slept=0.0,
             failed=()):
    """A ScenarioResult: ready ``ready`` s after the start, ``attempts`` registration requests at the
    center, one agent ``backoff`` event per entry of ``sleeps`` (seconds, back to back from the start),
    optionally a fault cleared at START + 20, a backoff of ``recovery_slept`` s from then, and a
    registration ``recovery`` s after the clear."""
    timeline = [{"source": "center", "kind": "request", "t": START + 0.01 * (i + 1), "container": "center",
                 "fields": {"path": "/v1/register", "status": 200}} for i in range(attempts)]
    t = START
    for sleep in sleeps:
        timeline.append({"source": "agent", "kind": "backoff", "t": t, "container": "agent",
                         "fields": {"event": "backoff", "sleep_s": sleep}})
        t += sleep
    verdicts = [] if ready is None else [
        {"check": "ready", "status": "pass", "message": "ready", "measured": {"ready_after_s": ready}}]
    if recovery is not None:
        timeline.append({"source": "fault", "kind": "applied", "t": START + 10, "container": "",
                         "fields": {"fault": "proxy_down"}})  # a window: applied, then cleared
        timeline.append({"source": "fault", "kind": "cleared", "t": START + 20, "container": "",
                         "fields": {"fault": "proxy_down"}})
        timeline.append({"source": "agent", "kind": "backoff", "t": START + 20, "container": "agent",
                         "fields": {"event": "backoff", "sleep_s": recovery_slept}})
        verdicts.append({"check": "recovers", "status": "pass", "message": "recovered",
                         "measured": {"recovery_s": recovery}})
    verdicts += [{"check": check, "status": "fail", "message": "broken", "measured": {}} for check in failed]
    return ScenarioResult(name=name, family="network", status=status, started=START - 2, finished=START + 30,
                          profile="reference",
                          agent_started=START, verdicts=verdicts, timeline=timeline,
                          agent={"restart_count": 0})


def run(tmp_path, run_id, *results):
    handle = SimpleNamespace(run_id=run_id, started=START - 5, dir=tmp_path / run_id)
    return run_data(handle, list(results), {"hostname": "test"}, finished=START + 100)


def matrix(tmp_path, run_id, **changed):
    """Three passing scenarios; ``changed`` replaces some by name (``center_outage=...``)."""
    base = {"baseline": scenario("baseline"),
            "center_outage": scenario("center-outage", ready=11.0, sleeps=(0.3, 4.0, 6.5), recovery=2.1,
                                      recovery_slept=2.09),
            "toxic_timeout": scenario("toxic-timeout", ready=14.0)}
    base.update(changed)
    return run(tmp_path, run_id, *base.values())


def test_run_compared_with_itself_changes_nothing(tmp_path):
    a = matrix(tmp_path, "a")
    comparison = compare_runs(a, a)
    assert comparison.exit_code == 0
    assert not comparison.regressions and not comparison.improvements
    assert set(comparison.rows["outcome"]) == {"unchanged"}
    assert comparison.lines()[1:] == ["compare: 0 regressions, 3 unchanged"]


def test_new_failure_is_a_regression(tmp_path):
    a = matrix(tmp_path, "a")
    b = matrix(tmp_path, "b", baseline=scenario("baseline", status="fail", failed=["stage_order"]))
    comparison = compare_runs(a, b)
    assert comparison.exit_code == 1
    assert [(f.scenario, f.kind) for f in comparison.regressions] == [("baseline", "new failure")]
    assert "  baseline: NEW FAILURE (pass → fail): stage_order" in comparison.lines()
    assert comparison.lines()[-1] == "compare: 1 regression (1 new failure), 2 unchanged"


def test_skip_then_error_is_a_new_failure_but_pass_then_skip_is_not(tmp_path):
    a = matrix(tmp_path, "a", baseline=scenario("baseline", status="skip"))
    b = matrix(tmp_path, "b", baseline=scenario("baseline", status="error"),
               toxic_timeout=scenario("toxic-timeout", status="skip"))
    comparison = compare_runs(a, b)
    assert comparison.rows.loc["baseline", "outcome"] == "new failure"
    assert comparison.rows.loc["toxic-timeout", "outcome"] == "skipped"
    assert [f.scenario for f in comparison.regressions] == ["baseline"]


def test_fixed_only_passes_the_gate(tmp_path):
    a = matrix(tmp_path, "a", baseline=scenario("baseline", status="fail", failed=["ready"]),
               toxic_timeout=scenario("toxic-timeout", status="error"))
    b = matrix(tmp_path, "b", toxic_timeout=scenario("toxic-timeout", status="error"))
    comparison = compare_runs(a, b)
    assert comparison.exit_code == 0
    assert [(f.scenario, f.kind) for f in comparison.improvements] == [("baseline", "fixed")]
    assert comparison.rows.loc["toxic-timeout", "outcome"] == "still failing"
    assert comparison.lines()[-1] == "compare: 0 regressions, 1 fixed, 1 still failing, 1 unchanged"


def test_two_seconds_slower_ready_is_flagged_with_its_numbers(tmp_path):
    a = matrix(tmp_path, "a")
    b = matrix(tmp_path, "b", baseline=scenario("baseline", ready=3.3))
    comparison = compare_runs(a, b)
    assert comparison.exit_code == 1
    assert [(f.scenario, f.kind) for f in comparison.regressions] == [("baseline", "slower")]
    assert "  baseline: ready 1.30 s → 3.30 s (+2.00 s, +154 %) SLOWER" in comparison.lines()
    assert comparison.lines()[-1] == "compare: 1 regression (1 slower), 2 unchanged"
    assert "| baseline | pass | pass | slower | ready 1.30 s → 3.30 s" in comparison.markdown()


def test_slower_work_behind_jittered_sleeps_is_flagged(tmp_path):
    a = matrix(tmp_path, "a")
    b = matrix(tmp_path, "b", center_outage=scenario("center-outage", ready=13.0, sleeps=(0.3, 4.0, 6.5),
                                                     recovery=2.1, recovery_slept=2.09))
    comparison = compare_runs(a, b)
    assert ("  center-outage: ready 0.20 s → 2.20 s (+2.00 s, +1000 %) SLOWER "
            "[backoff sleeps left out: 10.80 s → 10.80 s]") in comparison.lines()


def test_faster_is_an_improvement(tmp_path):
    comparison = compare_runs(matrix(tmp_path, "a", baseline=scenario("baseline", ready=3.3)),
                              matrix(tmp_path, "b"))
    assert comparison.exit_code == 0
    assert [(f.scenario, f.kind) for f in comparison.improvements] == [("baseline", "faster")]


def test_jitter_level_changes_are_not_flagged(tmp_path):
    a = matrix(tmp_path, "a", baseline=scenario("baseline", ready=0.08),
               toxic_timeout=scenario("toxic-timeout", ready=14.0))
    b = matrix(tmp_path, "b",
               baseline=scenario("baseline", ready=0.6),  # +0.52 s: +650 % but under 0.75 s
               # the same work (0.2 s) behind other jittered sleeps: raw ready 11.0 → 3.2 s
               center_outage=scenario("center-outage", ready=3.2, sleeps=(0.1, 1.4, 1.5), recovery=0.05,
                                              recovery_slept=0.04),
               toxic_timeout=scenario("toxic-timeout", ready=16.5))  # +2.5 s but +18 %
    assert compare_runs(a, b).exit_code == 0, compare_runs(a, b).lines()
    # attempts bounded by a deadline vary with jitter: 31 → 36 is +16 %
    a = matrix(tmp_path, "c", toxic_timeout=scenario("toxic-timeout", ready=14.0, attempts=31, sleeps=(0.4,) * 30))
    b = matrix(tmp_path, "d", toxic_timeout=scenario("toxic-timeout", ready=16.0, attempts=36, sleeps=(0.4,) * 35))
    comparison = compare_runs(a, b)
    assert comparison.exit_code == 0, comparison.lines()
    assert not comparison.improvements
    assert set(comparison.rows["outcome"]) == {"unchanged"}


def test_backoff_sleeps_are_taken_out_of_times(tmp_path):
    figures = comparison_figures(matrix(tmp_path, "a"))
    outage = figures.loc["center-outage"]
    assert outage["ready_s"] == 11.0 and outage["ready_backoff_s"] == 10.8
    assert outage["ready_work_s"] == pytest.approx(0.2)
    # recovery: the fault cleared at +20 s, then the agent slept 2.09 s of the 2.1 s
    assert outage["recovery_backoff_s"] == 2.09 and outage["recovery_work_s"] == pytest.approx(0.01)
    assert figures.loc["baseline", "ready_work_s"] == 1.3


def test_work_time_counts_only_the_part_of_a_sleep_inside_the_window():
    records = [{"source": "agent", "kind": "backoff", "t": 9.0, "fields": {"sleep_s": 3.0}}]  # 9 → 12
    view = View.of_journal(records, {}, "reference")
    assert work_time(10.0, 4.0, view) == (2.0, 2.0, "")  # window 10 → 14


def test_an_agent_that_logs_its_waits_as_go_durations_is_comparable():
    """tp-prometheus says "duration":"2s": read in seconds (its matcher's units), the sleep is taken out."""
    from harness.profile import load_profile
    from harness.signals import read_line
    line = ('{"duration":"2s","level":"info","msg":"Retrying after duration specified by Retry-After header",'
            '"ts":"1970-01-01T00:00:09Z"}')
    [event] = read_line(line, load_profile("tp-prometheus").signals, 9.0)
    records = [{"source": event.source, "kind": event.kind, "t": event.t, "container": "agent", "fields": event.fields}]
    view = View.of_journal(records, {}, "tp-prometheus")
    assert view.backoffs() == [(9.0, 2.0)]
    assert work_time(8.0, 4.0, view) == (2.0, 2.0, "")


def test_retries_without_logged_sleeps_are_not_comparable(tmp_path):
    a = matrix(tmp_path, "a", baseline=scenario("baseline", ready=5.0, attempts=4))
    b = matrix(tmp_path, "b", baseline=scenario("baseline", ready=9.0, attempts=4))
    comparison = compare_runs(a, b)
    assert comparison.exit_code == 0
    assert comparison.rows.loc["baseline", "outcome"] == "unchanged"
    assert comparison.rows.loc["baseline", "not_comparable"] == "ready (retries without logged backoff sleeps)"
    assert comparison.lines()[-1] == "compare: 0 regressions, 3 unchanged; 1 figure(s) not comparable"


def test_emulated_times_are_not_comparable(tmp_path):
    def qemu(ready):
        result = scenario("arch-qemu", ready=ready)
        result.faults = [{"type": "requires", "family": "requirement", "needs": ["qemu"]}]
        return result

    comparison = compare_runs(run(tmp_path, "a", qemu(2.6)), run(tmp_path, "b", qemu(4.2)))
    assert comparison.exit_code == 0
    assert comparison.rows.loc["arch-qemu", "not_comparable"] == "ready (emulated (QEMU))"


def test_a_figure_missing_in_one_run_is_not_comparable(tmp_path):
    comparison = compare_runs(matrix(tmp_path, "a"), matrix(tmp_path, "b", baseline=scenario("baseline", ready=None)))
    assert comparison.exit_code == 0
    assert comparison.rows.loc["baseline", "not_comparable"] == "ready (B: no ready figure)"


def test_more_attempts_beyond_noise_is_a_regression(tmp_path):
    a = matrix(tmp_path, "a", toxic_timeout=scenario("toxic-timeout", ready=14.0, attempts=9, sleeps=(1.0,) * 8))
    b = matrix(tmp_path, "b", toxic_timeout=scenario("toxic-timeout", ready=25.0, attempts=20, sleeps=(1.0,) * 19))
    comparison = compare_runs(a, b)
    assert comparison.exit_code == 1
    assert [(f.scenario, f.kind) for f in comparison.regressions] == [("toxic-timeout", "more attempts")]
    assert "  toxic-timeout: attempts 9 → 20 (+11, +122 %) MORE ATTEMPTS" in comparison.lines()


def test_attempt_thresholds_come_from_noise(tmp_path):
    a = matrix(tmp_path, "a", toxic_timeout=scenario("toxic-timeout", ready=14.0, attempts=9, sleeps=(1.0,) * 8))
    b = matrix(tmp_path, "b", toxic_timeout=scenario("toxic-timeout", ready=17.0, attempts=12, sleeps=(1.0,) * 11))
    assert compare_runs(a, b).exit_code == 0  # +3, +33 %: under 50 %
    assert compare_runs(a, b, Noise(attempts_rel=0.25)).exit_code == 1


def test_added_and_removed_scenarios_are_reported_not_regressions(tmp_path):
    a = run(tmp_path, "a", scenario("baseline"), scenario("old-one"))
    b = run(tmp_path, "b", scenario("baseline"), scenario("new-one", status="fail", failed=["ready"]))
    comparison = compare_runs(a, b)
    assert comparison.exit_code == 0
    assert "  old-one: removed (was pass)" in comparison.lines()
    assert "  new-one: added (fail)" in comparison.lines()
    assert comparison.lines()[-1] == "compare: 0 regressions, 1 added, 1 removed, 1 unchanged"


def test_inputs_that_cannot_be_compared_raise_input_error(tmp_path):
    a = run(tmp_path, "a", scenario("baseline"))
    with pytest.raises(InputError, match="no scenario in common"):
        compare_runs(a, run(tmp_path, "b", scenario("other")))
    with pytest.raises(InputError, match="has no scenarios"):
        compare_runs(a, run(tmp_path, "c"))
    with pytest.raises(InputError, match="ran more than once"):
        compare_runs(a, run(tmp_path, "d", scenario("baseline"), scenario("baseline")))
    with pytest.raises(InputError, match="time_rel"):
        Noise(time_rel=-0.1)


def save(data):
    """Write a RunData the way ``startle run`` does (journal and timelines; no derived reports)."""
    data.dir.mkdir(parents=True)
    (data.dir / "results.json").write_text(data.record.model_dump_json())
    for name, timeline in data.timelines.items():
        (data.dir / name).mkdir()
        (data.dir / name / "timeline.jsonl").write_text("".join(json.dumps(r) + "\n" for r in timeline))
    return str(data.dir)


def test_command_line_exit_codes_and_markdown(tmp_path, capsys):
    a = save(matrix(tmp_path, "a"))
    b = save(matrix(tmp_path, "b", baseline=scenario("baseline", ready=2.3)))
    assert main([a, a]) == 0
    assert main([a, b, "--time-abs-s", "1.5"]) == 0  # +1.0 s is under a 1.5 s threshold
    capsys.readouterr()
    summary = tmp_path / "summary.md"
    assert main([a, b, "--markdown", str(summary)]) == 1
    out = capsys.readouterr().out
    assert "baseline: ready 1.30 s → 2.30 s (+1.00 s, +77 %) SLOWER" in out
    assert "### startle compare: ❌ regression" in summary.read_text()
    assert main([a, str(tmp_path / "missing")]) == 2
    assert "no results.json here" in capsys.readouterr().err
