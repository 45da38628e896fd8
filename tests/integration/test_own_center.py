"""A center image of the agent's own is ready when its declared probe says so at the container —
not at a published port, where Docker's userland proxy accepts every connection."""

import pytest

from harness.containers import OwnCenterContainer, StartleNetwork
from harness.profile import Probe, load_profile
from harness.runtime import Run, leftovers, reap


@pytest.fixture
def run(docker):
    run = Run()
    yield run
    reap(docker, {"startle.run": run.run_id})
    assert leftovers(docker, {"startle.run": run.run_id}) == []


def start_center(run, ready: Probe) -> OwnCenterContainer:
    own = load_profile("tp-mosquitto").center.image.model_copy(update={"ready": ready})
    network = StartleNetwork(f"startle-{run.run_id}-own", run.labels()).create()
    center = OwnCenterContainer(own, f"startle-{run.run_id}-own-center", run.labels(), network)
    center.start()
    return center


def test_the_broker_port_is_ready(run):
    start_center(run, Probe(tcp={"port": 1883})).wait_ready(timeout_s=30)


def test_a_port_nothing_listens_on_is_never_ready(run):
    center = start_center(run, Probe(tcp={"port": 1884}))  # published, but mosquitto listens on 1883 only
    with pytest.raises(TimeoutError, match="tcp :1884"):
        center.wait_ready(timeout_s=2)
