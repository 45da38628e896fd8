"""The cross-check's verdict (harness/storm/fleet.py `agreement`) on synthetic runs: no Docker."""

from __future__ import annotations

import numpy as np
import pytest

from harness.storm import fleet, metrics
from harness.storm.modes import ModeParams
from harness.storm.policies import PolicySpec
from harness.storm.runner import PolicyRun

T_UP = 1_000.0
"""The center's return, Unix s (synthetic)."""


def outage_run(name: str, agents: int, attempts_before: int, ready_after_s, registered: int | None = None,
               seed: int = 0, fixed_interval: bool = False):
    """A run of ``agents``: ``attempts_before`` unanswered attempts each during the 10-s outage (at
    random moments, or evenly spaced with ``fixed_interval``), then one 200 at ``T_UP +
    ready_after_s[i]`` (only the first ``registered`` agents)."""
    rows = []
    rng = np.random.default_rng(seed)
    registered = agents if registered is None else registered
    for i in range(agents):
        offsets = (np.arange(attempts_before) * 10.0 / attempts_before if fixed_interval
                   else np.sort(rng.uniform(0.0, 10.0, attempts_before)))
        for k, offset in enumerate(offsets):
            t = T_UP - 10.0 + float(offset)
            rows.append((f"n{i}", "register", k + 1, np.nan, t, t, None, "reset", np.nan))
        if i < registered:
            t = T_UP + float(ready_after_s[i])
            rows.append((f"n{i}", "register", attempts_before + 1, np.nan, t, t + 0.001, 200, None, np.nan))
    frame = metrics.records_frame(rows)
    meta = {"events": {"go": T_UP - 10.0, "center_up": T_UP},
            "config": {"mode": ModeParams("outage", outage_s=10.0).to_dict()}, "complete": registered == agents}
    return PolicyRun(PolicySpec(name, 100, 4000), agents, meta, frame, frame, 1.0)


def uniform(n: int, high: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, high, n)


def test_a_fleet_that_behaves_like_its_simulation_agrees():
    verdict = fleet.agreement(outage_run("containers", 30, 10, uniform(30, 4.0, 1), seed=1),
                              outage_run("profile", 30, 10, uniform(30, 4.0, 2), seed=2))
    assert verdict.agrees, verdict.reasons
    assert verdict.ratio == pytest.approx(1.0)
    assert verdict.gaps_p > fleet.ALPHA and verdict.times_p > fleet.ALPHA
    assert "AGREE" in verdict.line()


def test_a_fleet_retrying_three_times_as_often_disagrees_on_attempts_gaps_and_times():
    verdict = fleet.agreement(outage_run("containers", 30, 30, uniform(30, 0.5, 1), seed=1),
                              outage_run("profile", 30, 10, uniform(30, 4.0, 2), seed=2))
    assert not verdict.agrees
    assert any("attempts per agent" in r for r in verdict.reasons)
    assert any("registration times differ" in r for r in verdict.reasons)
    assert any("retry gaps differ" in r for r in verdict.reasons)
    assert verdict.times_p < fleet.ALPHA


def test_a_fixed_interval_at_the_same_count_is_caught_by_the_gaps_alone():
    # same attempts per agent and the same registration times: only the schedule differs
    verdict = fleet.agreement(outage_run("containers", 30, 10, uniform(30, 4.0, 1), seed=1, fixed_interval=True),
                              outage_run("profile", 30, 10, uniform(30, 4.0, 1), seed=2))
    assert [r for r in verdict.reasons if r.startswith("retry gaps differ")] == verdict.reasons


def test_same_attempts_but_other_registration_times_disagree():
    verdict = fleet.agreement(outage_run("containers", 40, 10, 8.0 + uniform(40, 4.0, 1), seed=1),
                              outage_run("profile", 40, 10, uniform(40, 4.0, 2), seed=2))
    assert [r for r in verdict.reasons if "registration times" in r] and verdict.ratio == 1.0


def test_a_fleet_that_did_not_all_register_disagrees():
    verdict = fleet.agreement(outage_run("containers", 30, 10, uniform(30, 4.0, 1), registered=25),
                              outage_run("profile", 30, 10, uniform(30, 4.0, 2)))
    assert any("5 of 30 agent containers never registered" in r for r in verdict.reasons)


def test_the_verdict_serialises_with_its_reasons():
    data = fleet.agreement(outage_run("containers", 30, 30, uniform(30, 0.5, 1)),
                           outage_run("profile", 30, 10, uniform(30, 4.0, 2))).to_dict()
    assert data["agrees"] is False and data["reasons"] and data["agents"] == 30


def test_the_fleet_refuses_other_modes():
    with pytest.raises(ValueError, match="outage mode only"):
        fleet.cross_check(None, None, 30, ModeParams("boot"), PolicySpec("profile", 100, 4000))


def test_a_small_but_significant_shift_of_many_gaps_is_not_a_disagreement():
    # 200 agents x 15 attempts: every real gap 50 ms longer (the agent's own overhead under load)
    real = outage_run("containers", 200, 15, uniform(200, 4.0, 1), seed=1)
    sim = outage_run("profile", 200, 15, uniform(200, 4.0, 2), seed=2)
    real.center = real.records = real.records.assign(t_start=real.records["t_start"] + 0.05 * real.records["attempt"])
    verdict = fleet.agreement(real, sim)
    assert verdict.gaps_p < fleet.ALPHA and verdict.gaps_shift < fleet.GAPS_SHIFT_MAX
    assert verdict.agrees, verdict.reasons


def test_a_spike_moved_by_a_few_ms_is_a_large_ks_d_but_a_small_shift():
    # the breaker's pauses: 5.002 s in the simulation, 5.03-5.2 s for a loaded real agent
    real = outage_run("containers", 200, 12, uniform(200, 4.0, 1), seed=1, fixed_interval=True)
    sim = outage_run("profile", 200, 12, uniform(200, 4.0, 2), seed=2, fixed_interval=True)
    jitter = np.random.default_rng(3).uniform(0.0, 0.15, len(real.records))
    real.center = real.records = real.records.assign(t_start=real.records["t_start"] + jitter)
    verdict = fleet.agreement(real, sim)
    assert verdict.gaps_d > 0.3 and verdict.gaps_shift < fleet.GAPS_SHIFT_MAX
    assert verdict.agrees, verdict.reasons
