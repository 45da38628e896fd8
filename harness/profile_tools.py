"""``startle profile init`` and ``startle profile check``: from an image to a profile that is true.

* :func:`draft` writes a profile from what an image says about itself (``docker image inspect``):
  architecture, exposed ports, HEALTHCHECK, entrypoint and command, env names, user — with a
  ``TODO`` for everything only its authors know (log signals, center, retry policy, exit codes).
* :func:`check` runs the agent once against the center with no fault and reports, per declared
  signal, health stage and center route, whether it was actually seen — so a profile is never
  trusted on its word.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.profile import STAGES, Profile

ARCHES = {"amd64": "amd64", "x86_64": "amd64", "arm64": "arm64", "aarch64": "arm64"}


def draft(image: str, attrs: dict[str, Any]) -> str:
    """A profile's YAML for ``image`` (its ``docker image inspect`` attributes), with TODOs."""
    config = attrs.get("Config") or {}
    arch = ARCHES.get(str(attrs.get("Architecture")), str(attrs.get("Architecture")))
    ports = sorted(int(p.split("/")[0]) for p in (config.get("ExposedPorts") or {}) if p.endswith("/tcp"))
    test = (config.get("Healthcheck") or {}).get("Test") or []
    has_healthcheck = bool(test) and test != ["NONE"]
    env_names = [e.split("=", 1)[0] for e in config.get("Env") or [] if not e.startswith("PATH=")]
    user = config.get("User") or ""
    name = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0] or "agent"
    if has_healthcheck:
        ready, why = {"docker": "healthy"}, "the image's HEALTHCHECK (" + " ".join(test[1:])[:60] + ")"
    elif ports:
        ready, why = {"tcp": {"port": ports[0]}}, f"port {ports[0]} opens (TODO: an HTTP ready path is better)"
    else:
        ready, why = None, "TODO: the image declares no HEALTHCHECK and no port"
    doc: dict[str, Any] = {
        "name": name,
        "images": {arch: image},
        "env": {},
        "health": {"ready": ready} if ready else {},
        "run": {"restart": "unless-stopped", "cpus": 1.0, "memory_mb": 512, "user": user or None,
                "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"]},
        "signals": {"format": "TODO json | logfmt | text", "match": {}},
        "center": {"protocol": "TODO http | tcp", "register": "TODO METHOD /path of a registration (http)"},
        "exit_codes": {},
    }
    lines = [f"# Drafted by `startle profile init --image {image}` from what the image says about itself.",
             f"# Architecture {arch}; exposed ports {ports or 'none'}; HEALTHCHECK {'yes' if has_healthcheck else 'no'};",
             f"# entrypoint {config.get('Entrypoint')} command {config.get('Cmd')}; user {user or 'root (TODO: run non-root)'}.",
             f"# ready: {why}.",
             "# Replace every TODO (docs/profiles.md says what each field means), then run",
             "# `startle profile check THIS_FILE` to see which declarations the agent really honours.",
             "# TODO signals.match: a matcher per signal the agent logs (attempt, registered, ready, preflight_fail,",
             "#   give_up...), e.g. `attempt: {regex: 'connecting to (?P<server>\\S+)'}`.",
             "# TODO retry_policy: its declared schedule as data (family, jitter, base_ms, factor, cap_ms, deadline_s).",
             "# TODO exit_codes: what it exits with per cause (config-missing, config-malformed, ...).",
             "# TODO config: {source: its config folder (templates), mount: where it reads it, file: the main file}."]
    env_note = ["# TODO env: the variables the agent reads, e.g. `CENTER_URL: \"{center_url}\"` (placeholders "
                "{node_id} {center_url} {center_host} {center_port}); the image already sets "
                + (", ".join(env_names) if env_names else "none") + " (kept unless set here)."]
    return "\n".join(lines + env_note) + "\n" + yaml.safe_dump(
        {k: v for k, v in doc.items() if v not in ({}, None) or k in ("signals", "center", "env")},
        sort_keys=False, width=110)


@dataclass
class Seen:
    """One declaration and what a fault-free run showed of it."""

    what: str
    declared: str
    seen: str
    ok: bool | None  # None: not expected without a fault

    def line(self) -> str:
        mark = {True: "SEEN ", False: "NEVER", None: "  -  "}[self.ok]
        return f"{mark} {self.what:<28} {self.declared:<44} {self.seen}"


ONLY_UNDER_FAULTS = {"attempt_result", "rejected", "backoff", "breaker", "give_up", "preflight_fail",
                     "preflight_line", "preflight_warn", "config_wait", "hang", "watchdog", "shutdown"}
"""Signals a healthy start does not give: their absence in a fault-free run says nothing."""


