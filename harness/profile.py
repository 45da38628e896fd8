"""Agent profiles: how to run an agent startle did not write, and how to read its signals.

A profile is YAML under ``fixtures/profiles/``. The reference agent's profile is ``reference``.
Placeholders in ``env`` values: ``{node_id}``, ``{center_url}`` (the center as the agent sees it,
through Toxiproxy), ``{metadata_url}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.config import PROFILES_DIR, ROOT
from harness.errors import InputError
from harness.yamlfile import read_yaml, validate


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthSpec(Strict):
    port: int = Field(8081, description="TCP port of the health server inside the container")
    startup: str = "/startup"
    ready: str = "/ready"
    live: str = "/healthz"


class ConfigSpec(Strict):
    source: str = Field(description="folder (relative to the project) copied into a fresh dir and mounted")
    mount: str = "/app/config"


class RunSpec(Strict):
    """What the launcher passes to ``docker run`` (the seed's section 1)."""

    restart: str = "unless-stopped"
    cpus: float = Field(1.0, gt=0, description="cores")
    memory_mb: int = Field(512, gt=0, description="MiB")
    pids_limit: int | None = None
    user: str | None = "1000:1000"
    cap_drop: list[str] = ["ALL"]
    cap_add: list[str] = []
    security_opt: list[str] = ["no-new-privileges"]


class SignalSpec(Strict):
    """How to read the agent's JSON log lines."""

    event_key: str = "event"
    time_key: str = "ts"
    attempt: str = "register_attempt"
    registered: str = "registered"
    stage_event: str = "stage"
    stage_field: str = "stage"
    preflight_fail: str = "preflight_fail"
    stages: list[str] = ["startup", "ready", "live"]


class RetryPolicySpec(Strict):
    """The retry policy the agent declares; the retry-schedule checks judge against it."""

    base_ms: float = Field(gt=0)
    factor: float = Field(2.0, ge=1)
    cap_ms: float = Field(gt=0)
    jitter: Literal["full", "equal", "decorrelated", "none"] = "full"
    deadline_s: float = Field(120, gt=0)
    breaker_threshold: int | None = Field(None, ge=1, description="consecutive failures that open it")
    breaker_cooldown_s: float | None = Field(None, gt=0)

    def envelope_s(self, attempt: int) -> float:
        """Largest delay (s) allowed after failed attempt ``attempt`` (1-based), before jitter."""
        return min(self.cap_ms, self.base_ms * self.factor ** (attempt - 1)) / 1000.0


class CenterSpec(Strict):
    register_path: str = "/v1/register"


class Profile(Strict):
    name: str
    images: dict[Literal["amd64", "arm64"], str]
    env: dict[str, str] = {}
    config: ConfigSpec | None = None
    health: HealthSpec = HealthSpec()
    run: RunSpec = RunSpec()
    signals: SignalSpec = SignalSpec()
    retry_policy: RetryPolicySpec
    retry_module: str = Field("fixtures/agent/retry.py",
                              description="the agent's retry-policy module (path relative to the project, or "
                              "absolute): RetryPolicy, and CircuitBreaker if it has one; `startle storm` runs it")
    center: CenterSpec = CenterSpec()
    path: Path | None = Field(None, exclude=True)

    def config_source(self) -> Path | None:
        return (ROOT / self.config.source) if self.config else None


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile by name (``reference``) or by path to its YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        raise InputError(path, "profile", "no such profile", f"use one of: {known}")
    profile = validate(Profile, read_yaml(path), path)
    profile.path = path
    return profile
