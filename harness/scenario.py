"""Scenarios: one YAML file each under ``scenarios/``, validated into :class:`Scenario`.

Example (scenarios/center-outage.yaml)::

    name: center-outage
    family: network
    profile: reference
    deadline_s: 60              # hard stop, seconds after the agent starts
    faults:
      - type: proxy_down        # a registered fault type (harness/faults/)
        at_s: 0
        duration_s: 10
    expect:
      - type: recovers          # a registered check type (harness/checks/)
        within_s: 8

A malformed file raises :class:`~harness.errors.InputError` naming the file, the field and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from harness.checks import CHECKS, Check
from harness.config import SCENARIOS_DIR
from harness.errors import InputError
from harness.faults import FAULTS, Fault
from harness.yamlfile import read_yaml, validate

if TYPE_CHECKING:
    from harness.profile import Profile

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="lower-case, digits and dashes; also the node id suffix")
    description: str = ""
    family: str = "baseline"
    profile: str = "reference"
    arch: Literal["native", "amd64", "arm64"] = "native"
    deadline_s: float = Field(60, gt=0, description="hard stop, seconds after the agent starts")
    faults: list[FAULTS.union()] = []  # type: ignore[valid-type]
    expect: list[CHECKS.union()] = Field(min_length=1)  # type: ignore[valid-type]
    needs: list[str] = Field([], description="profile fields the scenario needs beyond its faults' and checks' "
                             "(a generated pair of two preflight failures: `preflight_order`)")
    field: dict[str, Any] | None = Field(None, description="a reproduced field failure's evidence (startle "
                                         "reproduce): bundle, signature, inferences; kept for reference, not run")
    _path: Path | None = PrivateAttr(None)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"{value!r} is not a valid name; fix: use lower-case letters, digits and dashes")
        return value

    @field_validator("faults", "expect", mode="before")
    @classmethod
    def _known_types(cls, items: Any, info) -> Any:
        registry = FAULTS if info.field_name == "faults" else CHECKS
        if not isinstance(items, list):
            return items  # pydantic names the field: "should be a valid list"
        for item in items:
            kind = item.get("type") if isinstance(item, dict) else None
            if not isinstance(kind, str) or kind not in registry:
                known = ", ".join(sorted(registry))
                raise ValueError(f"unknown {registry.what} type {kind!r}; fix: use one of the known types: {known}")
        return items

    @model_validator(mode="after")
    def _faults_inside_deadline(self) -> "Scenario":
        for fault in self.faults:
            if fault.clears_at_s is not None and fault.clears_at_s >= self.deadline_s:
                raise ValueError(f"fault {fault.type} clears at {fault.clears_at_s} s, after the "
                                 f"scenario's deadline_s {self.deadline_s}; fix: raise deadline_s or shorten the fault")
        return self

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def typed_faults(self) -> list[Fault]:
        return list(self.faults)

    @property
    def checks(self) -> list[Check]:
        return list(self.expect)

    def missing(self, profile: "Profile") -> list[str]:
        """What this scenario cannot run without and ``profile`` does not declare, each with who needs
        it: its own ``needs``, its architecture's image, its faults' fields, the promises its checks test
        (:meth:`Check.unpromised`: its other checks presume them), and its checks' fields when none of
        them can be judged (a check that cannot see the agent is otherwise skipped alone: :meth:`unjudged`)."""
        out: list[str] = [f"{field} (needed by {self.name})" for field in self.needs if profile.lacks(field)]
        if self.arch != "native" and self.arch not in profile.images:
            out.append(f"images.{self.arch} (needed by arch: {self.arch})")
        none_judged = len(self.unjudged(profile)) == len(self.checks)
        needs = [(f, f.missing(profile)) for f in self.typed_faults]
        needs += [(c, c.unpromised(profile) + (c.missing(profile) if none_judged else [])) for c in self.checks]
        for item, fields in needs:
            for field in fields:
                entry = f"{field} (needed by {item.type})"
                if entry not in out:
                    out.append(entry)
        return out

    def unjudged(self, profile: "Profile") -> dict[int, list[str]]:
        """Index of each check that cannot be judged with ``profile`` → the fields it lacks."""
        return {i: lacking for i, check in enumerate(self.checks) if (lacking := check.missing(profile))}


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate one scenario file."""
    path = Path(path)
    data = read_yaml(path)
    scenario = validate(Scenario, data, path)
    if path.stem != scenario.name:
        raise InputError(path, "name", f"name {scenario.name!r} differs from the file name {path.stem!r}",
                         f"rename the file to {scenario.name}.yaml or set name: {path.stem}")
    scenario._path = path
    return scenario


def find_scenarios(args: list[str] | None = None) -> list[Path]:
    """Scenario files named by ``args`` — files or folders (relative to the working directory), or
    names or families of the built-in scenarios; every built-in one if none."""
    builtin = sorted(SCENARIOS_DIR.glob("*.yaml"))
    if not args:
        return builtin
    found: list[Path] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found.extend(sorted(path.glob("*.yaml")))
        elif path.exists():
            found.append(path)
        elif (SCENARIOS_DIR / f"{arg}.yaml").exists():
            found.append(SCENARIOS_DIR / f"{arg}.yaml")
        elif family := [p for p in builtin if _family(p) == arg]:
            found.extend(family)
        else:
            known = ", ".join(p.stem for p in builtin)
            families = ", ".join(sorted({f for p in builtin if (f := _family(p))}))
            raise InputError(arg, "(scenario)", "no such scenario file, name or family",
                             f"use a built-in name ({known}) or family ({families})")
    return list(dict.fromkeys(found))


def _family(path: Path) -> str | None:
    """The ``family:`` line of a scenario file, read without validating it."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("family:"):
            return line.split(":", 1)[1].split("#")[0].strip()
    return None
