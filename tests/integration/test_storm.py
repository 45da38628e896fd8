"""`startle storm` with real containers: the mock center image (and Toxiproxy) on the host network,
locust as a master with two worker processes. Nothing may be left behind."""

from __future__ import annotations

from harness.config import LABEL_RUN
from harness.profile import load_profile
from harness.runtime import Run, leftovers
from harness.storm import modes, runner
from harness.storm.policies import make_policies


def settings(mode: modes.ModeParams, names: list[str], agents: int, **kw) -> runner.StormSettings:
    policies = make_policies(names, base_ms=100, cap_ms=4000, factor=2, deadline_s=kw.pop("deadline_s", 30),
                             profile=load_profile("reference"))
    return runner.StormSettings(mode, policies, [agents], workers=2, seed=11, **kw)


def test_contention_storm_full_jitter_works_less_than_no_backoff(docker, tmp_path):
    run = Run(reports_root=tmp_path)
    try:
        result = runner.run_storm(settings(modes.ModeParams("contention"), ["none", "full-jitter"], 200),
                                  runner.ContainerWorld(run, "contention", client=docker), tmp_path,
                                  progress=print)
        rows = {r.policy.name: r.summary() for r in result.runs}
        for row in rows.values():
            assert row["complete"] and row["registered"] == 200, row
            assert row["center_requests"] == row["requests"]  # the center saw every request the agents sent
            assert row["center_peak_rps"] > 0
        assert rows["full-jitter"]["attempts"] < rows["none"]["attempts"]
        assert rows["full-jitter"]["status_409"] < rows["none"]["status_409"]
    finally:
        assert leftovers(docker, {LABEL_RUN: run.run_id}) == []


def test_outage_through_toxiproxy_nobody_registers_before_the_center_is_back(docker, tmp_path):
    run = Run(reports_root=tmp_path)
    try:
        result = runner.run_storm(settings(modes.ModeParams("outage", outage_s=2.0), ["full-jitter"], 100),
                                  runner.ContainerWorld(run, "outage", client=docker), tmp_path, progress=print)
        (only,) = result.runs
        s = only.summary()
        assert s["registered"] == 100 and s["t100_s"] > 0
        assert s["no_answer"] > 0  # refused by the disabled proxy: those never reached the center
        assert s["center_requests"] == s["requests"] - s["no_answer"]
        assert only.meta["events"]["center_up"] - only.meta["events"]["go"] >= 2.0
    finally:
        assert leftovers(docker, {LABEL_RUN: run.run_id}) == []


def test_ctrl_c_removes_the_world(docker, tmp_path):
    run = Run(reports_root=tmp_path)

    def interrupt(line: str) -> None:
        raise KeyboardInterrupt

    try:
        runner.run_storm(settings(modes.ModeParams("boot"), ["none"], 10),
                         runner.ContainerWorld(run, "boot", client=docker), tmp_path, progress=interrupt)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt was swallowed")
    assert leftovers(docker, {LABEL_RUN: run.run_id}) == []
