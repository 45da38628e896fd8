"""`startle storm --hop-delay-ms`: a delayed storm's measured round trip grows by about the delay
(the center container on the host network, one local locust process)."""

from __future__ import annotations

from harness.config import LABEL_RUN
from harness.profile import load_profile
from harness.runtime import Run, leftovers
from harness.storm import modes, runner
from harness.storm.delay import HopDelay
from harness.storm.policies import make_policies

HOP_MS = 40.0


def test_round_trip_grows_by_the_two_hops(docker, tmp_path):
    run = Run(reports_root=tmp_path)
    policies = make_policies(["full-jitter"], base_ms=100, cap_ms=1000, factor=2, deadline_s=20,
                             profile=load_profile("reference"))
    settings = runner.StormSettings(modes.ModeParams("boot"), policies, [30], workers=0, seed=3,
                                    hop_delay=HopDelay.parse(f"{HOP_MS:g}"))
    try:
        result = runner.run_storm(settings, runner.ContainerWorld(run, "boot", client=docker), tmp_path,
                                  progress=print)
        (only,) = result.runs
        s = only.summary()
        assert s["registered"] == 30 and s["hop_delay_ms"] == f"{HOP_MS:g}"
        round_trip_ms = (only.records["t_end"] - only.records["t_start"]).median() * 1000
        # loopback itself is ~1 ms, a loaded machine adds tens: the bounds tell two hops from one or three
        assert 2 * HOP_MS <= round_trip_ms < 3 * HOP_MS, round_trip_ms
        # the center received each request one hop after the agent sent it
        sent = only.records.set_index(["agent", "attempt"])["t_start"]
        seen = only.center.set_index(["agent", "attempt"])["t_start"]
        one_way_ms = ((seen - sent.reindex(seen.index)).median()) * 1000
        assert HOP_MS <= one_way_ms < 1.5 * HOP_MS, one_way_ms
    finally:
        assert leftovers(docker, {LABEL_RUN: run.run_id}) == []
