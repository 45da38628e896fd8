"""Pooled worlds: a worker keeps its network, center and Toxiproxy between scenarios.

Building an :class:`~harness.runtime.Infrastructure` (a network and two containers, each waited
for) costs more than most scenarios' own work. A worker — a thread of ``startle run -j N``, a
pytest(-xdist) process — keeps the one it built and resets it before each scenario
(:meth:`Infrastructure.reset`: the center forgets nodes, behaviour, records and logs; Toxiproxy
keeps only its ``center`` proxy, enabled, without toxics). Each scenario still has its own agent
container, node id, config copy, temp folder, collectors and event filter (harness/lifecycle.py).

A scenario gets a world of its own, built and removed with it as before, when a reset cannot give
it a clean one: a fault says it ``needs_own_world()``, or the profile brings its own center image
(no admin API to make it forget). A pooled infrastructure that a scenario ended in ``error`` with,
or that fails its reset, is removed and built anew. Isolation: tests/integration/test_pool.py.
"""

from __future__ import annotations

import secrets
import threading

from harness.errors import InfrastructureError
from harness.profile import Profile
from harness.runtime import Infrastructure, Run
from harness.scenario import Scenario


def own_world_reason(scenario: Scenario, profile: Profile) -> str | None:
    """Why ``scenario`` cannot run on a pooled world (None: it can)."""
    if profile.center.image is not None:
        return f"profile {profile.name} brings its own center image, which cannot be reset"
    needing = [f.type for f in scenario.typed_faults if f.needs_own_world()]
    return f"fault {', '.join(needing)} changes the world beyond a reset" if needing else None


class WorldPool:
    """One pooled :class:`Infrastructure` per worker thread, built on first use, reset on each
    later one. ``close()`` removes them all (a dead run's are reaped by label like any other)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._local = threading.local()
        self._lock = threading.Lock()
        self._built: list[Infrastructure] = []
        self.builds = 0
        """Infrastructures built so far (a figure for reports: scenarios / builds is the reuse)."""

    def lease(self, scenario: Scenario, profile: Profile) -> Infrastructure | None:
        """This worker's infrastructure, reset for ``scenario`` (its ``next_index``: the center's
        first record of the scenario); None when the scenario needs a world of its own."""
        if own_world_reason(scenario, profile) is not None:
            return None
        infra: Infrastructure | None = getattr(self._local, "infra", None)
        if infra is not None:
            try:
                infra.next_index = infra.reset(profile)
                return infra
            except Exception:  # noqa: BLE001  (a container gone, an API that does not answer: build anew)
                self.discard(infra)
        infra = Infrastructure(self.run, f"pool-{secrets.token_hex(3)}", profile)
        with self._lock:
            self._built.append(infra)
            self.builds += 1
        try:
            infra.start()
        except BaseException:
            self.discard(infra)
            raise
        infra.next_index = 0
        self._local.infra = infra
        return infra

    def current(self) -> Infrastructure | None:
        """This worker's pooled infrastructure, as the last scenario left it (None: none yet)."""
        return getattr(self._local, "infra", None)

    def discard(self, infra: Infrastructure) -> None:
        """Remove ``infra`` (after an error nothing of it is trusted); the next lease builds anew."""
        if getattr(self._local, "infra", None) is infra:
            self._local.infra = None
        with self._lock:
            if infra in self._built:
                self._built.remove(infra)
        infra.remove()

    def close(self) -> None:
        """Remove every infrastructure this pool built (idempotent); every one is tried, then an
        InfrastructureError names those that were not removed (the run's reap removes what is left)."""
        with self._lock:
            built, self._built = self._built, []
        failed = []
        for infra in built:
            try:
                infra.remove()
            except Exception as exc:  # noqa: BLE001  (the next ones are still removed)
                failed.append(f"{infra.name}: {exc}")
        if failed:
            raise InfrastructureError(f"pooled world(s) not removed: {'; '.join(failed)}")
