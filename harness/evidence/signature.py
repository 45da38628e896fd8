"""A field failure's signature, and how a run here is held against it (docs/capture.md, "The
failure signature").

Judged: the exit code, whether the kernel's OOM killer ended the agent, the restart-count band
(none / a few / a loop) and — when the profile lets startle read them on both sides — the agent's
last diagnosis (same check, same cause, matched loosely), whether it registered and whether it was
ever ready (startle's probes here, Docker's HEALTHCHECK on the node, the agent's own word only when
nothing else can tell). Shown beside them, not judged: the exact restart count, Docker's health status and the
lifetime. :func:`judge`: REPRODUCED (every judged field equal), PARTIAL, NOT REPRODUCED.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REPRODUCED, PARTIAL, NOT_REPRODUCED = "REPRODUCED", "PARTIAL", "NOT REPRODUCED"
JUDGED = ("exit_code", "oom_killed", "restarts", "diagnosis", "registered", "ready")
KNOWN_OR_NOT = ("diagnosis", "registered", "ready")
"""Judged in this order; those of KNOWN_OR_NOT only when known on both sides."""


@dataclass
class Signature:
    """How the agent failed: its last exit code, an OOM kill, restarts, Docker's health status, its
    last diagnosis (``check: cause``, ``""`` when it gave none) and whether it registered (None:
    not known: the profile declares no signal for it)."""

    exit_code: int | None = None
    oom_killed: bool = False
    restart_count: int = 0
    health: str | None = None
    lived_s: float | None = None
    """Seconds from the container's (last) start to its exit: how long a scenario must last."""
    diagnosis: str | None = None
    registered: bool | None = None
    ready: bool | None = None
    """Ever ready: the profile's ``ready`` signal, or Docker's HEALTHCHECK said healthy (None: neither
    can tell)."""

    @property
    def failed(self) -> bool:
        return self.oom_killed or (self.exit_code is not None and self.exit_code != 0)

    @property
    def restarts(self) -> str:
        """The restart count's band: ``none``, ``a few`` (1–2) or ``a loop`` (3 and more)."""
        return "none" if self.restart_count <= 0 else "a few" if self.restart_count < 3 else "a loop"


DIAGNOSIS_SIGNALS = ("preflight_fail", "preflight_line")
"""The signals that carry an agent's diagnosis (``check``, ``cause``): its event, or its text line."""


def diagnosis_of(said: list[tuple[str, dict]], profile) -> str | None:
    """``check: cause`` of the agent's last diagnosis signal; ``""`` when it gave none, None
    when its profile declares no such signal (nothing can be known)."""
    fails = [fields for kind, fields in said if kind in DIAGNOSIS_SIGNALS]
    if not fails:
        return "" if any(profile.signals.declares(name) for name in DIAGNOSIS_SIGNALS) else None
    return f"{fails[-1].get('check') or '?'}: {fails[-1].get('cause') or fails[-1].get('line') or '?'}"


def registered_of(kinds: list[str], profile) -> bool | None:
    """Whether the agent said it registered; None when its profile declares no ``registered`` signal."""
    if "registered" in kinds:
        return True
    return False if profile.signals.declares("registered") else None


def ready_of(kinds: list[str], docker_actions: list[str], profile, healthcheck: bool,
             probed: bool | None = None) -> bool | None:
    """Whether the agent was ever ready, from the best evidence there is, never its claim when
    there is more: startle's own probes (``probed``: a run here, the profile declares
    ``health.ready``), else Docker's HEALTHCHECK (``health_status: healthy``), else the agent's
    ``ready`` log signal; None when none of them can tell."""
    if probed is not None:
        return probed
    if healthcheck or any(a.startswith("health_status") for a in docker_actions):
        return any(a.startswith("health_status") and a.endswith(": healthy") for a in docker_actions)
    return ("ready" in kinds) if profile.signals.declares("ready") else None


