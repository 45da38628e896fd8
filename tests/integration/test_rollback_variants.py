"""The bad v2s startle builds on the profile's own image, through a launcher startle did not write:
mosquitto's (fixtures/thirdparty/mosquitto/launcher.sh) rolls back a v2 that hangs (answers
nothing, never exits) and one that runs and answers but never reaches its center. The reference
launcher runs the same scenarios in `scenarios/`; its mutant `launcher-no-rollback` is flagged on
both (tests/mutants/launcher-no-rollback/mutant.yaml, `also_scenarios`)."""

import pytest

from harness.config import SCENARIOS_DIR
from harness.lifecycle import run_scenario
from harness.profile import load_profile
from harness.scenario import load_scenario
from harness.timeline import Timeline


def v2_lifetime(timeline: Timeline) -> tuple[str, float, float]:
    """(the v2 image, when its container started, when it died) from the launcher's and Docker's events."""
    v2 = timeline.first("launcher", "invoke", lambda e: e.get("step") == "upgrade").get("image")
    start = timeline.first("docker", "start", lambda e: e.get("image") == v2)
    died = timeline.first("docker", "die", lambda e: e.get("image") == v2)
    assert start is not None and died is not None, f"{v2} never started or never stopped"
    return v2, start.t, died.t


def answered(timeline: Timeline, stage: str, start: float, end: float) -> bool:
    """Whether startle's probe of ``stage`` said yes at some moment in [start, end]."""
    return any(start <= e.t <= end for e in timeline.select("probe", "stage", lambda e: e.get("stage") == stage
                                                            and e.get("ok")))


@pytest.mark.docker
@pytest.mark.parametrize("name", ["rollback-hung-upgrade", "rollback-never-ready-upgrade"])
def test_mosquittos_launcher_rolls_back_a_v2_that_hangs_or_is_never_ready(docker, world_pool, name):
    result = run_scenario(load_scenario(SCENARIOS_DIR / f"{name}.yaml"), world_pool.run,
                          profile=load_profile("tp-mosquitto"), pool=world_pool)
    assert result.status == "pass", result.summary_line()
    timeline = Timeline.from_records(result.timeline)
    v2, started, died = v2_lifetime(timeline)
    rolling_back = timeline.first("launcher", "line", lambda e: "rolling back" in e.get("line", ""))
    assert rolling_back is not None and died >= rolling_back.t, "v2 ended before the launcher gave up on it"
    assert len(timeline.select("docker", "start", lambda e: e.get("image") == v2)) == 1  # never exited, no restart
    assert not timeline.select("harness", "collector_error"), "a collector failed on a container the launcher removed"
    if name == "rollback-hung-upgrade":
        assert not answered(timeline, "live", started, died), "the hung v2 answered its live probe"
    else:
        assert answered(timeline, "live", started, died), "the never-ready v2 never answered its live probe"
        cut = timeline.first("fault", "applied")
        restored = timeline.first("fault", "cleared")
        assert cut is not None and restored is not None and cut.t < started and died <= restored.t
        v1_again = timeline.select("docker", "create", lambda e: e.get("image") != v2 and e.t > died)
        assert v1_again and restored.t <= v1_again[0].t, "v1 was started again before the center link was back"
