"""Agent profiles: what startle can see of an agent it did not write, declared as data.

A profile is YAML (``fixtures/profiles/<name>.yaml``, or any path). It names the agent's images,
env and config templates, how startle judges its health (an HTTP path on any port, a TCP port, a
command run with ``docker exec``, or Docker's own HEALTHCHECK), the center it talks to (routes the
built-in recording center answers, or a center image of its own), how to read its log lines
(matchers per signal: JSON / logfmt keys, or a regular expression on plain text) and its declared
retry policy. Nothing else about the agent is assumed: a scenario that needs a field the profile
does not declare is skipped with that field named (:meth:`Profile.lacks`).

Placeholders in ``env`` values and config templates: ``{node_id}``, ``{center_url}`` (the center
as the agent sees it, through Toxiproxy), ``{center_host}``, ``{center_port}``, ``{metadata_url}``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.config import PROFILES_DIR, ROOT
from harness.errors import InputError
from harness.events import SIGNALS
from harness.yamlfile import read_yaml, validate


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- health -------------------------------------------------------------------------------------
class HttpProbe(Strict):
    port: int = Field(ge=1, le=65535, description="TCP port inside the container")
    path: str = "/"
    ok_status: list[int] = Field([], description="answers that mean yes; empty: any 2xx")

    def accepts(self, status: int) -> bool:
        return status in self.ok_status if self.ok_status else 200 <= status < 300


class TcpProbe(Strict):
    port: int = Field(ge=1, le=65535, description="TCP port inside the container; open = yes")


class Probe(Strict):
    """One way to ask the agent a health question; exactly one of the four."""

    http: HttpProbe | None = None
    tcp: TcpProbe | None = None
    exec: list[str] | None = Field(None, description="argv run with `docker exec`; exit 0 = yes")
    docker: Literal["healthy"] | None = Field(None, description="Docker's HEALTHCHECK status is healthy")

    @model_validator(mode="after")
    def _one(self) -> "Probe":
        given = [k for k in ("http", "tcp", "exec", "docker") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a probe is exactly one of http, tcp, exec, docker (got {given or 'none'}); "
                             "fix: write e.g. `ready: {http: {port: 8081, path: /ready}}`")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("http", "tcp", "exec", "docker") if getattr(self, k) is not None)

    @property
    def port(self) -> int | None:
        return self.http.port if self.http else self.tcp.port if self.tcp else None

    def describe(self) -> str:
        if self.http:
            return f"GET :{self.http.port}{self.http.path}"
        if self.tcp:
            return f"tcp :{self.tcp.port}"
        if self.exec:
            return "exec " + " ".join(self.exec)
        return "docker health"


STAGES = ("startup", "ready", "live")
"""Health stages in the order an agent passes them (the seed's section 3.2)."""


class HealthSpec(Strict):
    """How startle asks each stage; a stage left out is not judged (checks that need it skip)."""

    startup: Probe | None = None
    ready: Probe | None = None
    live: Probe | None = None
    interval_s: float = Field(0.1, gt=0, le=5, description="seconds between probe rounds while a stage is not yet true")
    ready_after_registered: bool = Field(False, description="the agent promises its ready stage says no until "
                                         "it has registered with the center (judged by ready_not_before_registered)")
    ordered: list[Literal["startup", "ready", "live"]] | None = Field(
        None, description="the stages whose order the agent promises (default: every declared one, "
        "startup → ready → live); e.g. [startup, ready] for an agent alive before it is ready")

    def probes(self) -> dict[str, Probe]:
        return {s: p for s in STAGES if (p := getattr(self, s)) is not None}

    def ports(self) -> list[int]:
        """Container ports startle must reach (published on the engine's address)."""
        return sorted({p.port for p in self.probes().values() if p.port is not None})


# --- signals ------------------------------------------------------------------------------------
class Matcher(Strict):
    """When a log line is one signal: keys of the parsed line equal to values, and/or a regex.

    ``where``  parsed key → value (JSON object or logfmt pairs); all must be equal (as text).
    ``regex``  searched in the line's text; named groups become fields (``ts`` is the time).
    ``fields`` startle's field name → the line's key, for fields named otherwise by the agent.
    ``set``    constant fields of the signal (a text log that says only "cannot open config").
    ``units``  startle's field → the unit the agent writes it in, converted to the unit the field's
               name gives (``*_s`` seconds, ``*_ms`` milliseconds): ``s``, ``ms``, ``us``, ``ns``
               (numbers) or ``duration`` (Go's duration text: ``2s``, ``100ms``, ``1m30s``). A value
               that is not of that unit becomes null (never a guess).
    """

    where: dict[str, Any] = {}
    regex: str | None = None
    fields: dict[str, str] = {}
    set: dict[str, Any] = Field({}, description="fields given to every match (e.g. `check: config`)")
    units: dict[str, Literal["s", "ms", "us", "ns", "duration"]] = Field(
        {}, description="field → the unit the agent writes it in (e.g. `sleep_s: duration` for Go's `2s`)")

    @field_validator("units")
    @classmethod
    def _unit_fields(cls, value: dict[str, str]) -> dict[str, str]:
        odd = sorted(k for k in value if not k.endswith(("_s", "_ms")))
        if odd:
            raise ValueError(f"units apply to fields named *_s or *_ms, not {', '.join(odd)}; fix: name startle's "
                             "field (e.g. `fields: {sleep_s: duration}` then `units: {sleep_s: duration}`)")
        return value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc}); fix: escape special characters "
                                 "such as ( [ . with a backslash") from None
        return value

    @model_validator(mode="after")
    def _something(self) -> "Matcher":
        if not self.where and self.regex is None:
            raise ValueError("a matcher needs `where` or `regex`; fix: e.g. `where: {event: registered}` "
                             "or `regex: 'connected to (?P<server>\\S+)'`")
        return self


