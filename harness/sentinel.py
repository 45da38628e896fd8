"""Harness faults are errors, never verdicts: what startle watches of its own world while a
scenario runs, and the reason it gives when that world broke under the agent.

* the center or Toxiproxy container died (Docker's ``die`` event for role center / toxiproxy):
  no fault of startle's stops them, so the agent lost its counterpart through no doing of its own;
* the engine's event stream ended or failed (the engine restarted, its socket went away): from
  then on startle sees nothing, and an agent killed with the engine is not a crash of the agent;
* the engine answered late: one of its events reached startle more than :data:`SLOW_ENGINE_S`
  after the engine stamped it, so deadlines would be judged on evidence that had not arrived.

:func:`broken` reads the timeline; the lifecycle calls it before every decision and turns a
reason into an :class:`~harness.errors.InfrastructureError` (status ``error``, run exit 3).
"""

from __future__ import annotations

from harness.timeline import Timeline

INFRASTRUCTURE_ROLES = ("center", "toxiproxy")
"""Roles of the containers startle brings (harness/containers.py) that no fault stops."""
SLOW_ENGINE_S = 2.0
"""Seconds an engine event may take to reach startle before the engine counts as too slow to judge."""


def broken(timeline: Timeline) -> str | None:
    """Why startle's own world failed during the scenario, or None when it held."""
    died = timeline.first("docker", "die", lambda e: e.container in INFRASTRUCTURE_ROLES)
    if died is not None:
        return (f"the {died.container} container died (exit {died.get('exit_code')}) while the scenario ran: "
                "startle's infrastructure failed, the agent was not judged")
    lost = timeline.first("harness", "engine_lost")
    if lost is not None:
        return (f"the Docker engine went away while the scenario ran ({lost.get('reason')}): the agent was "
                "not judged")
    late = timeline.first("docker", None, lambda e: (e.get("lag_s") or 0) > SLOW_ENGINE_S)
    if late is not None:
        return (f"the Docker engine is too slow to judge timing: its {late.kind!r} event of the {late.container} "
                f"container reached startle {late.get('lag_s')} s late (more than {SLOW_ENGINE_S:g} s)")
    return None
