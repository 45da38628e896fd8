"""The resilience score: a weighted pass rate, 0–100, with its per-family breakdown.

score = 100 × Σ w(family)·passed / Σ w(family)·judged, judged = pass + fail + error. Skipped
scenarios are not judged (the host or the profile could not run them, or none of their checks
could be judged) and are listed. A check that could not be judged counts neither way: a scenario's
status comes from the checks that were (harness/checks/base.py ``overall``). Weights per family come
from ``weights.yaml`` (this folder) or a file given with ``--weights``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from harness.yamlfile import read_yaml, validate

DEFAULT_WEIGHTS = Path(__file__).with_name("weights.yaml")


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: float = Field(1.0, ge=0, description="weight of a family not listed")
    families: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict, description="family name → weight (≥ 0)")

    def of(self, family: str) -> float:
        return self.families.get(family, self.default)


def load_weights(path: Path | str | None = None) -> Weights:
    path = Path(path) if path else DEFAULT_WEIGHTS
    return validate(Weights, read_yaml(path), path)


@dataclass
class Score:
    value: float | None
    """0–100, one decimal; None when nothing was judged."""
    families: pd.DataFrame
    """index family; columns weight, passed, judged, skipped, pass_rate (0–1)."""

    def line(self) -> str:
        if self.value is None:
            return "resilience score: n/a (nothing judged)"
        return f"resilience score: {self.value:.1f} / 100"


def resilience_score(figures: pd.DataFrame, weights: Weights) -> Score:
    """The score of one run from :func:`~harness.reports.tables.scenario_figures`."""
    status = figures["status"]
    table = pd.DataFrame({"family": figures["family"], "passed": status.eq("pass"),
                          "judged": status.isin(["pass", "fail", "error"]), "skipped": status.eq("skip")})
    families = table.groupby("family").sum().astype(int)
    families.insert(0, "weight", [weights.of(f) for f in families.index])
    families["pass_rate"] = (families["passed"] / families["judged"].where(families["judged"] > 0)).round(3)
    total = (families["weight"] * families["judged"]).sum()
    value = None if total == 0 else round(100 * (families["weight"] * families["passed"]).sum() / total, 1)
    return Score(value, families)