class TimeSpec(Strict):
    """Where an event's time comes from: a key of the line, or Docker's log timestamp."""

    key: str | None = Field(None, description="parsed key holding the time; None: Docker's timestamp")
    format: Literal["epoch", "epoch_ms", "rfc3339"] = "epoch"


class SignalSpec(Strict):
    """How to read the agent's log lines. Each declared signal (see :data:`harness.events.SIGNALS`)
    has a matcher; a line may be several signals; a line that is none is kept as ``line``."""

    format: Literal["json", "logfmt", "text"] = "json"
    time: TimeSpec = TimeSpec()
    match: dict[str, Matcher | list[Matcher]] = Field({}, description="signal → matcher, or a list of "
                                                      "matchers (a line matching any of them is the signal)")

    @field_validator("match")
    @classmethod
    def _known(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(SIGNALS))
        if unknown:
            raise ValueError(f"unknown signal(s) {', '.join(unknown)}; fix: use some of "
                             f"{', '.join(SIGNALS)}")
        return value

    def declares(self, signal: str) -> bool:
        return signal in self.match

    def matchers(self) -> list[tuple[str, Matcher]]:
        """(signal, matcher) pairs in declared order."""
        return [(name, m) for name, given in self.match.items() for m in (given if isinstance(given, list) else [given])]


# --- retry policy -------------------------------------------------------------------------------
class RetryPolicySpec(Strict):
    """The retry policy the agent declares; the retry checks and ``startle storm`` judge against it.

    Delay after failed attempt n (1-based), before jitter: ``min(cap, base · factor^(n-1))`` for the
    exponential family, ``base`` for constant. Jitter: none (that delay), full (uniform [0, d]),
    equal ([d/2, d]), decorrelated (uniform [base, 3 · previous], capped).
    """

    family: Literal["constant", "exponential"] = "exponential"
    base_ms: float = Field(gt=0)
    factor: float = Field(2.0, ge=1)
    cap_ms: float = Field(gt=0)
    jitter: Literal["full", "equal", "decorrelated", "none"] = "full"
    deadline_s: float | None = Field(120, gt=0, description="seconds of retrying before giving up; null: never")
    breaker_threshold: int | None = Field(None, ge=1, description="consecutive failures that open it")
    breaker_cooldown_s: float | None = Field(None, gt=0)
    retry_statuses: list[int] = Field([408, 429, 500, 502, 503, 504],
                                      description="HTTP answers it retries; other 4xx are final")
    honours_retry_after: bool = True

    def envelope_s(self, attempt: int) -> float:
        """Largest delay (s) allowed after failed attempt ``attempt`` (1-based), before jitter."""
        if self.family == "constant":
            return min(self.cap_ms, self.base_ms) / 1000.0
        return min(self.cap_ms, self.base_ms * self.factor ** (attempt - 1)) / 1000.0