def observations(profile: Profile, records: list[dict[str, Any]], agent_started: float | None) -> list[Seen]:
    """What a fault-free run (its timeline records) showed of each of ``profile``'s declarations."""
    from harness.view import View
    view = View.of_journal(records, profile.model_dump(mode="json", by_alias=True), profile.name)
    zero = agent_started or view.timeline.start
    out: list[Seen] = []
    for name, matcher in profile.signals.matchers():
        events = view.signal(name)
        shown = matcher.regex or ", ".join(f"{k}={v}" for k, v in matcher.where.items())
        seen = f"{len(events)} × (first at {events[0].t - zero:.2f} s)" if events else "not seen"
        out.append(Seen(f"signal {name}", shown[:44], seen, True if events else None if name in ONLY_UNDER_FAULTS
                        else False))
    for stage in STAGES:
        probe = getattr(profile.health, stage)
        if probe is None:
            out.append(Seen(f"health {stage}", "(not declared: not judged)", "", None))
            continue
        ok = view.stage_ok(stage)
        last = (view.probes(stage) or [None])[-1]
        out.append(Seen(f"health {stage}", probe.describe(), f"yes at {ok.t - zero:.2f} s" if ok else
                        f"never yes (last: {last.get('detail') if last else 'no answer'})", ok is not None))
    routes = [("register", profile.center.register), ("heartbeat", profile.center.heartbeat),
              ("metadata", profile.center.metadata)]
    for label, route in routes:
        if route:
            method, path = route.split(" ", 1)
            hits = [e for e in view.center_requests(path) if method in ("*", e.get("method"))]
            statuses = sorted({str(e.get("status")) for e in hits})
            out.append(Seen(f"center {label}", route, f"{len(hits)} request(s), status {'/'.join(statuses)}"
                            if hits else "never requested", bool(hits)))
    for route in profile.center.routes:
        hits = [e for e in view.center_requests(None) if e.get("route") in (route.name, route.path)]
        out.append(Seen(f"route {route.name or route.path}", f"{route.method} {route.path} → {route.status}",
                        f"{len(hits)} request(s)" if hits else "never requested", bool(hits)))
    found = view.attempts()
    out.append(Seen("attempts", f"source: {found.describe()}", f"{len(found)} attempt(s), "
                    f"{len(found.successes())} successful", bool(found.successes())))
    wire = view.wire()
    out.append(Seen("wire", "TCP connections toward the center", f"{len(wire)} connection(s)" if wire else
                    "none seen (not on the scenario network, or not root)", None if not wire else True))
    return out


def check(profile: Profile, deadline_s: float = 30.0, image: str | None = None) -> tuple[list[Seen], dict[str, Any]]:
    """Run the agent once with no fault (``deadline_s``; ``image``: instead of the profile's) and read
    what it showed of ``profile``."""
    from harness.lifecycle import run_scenario
    from harness.runtime import Run
    from harness.scenario import Scenario
    expect: list[dict[str, Any]] = [{"type": "registered", "within_s": deadline_s - 5}]
    if profile.health.ready is not None:
        expect.append({"type": "ready", "within_s": deadline_s - 5})
    scenario = Scenario.model_validate({"name": "profile-check", "family": "baseline", "profile": profile.name,
                                        "deadline_s": deadline_s, "expect": expect,
                                        "description": "startle profile check: no fault"})
    started = time.time()
    result = run_scenario(scenario, Run(), profile=profile, image=image)
    summary = {"status": result.status, "error": result.error, "wall_s": round(time.time() - started, 1),
               "verdicts": [f"{v['check']}: {v['status']} — {v['message']}" for v in result.verdicts]}
    return observations(profile, result.timeline, result.agent_started), summary


def write_draft(path: Path, text: str) -> None:
    """Write a drafted profile, never over an existing file (no work is lost)."""
    from harness.errors import InputError
    if path.exists():
        raise InputError(path, "(file)", "already exists", "choose another --out path, or remove the file first")
    path.write_text(text)


STARTER_PROFILE = """\
# A starter profile (`startle init`): fill in your agent, then `startle profile check THIS_FILE`.
# Every field: startle's docs/profiles.md. Or draft one from your image: `startle profile init --image IMG`.
name: my-agent
images:
  amd64: my-agent:latest              # TODO your image (built or loaded locally)
env:
  CENTER_URL: "{center_url}"          # TODO the variables your agent reads; startle fills the placeholders
  NODE_ID: "{node_id}"
health:
  ready: {http: {port: 8080, path: /ready}}   # TODO or {tcp: {port: N}}, {exec: [cmd]}, {docker: healthy}
signals:
  format: json                        # TODO json | logfmt | text
  time: {key: ts, format: rfc3339}
  match:
    attempt: {where: {msg: connecting}}       # TODO a matcher per signal your agent logs
    registered: {where: {msg: connected}}
retry_policy:                         # TODO the schedule your agent promises
  family: exponential
  jitter: full
  base_ms: 500
  factor: 2.0
  cap_ms: 30000
  deadline_s: null
center:
  protocol: http                      # http: the built-in recording center answers `routes`; tcp: your own center image
  register: POST /api/enroll          # TODO the request that is a registration attempt
  routes:
    - {method: POST, path: /api/enroll, status: 200, body: {ok: true}}
exit_codes: {}                        # TODO e.g. {config-missing: 2, config-malformed: 2}
"""
