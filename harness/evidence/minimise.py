"""``startle reproduce --minimise``: the fewest inferred faults that still reproduce a field failure.

Delta debugging (Zeller and Hildebrandt's *ddmin*, 2002) over the faults :func:`~harness.evidence.
reproduce.infer` found: first over whole categories (the faults' families: a node's resources, its
config, its network...), then over the single faults of the categories that matter; then each
numeric limit left (memory, CPUs, pids) is bisected toward its threshold — the largest value that
still fails. The result is 1-minimal: removing any one fault left makes the failure go away.

A candidate is a list of faults. It runs ``k`` times; its outcome is FAIL when every run reproduced
the field failure, PASS when none did, UNRESOLVED when they were mixed or a run could not judge
(an error, a skip) — UNRESOLVED counts as "does not fail", as in ddmin. Outcomes are cached by
candidate (in memory, and in ``cache_path`` so a second minimisation of the same bundle reuses
them; a run that could not judge is not kept there). Up to ``jobs`` runs go at once: the ``k`` runs of a candidate, and several candidates of a
round when ``jobs`` > ``k``.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

FAIL, PASS, UNRESOLVED = "fail", "pass", "unresolved"
T = TypeVar("T")

RunOnce = Callable[[list[dict[str, Any]], str], "bool | None"]
"""One run of a candidate (its faults, a label unique to the run): True when it reproduced the field
failure, False when it did not, None when the run could not judge."""

LIMITS: dict[str, tuple[str, float]] = {"memory_limit": ("memory_mb", 1), "cpu_limit": ("cpus", 0.05),
                                        "pids_limit": ("pids", 1)}
"""Fault type → (its numeric field, where a larger value is more lenient; the finest step bisected)."""


def key_of(faults: list[dict[str, Any]]) -> str:
    """A candidate's cache key: its faults, order and all."""
    return json.dumps(faults, sort_keys=True)


