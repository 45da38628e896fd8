"""reap's network removal when Docker says "has active endpoints" (no Docker: a fake network)."""

from __future__ import annotations

import pytest
from docker.errors import APIError

from harness import runtime
from harness.errors import InfrastructureError


class GhostyNetwork:
    """Refuses removal ``refusals`` times (or for ever with None), listing ``attached`` endpoints."""

    name = "startle-x-storm-fleet"

    def __init__(self, refusals: int | None, attached: tuple[str, ...] = ()) -> None:
        self.refusals, self.attrs, self.disconnected, self.removed = refusals, {"Containers": {}}, [], False
        self._attached = {c: {} for c in attached}

    def remove(self) -> None:
        if self.refusals is None or self.refusals > 0:
            self.refusals = None if self.refusals is None else self.refusals - 1
            raise APIError("403 Client Error: Forbidden (\"error while removing network: network "
                           f"{self.name} has active endpoints\")")
        self.removed = True

    def reload(self) -> None:
        self.attrs = {"Containers": dict(self._attached)}

    def disconnect(self, container, force=False) -> None:
        self.disconnected.append((container, force))
        self._attached.pop(container, None)


def test_a_lingering_endpoint_is_force_disconnected_and_the_removal_retried():
    network = GhostyNetwork(refusals=1, attached=("abc123",))
    runtime._remove_network(network, wait_s=5.0)
    assert network.removed and network.disconnected == [("abc123", True)]


class UnlistedGhost(GhostyNetwork):
    """Inspect lists nothing; only a force-disconnect by the removed container's name clears it."""

    def __init__(self, ghost: str) -> None:
        super().__init__(refusals=None)
        self.ghost = ghost

    def disconnect(self, container, force=False) -> None:
        super().disconnect(container, force)
        if container == self.ghost and force:
            self.refusals = 0


def test_a_ghost_endpoint_is_deleted_by_the_name_of_the_container_that_held_it():
    network = UnlistedGhost("startle-x-agent-0007")
    runtime._remove_network(network, ["startle-x-agent-0001", "startle-x-agent-0007"], wait_s=5.0)
    assert network.removed and ("startle-x-agent-0007", True) in network.disconnected


def test_a_ghost_endpoint_ends_in_an_error_that_names_the_fix():
    network = GhostyNetwork(refusals=None)
    with pytest.raises(InfrastructureError, match="restart dockerd"):
        runtime._remove_network(network, ['gone'], wait_s=0.0)
    assert not network.removed


def test_other_refusals_are_not_retried():
    class Busy(GhostyNetwork):
        def remove(self) -> None:
            raise APIError("500 Server Error: something else")

    with pytest.raises(APIError, match="something else"):
        runtime._remove_network(Busy(refusals=None), wait_s=5.0)