def same_diagnosis(field_line: str | None, here_line: str | None) -> bool:
    """Same check, same cause — loosely: case, numbers, paths, host names and parenthesised detail
    may differ (``dns center.example: name does not resolve (…)`` ≈ ``dns toxiproxy: name does not
    resolve``)."""
    def loose(line: str) -> tuple[str, str]:
        check, _, cause = line.partition(":")
        cause = re.sub(r"\(.*?\)|\S*[/\\]\S*|\d+", " ", cause.lower())
        return check.strip().lower(), " ".join(cause.split())
    return field_line is not None and here_line is not None and loose(field_line) == loose(here_line)


def here_signature(result, profile) -> Signature:
    """The signature of a scenario run here, from its journal (the agent's last state, and its
    log's signals as the scenario's timeline holds them)."""
    agent = result.agent or {}
    mine = [e for e in result.timeline if e.get("container") == "agent"]
    ooms = [e for e in mine if e.get("kind") == "oom"]
    starts = [e["t"] for e in mine if e.get("kind") == "start"]
    died = [e for e in mine if e.get("kind") == "die"]
    dies = [e["t"] for e in died]
    code = agent.get("exit_code")
    if agent.get("status") in ("running", "restarting") and died:  # up again now: its last death tells,
        code = (died[-1].get("fields") or {}).get("exit_code", code)  # as on the node (field_signature)
    said = [(e.get("kind"), e.get("fields") or {}) for e in mine if e.get("source") == "agent"]
    healthy = [str(e.get("kind")) for e in mine if e.get("source") == "docker"]
    healthcheck = any(k.startswith("health_status") for k in healthy) or bool(agent.get("health"))
    from harness.view import View
    probed = (View.of_journal(result.timeline, result.profile_spec, profile.name).stage_ok("ready") is not None
              if profile.health.ready is not None else None)
    return Signature(exit_code=code, oom_killed=bool(agent.get("oom_killed")) or bool(ooms),
                     restart_count=int(agent.get("restart_count") or 0), health=agent.get("health"),
                     lived_s=round(dies[0] - starts[0], 2) if starts and dies and dies[0] >= starts[0] else None,
                     diagnosis=diagnosis_of(said, profile), registered=registered_of([k for k, _ in said], profile),
                     ready=ready_of([k for k, _ in said], healthy, profile, healthcheck, probed=probed))


def judge(field_sig: Signature, here: Signature) -> tuple[str, list[str]]:
    """The verdict and one line per judged field that differs. PARTIAL: the agent failed here with
    the field's exit code and OOM kill, but another judged field differs; NOT REPRODUCED: it did not
    fail here, or failed another way (another exit code, or an OOM kill on one side only)."""
    differ: dict[str, str] = {}
    for name in JUDGED:
        theirs, ours = getattr(field_sig, name), getattr(here, name)
        if name in KNOWN_OR_NOT and (theirs is None or ours is None):
            continue  # not known on one side: not judged (shown)
        if not (same_diagnosis(theirs, ours) if name == "diagnosis" else theirs == ours):
            differ[name] = f"{name}: field {theirs!r}, here {ours!r}"
    if not differ:
        return REPRODUCED, []
    if not here.failed:
        return NOT_REPRODUCED, [*differ.values(), "the agent did not fail here"]
    core_differs = "exit_code" in differ or "oom_killed" in differ
    return (NOT_REPRODUCED if core_differs else PARTIAL), list(differ.values())


def side_by_side(field_sig: Signature, here: Signature) -> str:
    """The two signatures in columns; the judged rows first."""
    def cell(sig: Signature, name: str) -> str:
        value = getattr(sig, name)
        return f"{sig.restarts} ({sig.restart_count})" if name == "restarts" else "none said" if value == "" \
            else "unknown" if value is None and name in KNOWN_OR_NOT else str(value)
    names = [*JUDGED, "health", "lived_s"]
    width = max(14, *(len(cell(sig, n)) for sig in (field_sig, here) for n in names))
    rows = [f"{'':<12} {'field':<{width}} {'here':<{width}}"]
    for name in names:
        mark = "" if name in JUDGED[:3] else "  (shown, not judged)" if name not in JUDGED else \
            ("" if getattr(field_sig, name) is not None and getattr(here, name) is not None else "  (not known on both sides)")
        rows.append(f"{name:<12} {cell(field_sig, name):<{width}} {cell(here, name):<{width}}{mark}".rstrip())
    return "\n".join(rows)
