"""The four storm modes: what each does to the world, and when.

========== ==================================================================================
outage     the center is unreachable when the agents start and comes back ``outage_s`` later:
           the Toxiproxy proxy in front of it is disabled (connections refused) and enabled
           again; without Toxiproxy the center's ``down`` behaviour is the switch (it reads
           each request and closes the connection unanswered). Agents go through the proxy.
           Times are measured from the moment the center is back (``center_up``).
boot       every agent starts at once against a healthy center (a region booting).
capacity   as boot, but the center admits at most ``capacity_per_s`` registrations/s (token
           bucket, ``capacity_burst``) on the profile's register route and answers 429 with
           Retry-After beyond it.
contention as boot, but a registration is a conditional write on the registry version
           (optimistic concurrency, the model of the classic backoff-and-jitter studies):
           agents read the version (the center's own ``GET /v1/registry``), write it to the
           profile's register route (made the center's conditional write), and on 409 retry
           with the version the answer tells; of concurrent writers with the same version
           exactly one wins.
========== ==================================================================================

The locust master runs this module: :func:`prepare` before the agents are released,
:func:`actions` are timed from the release (``go``), :func:`restore` at the end. Everything is
the center's admin API (fixtures/center/API.md) and Toxiproxy's, through harness/clients.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MODES = ("outage", "boot", "capacity", "contention")
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Endpoints:
    """Where things are (plain JSON, sent to the locust master).

    ``center``: the center's base URL (admin and agent-facing); ``target``: where the agents
    send (the center, or the Toxiproxy proxy in front of it); ``toxiproxy``: Toxiproxy's API
    base URL and ``proxy`` the proxy's name, when there is one.
    """

    center: str
    target: str
    toxiproxy: str | None = None
    proxy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def center_admin(self):
        """The center's admin API client (harness/clients.py)."""
        from harness.clients import CenterAdmin
        return CenterAdmin(self.center, timeout_s=TIMEOUT_S)

    def toxiproxy_admin(self):
        """Toxiproxy's API through toxiproxy-python (harness/clients.py); only when ``toxiproxy`` is set."""
        from harness.clients import ToxiproxyAdmin
        from harness.storm.wire import split_url
        return ToxiproxyAdmin(*split_url(self.toxiproxy))


@dataclass(frozen=True)
class ModeParams:
    """``outage_s``: seconds the center is unreachable (outage); ``capacity_per_s``: registrations
    per second the center admits and ``capacity_burst`` its bucket (capacity); ``start_offsets_s``:
    seconds after go the agents start, one drawn per agent (empty: all at go; the real fleet's
    measured restart moments, so that the simulation beside it restarts the same way)."""

    mode: str = "boot"
    outage_s: float = 10.0
    capacity_per_s: float | None = None
    capacity_burst: float | None = None
    start_offsets_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (known: {', '.join(MODES)})")
        if self.mode == "capacity" and not (self.capacity_per_s and self.capacity_per_s > 0):
            raise ValueError("capacity mode needs --capacity-per-s R (registrations/s, > 0)")
        if self.mode == "outage" and not self.outage_s >= 0:
            raise ValueError("outage mode needs --outage-s T >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def contention(self) -> bool:
        return self.mode == "contention"

    @property
    def reference_event(self) -> str:
        """The event times are measured from: ``center_up`` in outage mode, else ``go``."""
        return "center_up" if self.mode == "outage" else "go"

    def describe(self) -> str:
        if self.mode == "outage" and self.start_offsets_s:
            return (f"outage: center unreachable for {self.outage_s:.1f} s; the agents start 0-"
                    f"{max(self.start_offsets_s):.1f} s after it went down, as the real fleet restarted")
        if self.mode == "outage":
            return f"outage: center unreachable for {self.outage_s:g} s after the agents start"
        if self.mode == "capacity":
            return f"capacity: center admits {self.capacity_per_s:g} registrations/s, 429 + Retry-After beyond"
        if self.mode == "contention":
            return "contention: registration is a conditional write on the registry version (409 on conflict)"
        return "boot: every agent starts at once"


def needs_proxy(mode: str) -> bool:
    """Does the mode need Toxiproxy in front of the center?"""
    return mode == "outage"


def center_switch(ep: Endpoints, up: bool) -> None:
    """Make the center reachable (``up``) or not: the proxy when there is one, else ``down``."""
    if ep.toxiproxy and ep.proxy:
        ep.toxiproxy_admin().set_enabled(ep.proxy, up)
    else:
        ep.center_admin().behaviour(down=not up)


def prepare(ep: Endpoints, params: ModeParams, target=None) -> int:
    """A fresh center (records, nodes, behaviour, registry version) answering the profile's routes
    (``target``: a :class:`harness.storm.target.StormTarget`; None: the default profile's), its
    scripted failures and capacity on the register route, scripted for the mode. Returns the index
    of the center's first request record from now on."""
    from harness.storm.target import default_target
    target = target or default_target()
    center = ep.center_admin()
    first = center.reset()
    center.set_routes(target.center_routes(contention=params.contention))
    center.behaviour(paths=[target.register.path])
    if ep.toxiproxy and ep.proxy:
        ep.toxiproxy_admin().set_enabled(ep.proxy, True)
    if params.mode == "capacity":
        center.behaviour(capacity_per_s=params.capacity_per_s, capacity_burst=params.capacity_burst)
    elif params.mode == "contention":
        center.behaviour(contention=True)
    elif params.mode == "outage":
        center_switch(ep, up=False)
    return first


def actions(params: ModeParams) -> list[tuple[float, str]]:
    """(seconds after go, action name) for :func:`act`."""
    return [(params.outage_s, "center_up")] if params.mode == "outage" else []


def act(ep: Endpoints, params: ModeParams, name: str) -> None:
    if name == "center_up":
        center_switch(ep, up=True)
    else:  # pragma: no cover - actions() names only these
        raise ValueError(f"unknown action {name!r}")


def restore(ep: Endpoints, params: ModeParams) -> None:
    """Center reachable and unscripted again (best effort; the world is removed anyway)."""
    try:
        center_switch(ep, up=True)
        ep.center_admin().behaviour(capacity_per_s=None, contention=False, down=False)
    except Exception:  # noqa: BLE001  (best effort: a center or proxy already gone)
        pass
