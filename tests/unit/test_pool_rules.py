"""Which scenarios may run on a pooled world (harness/pool.py); the isolation itself is proven
with real containers in tests/integration/test_pool.py."""

from harness.config import SCENARIOS_DIR
from harness.pool import own_world_reason
from harness.profile import load_profile
from harness.scenario import load_scenario


def test_a_fault_that_changes_the_world_gets_one_of_its_own():
    from types import SimpleNamespace

    from harness.faults.base import Fault

    class RewiresToxiproxy(Fault):
        type: str = "rewires_toxiproxy"

        def needs_own_world(self) -> bool:
            return True

    profile = load_profile("reference")
    assert "rewires_toxiproxy" in own_world_reason(SimpleNamespace(typed_faults=[RewiresToxiproxy()]), profile)
    assert own_world_reason(load_scenario(SCENARIOS_DIR / "baseline.yaml"), profile) is None
    # an agent network of its own that Toxiproxy joins is the scenario's, removed with it: pooled
    isolated = load_scenario(SCENARIOS_DIR / "advertise-forwarded.yaml")
    assert own_world_reason(isolated, profile) is None
    assert own_world_reason(load_scenario(SCENARIOS_DIR / "network-none.yaml"), profile) is None


def test_an_own_center_image_cannot_be_reset():
    profile = load_profile("reference")
    own = profile.model_copy(update={"center": profile.center.model_copy(update={"image": object()})})
    assert "own center" in own_world_reason(load_scenario(SCENARIOS_DIR / "baseline.yaml"), own)


def test_close_tries_every_world_before_it_names_those_left():
    import pytest

    from harness.errors import InfrastructureError
    from harness.pool import WorldPool

    class Infra:
        def __init__(self, name, fails):
            self.name, self.fails, self.removed = name, fails, False

        def remove(self):
            self.removed = True
            if self.fails:
                raise RuntimeError("engine said no")

    pool = WorldPool(run=None)
    worlds = [Infra("pool-a", True), Infra("pool-b", False), Infra("pool-c", True)]
    pool._built = list(worlds)
    with pytest.raises(InfrastructureError, match="pool-a: engine said no; pool-c: engine said no"):
        pool.close()
    assert all(w.removed for w in worlds)
    pool.close()  # idempotent: nothing left to try
