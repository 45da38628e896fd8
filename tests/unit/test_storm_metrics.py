"""The storm's figures on synthetic records: percentiles of registration, peak rate, wasted work."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.storm.metrics import (SUMMARY_COLUMNS, ranked, records_frame, records_from_center_log,
                                   registration_times, summarise, time_to_share, timeseries)

T0 = 1_000.0


def rec(agent, attempt, start, status, end=None, kind="register", planned=None, sleep=None):
    return (agent, kind, attempt, start if planned is None else planned, start,
            start + 0.01 if end is None else end, status, None if status else "connection refused", sleep)


@pytest.fixture
def storm():
    """4 agents. a: 1 attempt ok at 0.5 s; b: 503, 429, ok at 2.5 s; c: refused x2 then ok at 10.2 s;
    d: 409 x3, never registered."""
    rows = [
        rec("a", 1, T0 + 0.49, 200, end=T0 + 0.5),
        rec("b", 1, T0 + 0.2, 503), rec("b", 2, T0 + 1.1, 429), rec("b", 3, T0 + 2.4, 200, end=T0 + 2.5),
        rec("c", 1, T0 + 0.3, None), rec("c", 2, T0 + 0.9, None), rec("c", 3, T0 + 10.1, 200, end=T0 + 10.2,
                                                                       planned=T0 + 10.0),
        rec("d", 1, T0 + 0.1, 409), rec("d", 2, T0 + 0.15, 409), rec("d", 3, T0 + 3.2, 409),
        rec("d", 3, T0 + 3.19, 200, kind="read"),
    ]
    return records_frame(rows)


def test_summary_figures(storm):
    s = summarise(storm, agents=4, t_ref=T0, mode="contention", policy="full-jitter")
    assert list(s)[:2] == ["mode", "policy"] and s["policy"] == "full-jitter"
    assert set(SUMMARY_COLUMNS) <= set(s)
    assert s["attempts"] == 10 and s["requests"] == 11
    assert s["attempts_per_agent_mean"] == 2.5 and s["attempts_per_agent_max"] == 3
    assert s["attempts_per_agent_p95"] == 3.0
    assert s["registered"] == 3 and s["never_registered"] == 1
    # 50 % of 4 = 2 agents: b at 2.5 s; 95 % = 4 agents: never
    assert s["t50_s"] == pytest.approx(2.5) and math.isnan(s["t95_s"]) and math.isnan(s["t100_s"])
    assert s["status_429"] == 1 and s["status_409"] == 3 and s["no_answer"] == 2
    assert s["wasted"] == 7 and s["wasted_pct"] == pytest.approx(70.0)
    assert s["work_per_agent"] == pytest.approx(10 / 3)
    # second [0, 1): a, b1, c1, c2, d1, d2 sent; c1, c2 had no answer: 4 reached the center
    assert s["offered_peak_rps"] == 6 and s["center_requests"] == 9 and s["center_peak_rps"] == 4
    assert s["lag_p95_ms"] == pytest.approx(pd.Series([0.0] * 9 + [100.0]).quantile(0.95))
    assert s["duration_s"] == pytest.approx(10.2)


def test_time_to_share_counts_whole_agents():
    done = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    assert time_to_share(done, 10, 0.5) == 5.0
    assert time_to_share(done, 10, 0.95) == 10.0  # ceil(9.5) = 10 agents
    assert time_to_share(done, 10, 1.0) == 10.0
    assert math.isnan(time_to_share(done, 11, 1.0))


def test_everyone_registered_and_reference_after_go(storm):
    rows = [rec(f"n{i}", 1, T0 + i, 200, end=T0 + i + 0.5) for i in range(20)]
    s = summarise(records_frame(rows), agents=20, t_ref=T0 + 5, t_go=T0)
    assert s["t100_s"] == pytest.approx(14.5) and s["t50_s"] == pytest.approx(4.5)  # 10th agent: 9.5 - 5
    assert s["t95_s"] == pytest.approx(13.5) and s["wasted"] == 0 and s["duration_s"] == pytest.approx(19.5)
    assert registration_times(records_frame(rows), T0).iloc[0] == pytest.approx(0.5)


def test_an_agent_counts_once_even_if_registered_twice():
    rows = [rec("a", 1, T0, 200), rec("a", 2, T0 + 1, 200)]
    s = summarise(records_frame(rows), agents=1, t_ref=T0)
    assert s["registered"] == 1 and s["t100_s"] == pytest.approx(0.01)


def test_the_center_s_log_is_the_source_of_center_rates(storm):
    log = [{"index": i, "ts": T0 + 0.1 * i, "path": "/v1/register", "node_id": f"x{i}", "attempt": 1,
            "status": 200, "latency_ms": 1.0, "note": None} for i in range(25)]
    center = records_from_center_log(log)
    s = summarise(storm, agents=4, t_ref=T0, center=center)
    assert s["center_requests"] == 25 and s["center_peak_rps"] == 10


def test_records_from_center_log_have_the_same_columns():
    log = [{"index": 0, "ts": T0, "method": "POST", "path": "/v1/register", "node_id": "n1", "attempt": 2,
            "status": 429, "latency_ms": 2.0, "remote": "127.0.0.1", "note": "over capacity (5/s)"},
           {"index": 1, "ts": T0 + 1, "method": "GET", "path": "/v1/registry", "node_id": None, "attempt": None,
            "status": None, "latency_ms": 0.5, "note": "down: connection closed without an answer"}]
    frame = records_from_center_log(log)
    assert list(frame.columns) == list(records_frame([]).columns)
    assert frame["kind"].tolist() == ["register", "read"]
    assert frame["t_end"].tolist() == pytest.approx([T0 + 0.002, T0 + 1.0005])
    assert frame["status"].iloc[0] == 429 and math.isnan(frame["status"].iloc[1])
    assert frame["error"].tolist() == [None, "down: connection closed without an answer"]
    s = summarise(frame, agents=1, t_ref=T0)
    assert s["attempts"] == 1 and s["status_429"] == 1 and s["never_registered"] == 1


def test_timeseries_per_second(storm):
    ts = timeseries(storm, agents=4, t_ref=T0, labels={"policy": "p", "agents": 4})
    assert ts["t"].tolist() == list(range(0, 11))
    assert ts["attempts"].tolist()[:4] == [6, 1, 1, 1]
    assert ts["requests"].sum() == 11 and ts["center_requests"].sum() == 9
    assert ts["registrations"].tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert ts["registered_fraction"].iloc[-1] == pytest.approx(0.75)
    assert ts["status_409"].sum() == 3 and ts["no_answer"].sum() == 2
    assert set(ts["policy"]) == {"p"} and set(ts["agents"]) == {4}


def test_timeseries_includes_time_before_the_reference(storm):
    ts = timeseries(storm, agents=4, t_ref=T0 + 2)  # e.g. outage: center up at +2 s
    assert ts["t"].iloc[0] == -2 and ts["t"].iloc[-1] == 8


def test_empty_records():
    empty = records_frame([])
    s = summarise(empty, agents=3, t_ref=T0)
    assert s["attempts"] == 0 and s["never_registered"] == 3 and s["center_peak_rps"] == 0
    assert timeseries(empty, 3, T0).empty


def test_ranked_puts_never_finished_last():
    summary = pd.DataFrame([{"policy": "a", "attempts": 50, "t100_s": math.nan},
                            {"policy": "b", "attempts": 300, "t100_s": 1.0},
                            {"policy": "c", "attempts": 100, "t100_s": 4.0}])
    assert ranked(summary, "attempts")["policy"].tolist() == ["a", "c", "b"]
    by_time = ranked(summary, "t100_s")
    assert by_time["policy"].tolist() == ["b", "c", "a"] and by_time["rank"].tolist() == [1, 2, 3]


def test_lag_in_contention_mode_is_measured_at_the_read_not_after_it():
    # each attempt reads (50 ms round trip) then writes; both records carry the attempt's planned time
    rows = [rec("a", 1, T0, 200, end=T0 + 0.05, kind="read", planned=T0),
            rec("a", 1, T0 + 0.05, 409, kind="register", planned=T0, sleep=0.1),
            rec("a", 2, T0 + 0.17, 200, end=T0 + 0.22, kind="read", planned=T0 + 0.16),
            rec("a", 2, T0 + 0.22, 200, kind="register", planned=T0 + 0.16)]
    s = summarise(records_frame(rows), 1, T0)
    assert s["lag_p95_ms"] == pytest.approx(pd.Series([0.0, 10.0]).quantile(0.95))  # not the read's 50 ms
