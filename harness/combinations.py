"""Pairwise combinations of fault families, generated from member scenarios (never hand-copied).

``scenarios/combinations/pairs.yaml`` names one member scenario per family. Every pair of members
from different families becomes a scenario ``<a>-x-<b>`` with both members' faults, and an
expected outcome given by one rule:

* a member *fails at startup* when it expects ``exits`` for a preflight reason. If one member
  fails, the pair fails the way it fails — its ``exits``, ``diagnosis`` and ``never_ready`` checks.
  If both fail, the one the agent's preflight reaches first decides: the profile's declared
  ``preflight_order``; a profile that declares none skips such a pair, naming the field (which of
  two failures an agent reports first is its own design, never guessed);
* otherwise both faults are survivable and the pair must still come up: ``registered`` and
  ``ready`` within the sum of the members' bounds (each fault may cost the agent its own delay).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.config import SCENARIOS_DIR
from harness.errors import InputError
from harness.scenario import Scenario, load_scenario
from harness.yamlfile import read_yaml, validate

PAIRS_FILE = SCENARIOS_DIR / "combinations" / "pairs.yaml"
PREFLIGHT_REASONS = ("env", "config-missing", "config-empty", "config-unreadable", "config-malformed", "device",
                     "docker-socket", "dns", "route", "threads")
"""The reasons a preflight check fails for (a profile's ``exit_codes`` keys); not an order."""
FAILURE_CHECKS = ("exits", "diagnosis", "never_ready")


class PairsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: list[str] = Field(min_length=2, description="scenario names, at most one per family")
    exclusive: list[list[str]] = Field([], description="family pairs that cannot co-occur")


def startup_failure(scenario: Scenario) -> str | None:
    """The preflight reason a member expects the agent to exit for, or None when it expects it
    to come up."""
    for check in scenario.checks:
        if check.type == "exits" and getattr(check, "reason", None) in PREFLIGHT_REASONS:
            return check.reason
    return None


def bound(scenario: Scenario, check_type: str) -> float:
    """The member's ``within_s`` for ``check_type`` (its deadline when it has no such check)."""
    for check in scenario.checks:
        if check.type == check_type and getattr(check, "within_s", None):
            return float(check.within_s)
    return scenario.deadline_s


def combine(a: Scenario, b: Scenario, order: list[str] | None = None) -> Scenario:
    """The pair scenario of two members, with the expected outcome from the rule above; ``order``:
    the profile's ``preflight_order`` (None: undeclared)."""
    failing = [(reason, member) for member in (a, b) if (reason := startup_failure(member)) is not None]
    needs: list[str] = []
    if len(failing) == 2 and not (order and all(reason in order for reason, _ in failing)):
        needs = ["preflight_order"]  # which failure comes first is the agent's: skipped, never guessed
        failing = failing[:1]
    if failing:
        _, decisive = min(failing, key=lambda pair: order.index(pair[0]) if len(failing) == 2 else 0)
        expect = [c.model_dump() for c in decisive.checks if c.type in FAILURE_CHECKS]
        rule = f"fails as {decisive.name}" + (" (preflight reaches it first)" if len(failing) == 2 else "")
    else:
        expect = [{"type": "registered", "within_s": bound(a, "registered") + bound(b, "registered")},
                  {"type": "ready", "within_s": bound(a, "ready") + bound(b, "ready")}]
        rule = "both survivable: registers and becomes ready within the sum of the bounds"
    data: dict[str, Any] = {
        "name": f"{a.name}-x-{b.name}"[:63].rstrip("-"),
        "description": f"{a.name} + {b.name}; expected: {rule}",
        "family": "combination",
        "profile": a.profile,
        "deadline_s": a.deadline_s + b.deadline_s,
        "faults": [f.model_dump(exclude_none=True) for f in (*a.typed_faults, *b.typed_faults)],
        "expect": expect,
        "needs": needs,
    }
    return Scenario.model_validate(data)


def generate(path: Path = PAIRS_FILE, order: list[str] | None = None) -> list[Scenario]:
    """Every cross-family pair of the members named in ``path``; ``order``: the profile's
    ``preflight_order``."""
    spec = validate(PairsSpec, read_yaml(path), path)
    members = [load_scenario(SCENARIOS_DIR / f"{name}.yaml") for name in spec.members]
    families = [m.family for m in members]
    if len(set(families)) != len(families):
        raise InputError(path, "members", f"two members share a family ({families})",
                         "name one member scenario per family")
    excluded = {frozenset(pair) for pair in spec.exclusive}
    return [combine(a, b, order) for a, b in combinations(members, 2)
            if frozenset((a.family, b.family)) not in excluded]