# --- center -------------------------------------------------------------------------------------
class Route(Strict):
    """One answer of the built-in recording center (fixtures/center/API.md, "Declared routes")."""

    method: str = "*"
    path: str
    status: int = Field(200, ge=100, le=599)
    headers: dict[str, str] = {}
    body: Any = None
    content_type: str | None = None
    name: str | None = None
    node_id_header: str | None = Field(None, description="request header recorded as the node id")
    builtin: Literal["register", "heartbeat", "config", "metadata", "logs", "registry"] | None = Field(
        None, description="answer with the center's reference behaviour instead of status/body")


class OwnCenter(Strict):
    """A center image of the agent's own (an MQTT broker, a gRPC server...)."""

    image: str
    port: int = Field(ge=1, le=65535, description="the port the agent connects to")
    ready: Probe = Field(description="how startle knows the center is up (tcp/http/exec/docker)")
    env: dict[str, str] = {}
    command: list[str] | None = None


class CenterSpec(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    protocol: Literal["http", "tcp"] = "http"
    register_route: str | None = Field(None, alias="register", description="`METHOD /path` of the request that is "
                                 "a registration attempt (HTTP); None: attempts are judged on the wire")
    heartbeat: str | None = Field(None, description="`METHOD /path` of the agent's heartbeat, if it has one")
    metadata: str | None = Field(None, description="`METHOD /path` the agent reads its metadata from "
                                 "(the center serves region and zone there)")
    routes: list[Route] = []
    image: OwnCenter | None = None

    @field_validator("register_route", "heartbeat", "metadata")
    @classmethod
    def _method_path(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z*]+ /\S*", value):
            raise ValueError("write the method and the path, e.g. `POST /api/register`; fix: `register: POST /path`")
        return value

    @property
    def register(self) -> str | None:
        """`METHOD /path` of a registration attempt (YAML: ``register``)."""
        return self.register_route

    @property
    def register_method(self) -> str | None:
        return self.register_route.split(" ", 1)[0] if self.register_route else None

    @property
    def register_path(self) -> str | None:
        return self.register_route.split(" ", 1)[1] if self.register_route else None



# --- config, run, launcher --------------------------------------------------------------------
class ConfigSpec(Strict):
    """A folder of templates rendered per scenario into a fresh copy, mounted read-only."""

    source: str = Field(description="folder (relative to the profile's own folder, or absolute)")
    mount: str = "/app/config"
    file: str | None = Field(None, description="the main config file, relative to the folder: config faults act on it")
    format: Literal["json", "yaml", "toml", "ini"] | None = Field(None, description="default: from the file's suffix")
    render: bool = Field(True, description="fill {placeholders} in every text file")
    keys: dict[str, str] = Field({}, description="startle's name of a setting (registration_deadline_s, "
                                 "breaker_threshold...) → its key path in the main file (`retry.deadline_s`)")

    @property
    def file_format(self) -> str | None:
        if self.format or not self.file:
            return self.format
        suffix = Path(self.file).suffix.lower().lstrip(".")
        return {"yml": "yaml", "cfg": "ini", "conf": "ini"}.get(suffix, suffix if suffix in
                                                                   ("json", "yaml", "toml", "ini") else None)


class Knobs(Strict):
    """Environment variables the agent reads that startle may set; each one optional. A fault that
    needs an undeclared one is skipped with its name."""

    health_port: str | None = Field(None, description="the port its health server listens on (host network mode)")
    health_bind: str | None = Field(None, description="the address it binds its health server to")
    advertise_addr: str | None = Field(None, description="the HOST:PORT it tells the center to reach it at")
    config_wait_s: str | None = Field(None, description="seconds it waits for a config that is not there yet")
    region: str | None = Field(None, description="its region, when set (else it asks the metadata route)")


class RunSpec(Strict):
    """What the launcher passes to ``docker run`` (the seed's section 1)."""

    restart: str = "unless-stopped"
    cpus: float = Field(1.0, gt=0, description="cores")
    memory_mb: int = Field(512, gt=0, description="MiB")
    pids_limit: int | None = None
    user: str | None = None
    cap_drop: list[str] = ["ALL"]
    cap_add: list[str] = []
    security_opt: list[str] = ["no-new-privileges"]
    command: list[str] | None = None


class LauncherSpec(Strict):
    """The agent's own host-side startup script (the rollback family runs it as a user would).

    Called as ``[interpreter] script *args``; ``args`` may hold ``{image}`` ``{version}`` ``{name}``
    (the container name it must give the agent) ``{network}`` ``{center_url}`` ``{node_id}``
    ``{config_dir}`` ``{state_file}`` ``{ready_timeout_s}``; ``each_label`` is repeated per label
    startle needs on the agent's container (``{label}`` = KEY=VALUE: the launcher must pass them to
    ``docker run``), ``each_env`` per env variable of the profile (``{env}`` = KEY=VALUE).
    """

    script: str
    interpreter: list[str] = Field(["bash"], description="what runs the script")
    args: list[str] = []
    each_label: list[str] = ["--label", "{label}"]
    each_env: list[str] = ["--env", "{env}"]
    exit_codes: dict[str, int] = Field({"ok": 0, "rolled_back": 6},
                                       description="meaning → exit code: ok (ready), rolled_back")
    state_image_key: str | None = Field(None, description="key of its key=value state file holding the last "
                                        "known good image (None: that is not judged)")


class Profile(Strict):
    name: str
    images: dict[Literal["amd64", "arm64"], str]
    env: dict[str, str] = {}
    config: ConfigSpec | None = None
    health: HealthSpec = HealthSpec()
    run: RunSpec = RunSpec()
    signals: SignalSpec = SignalSpec()
    retry_policy: RetryPolicySpec | None = None
    retry_module: str | None = Field(None, description="the agent's retry-policy Python module (path relative "
                                     "to the profile's folder, or absolute): `startle storm` runs it when given")
    center: CenterSpec = CenterSpec()
    launcher: LauncherSpec | None = None
    hang: list[str] | None = Field(None, description="argv run with `docker exec` that makes the agent's main "
                                   "loop hang (the liveness scenario)")
    knobs: Knobs = Knobs()
    exit_codes: dict[str, int] = Field({}, description="cause → the code the agent exits with: env, "
                                       "config-missing, config-empty, config-unreadable, config-malformed, "
                                       "device, docker-socket, dns, route, threads, give-up, rejected, hung, stopped (docker stop)")
    preflight_order: list[str] | None = Field(None, description="the preflight reasons (``exit_codes`` keys) in the "
                                              "order the agent checks them: which of two failures it reports")
    path: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _order_of_declared_causes(self) -> "Profile":
        unknown = [c for c in self.preflight_order or [] if c not in self.exit_codes]
        if unknown:
            raise ValueError(f"preflight_order names {unknown}, which exit_codes does not declare; fix: "
                             "list only exit_codes keys, in the order the agent checks them")
        return self

    def resolve(self, relative: str) -> Path:
        """A path the profile names: absolute, else relative to the profile's folder when it exists
        there (a user's profile beside its agent's files), else to startle's own files (the
        built-in profiles name ``fixtures/...``)."""
        path = Path(relative)
        if path.is_absolute():
            return path
        if self.path is not None and (self.path.parent / path).exists():
            return self.path.parent / path
        if (ROOT / path).exists() or self.path is None:
            return ROOT / path
        return self.path.parent / path

    def config_source(self) -> Path | None:
        return self.resolve(self.config.source) if self.config else None

    def lacks(self, field: str) -> bool:
        """Whether the dotted ``field`` (``signals.match.region``, ``health.ready``, ``config.file``,
        ``retry_policy.breaker_threshold``...) is left undeclared."""
        node: Any = self
        for part in field.split("."):
            if node is None:
                return True
            node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
        return node is None or node == {} or node == []


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
