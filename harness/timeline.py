"""The timeline: every event seen during one scenario, in one place.

Sources write into it from their own threads (Docker events, the agent's log lines, the center's
request log, fault actions, probes); the run loop waits on it. Every verdict is computed from it,
so a verdict can always be explained by pointing at events.

Times are Unix seconds (float) taken from the source itself: Docker's ``timeNano``, the agent's
``ts`` field, the center's record ``ts``. All containers share the host's clock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable


@dataclass(frozen=True)
class Event:
    """One thing that happened.

    source: ``docker``, ``agent``, ``center``, ``fault``, ``probe`` or ``harness``.
    kind: what happened, in the source's own words (``die``, ``attempt``, ``request``...; agent signals per harness/events.py).
    t: Unix time in seconds.
    container: the role of the container it concerns (``agent``, ``center``...), or "".
    fields: the rest, as the source gave it (JSON-serialisable).
    """

    source: str
    kind: str
    t: float
    container: str = ""
    fields: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Timeline:
    """A thread-safe, append-only list of events with a wait-until primitive.

    Invariant: ``events()`` returns events in arrival order; ``sorted_events()`` in time order.
    After :meth:`close` nothing more is added (a collector's thread that is still finishing its
    last read cannot change a scenario's record once it is written).
    """

    def __init__(self, start: float | None = None) -> None:
        self.start = time.time() if start is None else start
        self._events: list[Event] = []
        self._cond = threading.Condition()  # re-entrant: predicates may read the timeline
        self._subscribers: list[Callable[[Event], None]] = []
        self.closed = False

    def close(self) -> None:
        """No event is added after this (they are dropped)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def add(self, event: Event) -> None:
        with self._cond:
            if self.closed:
                return
            self._events.append(event)
            self._cond.notify_all()
        for subscriber in list(self._subscribers):
            subscriber(event)

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` after each added event, in the adding thread."""
        self._subscribers.append(callback)

    def __len__(self) -> int:
        with self._cond:
            return len(self._events)

    def record(self, source: str, kind: str, container: str = "", t: float | None = None,
               **fields: Any) -> Event:
        """Add an event stamped now (or at ``t``) and return it."""
        event = Event(source, kind, time.time() if t is None else t, container, fields)
        self.add(event)
        return event

    def events(self) -> list[Event]:
        with self._cond:
            return list(self._events)

    def sorted_events(self) -> list[Event]:
        return sorted(self.events(), key=lambda e: e.t)

    def select(self, source: str | None = None, kind: str | None = None,
               where: Callable[[Event], bool] | None = None) -> list[Event]:
        """Events matching source, kind and a predicate, in time order."""
        return [e for e in self.sorted_events()
                if (source is None or e.source == source)
                and (kind is None or e.kind == kind)
                and (where is None or where(e))]

    def first(self, source: str | None = None, kind: str | None = None,
              where: Callable[[Event], bool] | None = None) -> Event | None:
        found = self.select(source, kind, where)
        return found[0] if found else None

    def wait(self, until: Callable[[], bool], deadline: float) -> bool:
        """Block until ``until()`` is true or the Unix time ``deadline`` passes.

        ``until`` is re-evaluated whenever an event arrives; returns its final value.
        """
        with self._cond:
            while True:
                if until():
                    return True
                remaining = deadline - time.time()
                if remaining <= 0:
                    return False
                self._cond.wait(timeout=None if remaining == float("inf") else remaining)

    def wake(self) -> None:
        """Wake waiters without adding an event (e.g. after a scheduled action)."""
        with self._cond:
            self._cond.notify_all()

    def to_records(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.sorted_events()]

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], start: float | None = None) -> "Timeline":
        timeline = cls(start=start)
        for r in records:
            timeline.add(Event(r["source"], r["kind"], float(r["t"]), r.get("container", ""),
                               dict(r.get("fields", {}))))
        return timeline