@dataclass
class Minimiser:
    run_once: RunOnce
    k: int = 2
    jobs: int = 3
    cache_path: Path | None = None
    runs: int = 0
    """Runs made (cached outcomes cost none)."""
    cache: dict[str, list[bool | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cache_path is not None and self.cache_path.is_file():
            try:
                self.cache = {k: list(v) for k, v in json.loads(self.cache_path.read_text()).items()}
            except (ValueError, AttributeError):
                self.cache = {}  # a cache that does not read is rebuilt, never trusted

    # --- outcomes -------------------------------------------------------------------------------
    def outcomes(self, candidates: Sequence[list[dict[str, Any]]]) -> list[str]:
        """Each candidate's outcome; the uncached ones run ``k`` times each, up to ``jobs`` at once."""
        todo = list(dict.fromkeys(key_of(c) for c in candidates if key_of(c) not in self.cache))
        faults = {key_of(c): c for c in candidates}
        if todo:
            with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
                futures = [(key, pool.submit(self.run_once, faults[key], f"c{len(self.cache) + n}r{i}"))
                           for n, key in enumerate(todo) for i in range(self.k)]
                for key, future in futures:
                    self.cache.setdefault(key, []).append(future.result())
            self.runs += len(futures)
            if self.cache_path is not None:  # a run that could not judge is not the candidate's fault: not kept
                kept = {k: v for k, v in self.cache.items() if all(isinstance(r, bool) for r in v)}
                self.cache_path.write_text(json.dumps(kept, indent=1))
        return [self.verdict(key_of(c)) for c in candidates]

    def verdict(self, key: str) -> str:
        results = self.cache[key]
        return FAIL if all(r is True for r in results) else PASS if all(r is False for r in results) else UNRESOLVED

    def first_failing(self, candidates: list[list[dict[str, Any]]]) -> int | None:
        """The index of the first candidate that fails, trying them in batches of ``⌈jobs / k⌉``."""
        batch = max(1, math.ceil(self.jobs / self.k))
        for at in range(0, len(candidates), batch):
            for offset, outcome in enumerate(self.outcomes(candidates[at:at + batch])):
                if outcome == FAIL:
                    return at + offset
        return None

    # --- ddmin ----------------------------------------------------------------------------------
    def ddmin(self, items: list[T], faults_of: Callable[[list[T]], list[dict[str, Any]]]) -> list[T]:
        """A 1-minimal sub-list of ``items`` whose faults still fail (``items`` themselves must, and
        no items must not)."""
        n = 2
        while len(items) >= 2:
            size = math.ceil(len(items) / n)
            chunks = [items[i:i + size] for i in range(0, len(items), size)]
            complements = [[x for j, x in enumerate(items) if not i <= j < i + size]
                           for i in range(0, len(items), size)] if len(chunks) > 2 else []
            tried = chunks + complements
            hit = self.first_failing([faults_of(c) for c in tried])
            if hit is not None:
                items = tried[hit]
                n = 2 if hit < len(chunks) else max(n - 1, 2)
            elif n >= len(items):
                break
            else:
                n = min(len(items), 2 * n)
        return items

    # --- numeric limits ---------------------------------------------------------------------------
    def threshold(self, faults: list[dict[str, Any]], index: int, lenient: float | None) -> dict[str, Any]:
        """Bisect the numeric limit of ``faults[index]`` toward the largest value that still fails.
        ``lenient``: a value known not to fail (the profile's own), or None (search by doubling)."""
        kind = faults[index]["type"]
        name, step = LIMITS[kind]
        as_type = int if step >= 1 else float

        def fails(value: float) -> bool:
            trial = [dict(f) for f in faults]
            trial[index][name] = as_type(value)
            return self.first_failing([trial]) is not None

        low, high = float(faults[index][name]), lenient
        while high is None:
            probe = low * 2
            if probe > low * 64:  # far past any limit that matters: say so
                return {"fault": kind, "field": name, "node": faults[index][name], "largest_failing": low,
                        "smallest_passing": None}
            if fails(probe):
                low = probe
            else:
                high = probe
        while high - low > max(step, low * 0.05):
            middle = round((low + high) / 2, 2) if step < 1 else float(math.floor((low + high) / 2))
            if middle in (low, high):
                break
            low, high = (middle, high) if fails(middle) else (low, middle)
        return {"fault": kind, "field": name, "node": faults[index][name], "largest_failing": as_type(low),
                "smallest_passing": as_type(high)}


@dataclass
class Minimised:
    """What :func:`minimise` found."""

    faults: list[dict[str, Any]]
    irrelevant: list[dict[str, Any]]
    thresholds: list[dict[str, Any]]
    runs: int
    reproduces: bool
    """Whether the whole inferred scenario reproduced the failure in every one of its k runs
    (if not, nothing was minimised)."""


def family_of(fault: dict[str, Any]) -> str:
    from harness.faults import FAULTS
    return getattr(FAULTS.get(fault["type"]), "family", "other")


def minimise(faults: list[dict[str, Any]], minimiser: Minimiser, lenient: Callable[[str], float | None],
             bisect: bool = True) -> Minimised:
    """ddmin over categories, then single faults; then each numeric limit's threshold.
    ``lenient(fault type)``: the value of that limit known not to fail (the profile's own), or None."""
    if minimiser.first_failing([faults]) is None:
        return Minimised(faults, [], [], minimiser.runs, reproduces=False)
    if minimiser.first_failing([[]]) is not None:  # the agent fails as it is: no fault is a cause
        return Minimised([], list(faults), [], minimiser.runs, reproduces=True)
    families = list(dict.fromkeys(family_of(f) for f in faults))
    groups = [[f for f in faults if family_of(f) == family] for family in families]
    kept_groups = minimiser.ddmin(groups, lambda gs: [f for g in gs for f in g])
    singles = [f for g in kept_groups for f in g]
    minimal = minimiser.ddmin(singles, lambda fs: list(fs))
    thresholds = []
    if bisect:
        for index, fault in enumerate(minimal):
            if fault["type"] in LIMITS:
                thresholds.append(minimiser.threshold(minimal, index, lenient(fault["type"])))
    irrelevant = [f for f in faults if f not in minimal]
    return Minimised(minimal, irrelevant, thresholds, minimiser.runs, reproduces=True)
