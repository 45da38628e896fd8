"""What the storm takes of an agent's profile: its registration route and the routes the recording
center must answer; a profile the storm cannot storm is refused here, with the field and the fix.

The storm (simulated agents and the real fleet alike) counts registration attempts in the
recording center's request log: the requests on the profile's ``center.register`` route, a
success being any 2xx (:func:`harness.view.accepted`). So it needs an HTTP agent that talks to
startle's recording center: ``center.protocol: http``, a declared ``center.register``, no center
image of its own (an MQTT broker has no request log and cannot be scripted through an outage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from harness.errors import InputError
from harness.view import Route

DEFAULT_PROFILE = "reference"
"""The profile ``startle storm`` uses when none is named (``--profile``)."""
REGISTRY_READ = Route("GET", "/v1/registry")
"""Contention mode's version read: the recording center's own route (fixtures/center/API.md), not the agent's."""


@dataclass(frozen=True)
class StormTarget:
    """The register route (``register``) and the profile's declared center routes (``routes``,
    as the center's ``/admin/routes`` takes them); plain JSON through :meth:`to_dict`."""

    register: Route
    routes: tuple[dict[str, Any], ...] = field(default=())

    def on_register(self, record: dict[str, Any]) -> bool:
        """Whether a center request record is on the register route."""
        return self.register.matches(record.get("method"), record.get("path"))

    def kind(self, method: str | None, path: str | None) -> str:
        """A request's kind in the records (harness/storm/metrics.py): ``register``, ``read``
        (contention's version read), else its path."""
        if self.register.matches(method, path):
            return "register"
        if REGISTRY_READ.matches(method, path):
            return "read"
        return str(path)

    @property
    def send_method(self) -> str:
        """The method a simulated agent registers with (POST when the route takes any)."""
        return "POST" if self.register.method == "*" else self.register.method

    def center_routes(self, contention: bool = False) -> list[dict[str, Any]]:
        """The routes to declare on the storm's center. In contention mode the register route is the
        center's conditional write (``builtin: register``), whatever the profile answers there."""
        routes = [dict(r) for r in self.routes]
        if contention:
            routes = [r for r in routes if not self.register.matches(r.get("method", "*"), r["path"])]
            routes.append({"method": self.register.method, "path": self.register.path, "builtin": "register"})
        return routes

    def to_dict(self) -> dict[str, Any]:
        return {"register": {"method": self.register.method, "path": self.register.path},
                "routes": [dict(r) for r in self.routes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StormTarget":
        return cls(Route(**data["register"]), tuple(data.get("routes", ())))


def target_of(profile) -> StormTarget:
    """The storm's target from a :class:`harness.profile.Profile`; an InputError naming the profile
    file, the field and the fix when the storm cannot simulate or count this agent."""
    center, where = profile.center, profile.path or profile.name
    also = []
    if center.protocol != "http":
        also.append(f"center.protocol: {center.protocol}")
    if center.image is not None:
        also.append(f"a center image of its own, center.image: {center.image.image}")
    fix = ("the storm needs an HTTP agent of startle's recording center: declare `center.register: METHOD /path`, "
           "`center.protocol: http` and no center.image (an agent seen only on the wire cannot be stormed)")
    if center.register is None:
        raise InputError(where, "center.register", "the storm counts registration attempts in the recording "
                         "center's request log, and this profile declares no HTTP register route"
                         + (f" ({'; '.join(also)})" if also else ""), fix)
    if also:
        field_name = "center.protocol" if center.protocol != "http" else "center.image"
        raise InputError(where, field_name, "the storm drives startle's recording center over HTTP, and this "
                         f"profile declares {'; '.join(also)}", fix)
    return StormTarget(Route.parse(center.register),
                       tuple(r.model_dump(exclude_none=True) for r in center.routes))


@lru_cache(maxsize=1)
def default_target() -> StormTarget:
    """The target of the default profile (:data:`DEFAULT_PROFILE`), for callers that name none."""
    from harness.profile import load_profile
    return target_of(load_profile(DEFAULT_PROFILE))
