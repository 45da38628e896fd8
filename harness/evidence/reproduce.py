"""From a field node's evidence to a scenario that makes the same failure happen here (issue 12).

:func:`infer` maps what the bundle shows to startle's own faults (the table in docs/capture.md,
"From evidence to faults"), and names what it cannot reproduce rather than guessing;
:func:`field_signature` reads the failure to reproduce; :func:`scenario_for` writes them as an
ordinary scenario (the field signature kept in it); :func:`judge` holds the signature of a run
here against the field's: REPRODUCED (every judged field equal), PARTIAL, NOT REPRODUCED.

Judged: the exit code and whether the kernel's OOM killer ended the agent. Shown beside them,
not judged (a scenario's deadline and the profile's restart policy decide them here): the
restart count and the health status.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InputError

MIB = 1024 * 1024
REPRODUCED, PARTIAL, NOT_REPRODUCED = "REPRODUCED", "PARTIAL", "NOT REPRODUCED"
JUDGED = ("exit_code", "oom_killed")


@dataclass
class Signature:
    """How the agent failed: its last exit code, an OOM kill, restarts, Docker's health status."""

    exit_code: int | None = None
    oom_killed: bool = False
    restart_count: int = 0
    health: str | None = None
    lived_s: float | None = None
    """Seconds from the container's (last) start to its exit: how long a scenario must last."""

    @property
    def failed(self) -> bool:
        return self.oom_killed or (self.exit_code is not None and self.exit_code != 0)


@dataclass
class Inference:
    """What :func:`infer` found: the faults (scenario-file dicts), why each, and what it cannot cause."""

    faults: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    cannot: list[str] = field(default_factory=list)
    arch: str = "native"

    def add(self, fault: dict[str, Any], why: str) -> None:
        self.faults.append(fault)
        self.reasons.append(f"{fault['type']}: {why}")


def _json(files: dict[str, str], name: str, source: Path | str) -> Any:
    try:
        data = json.loads(files[name])
    except (KeyError, ValueError):
        raise InputError(source, name, "missing or not JSON", "capture the bundle again (startle capture)") from None
    return data[0] if isinstance(data, list) and data else data


def _host(files: dict[str, str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in files.get("host.txt", "").splitlines() if "=" in line)


ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def field_signature(files: dict[str, str], source: Path | str = "bundle") -> Signature:
    """The failure the bundle shows (the container's state, and the engine's events)."""
    container = _json(files, "container.json", source)
    state = container.get("State") or {}
    events = [json.loads(line) for line in files.get("events.jsonl", "").splitlines() if line.strip()]
    dies = [e for e in events if e.get("Action") == "die"]
    code = state.get("ExitCode")
    if state.get("Running") and dies:  # restarting now: its last death tells
        code = int(dies[-1].get("Actor", {}).get("Attributes", {}).get("exitCode", code))
    oom = bool(state.get("OOMKilled")) or any(e.get("Action") == "oom" for e in events)
    return Signature(exit_code=code, oom_killed=oom, restart_count=int(container.get("RestartCount") or 0),
                     health=(state.get("Health") or {}).get("Status"), lived_s=_lived(state))


def _lived(state: dict) -> float | None:
    from datetime import datetime
    try:
        started, finished = (datetime.fromisoformat(str(state[k])[:26].rstrip("Z") + "+00:00")
                             for k in ("StartedAt", "FinishedAt"))
    except (KeyError, ValueError):
        return None
    lived = (finished - started).total_seconds()
    return round(lived, 2) if lived >= 0 else None


def infer(files: dict[str, str], profile, source: Path | str = "bundle") -> Inference:
    """The faults that recreate the node's conditions for ``profile``'s agent (see module docstring)."""
    container, image = _json(files, "container.json", source), _json(files, "image.json", source)
    host, config = container.get("HostConfig") or {}, container.get("Config") or {}
    found = Inference()
    mount = profile.config.mount if profile.config is not None else None
    if mount:
        binds = {m.get("Destination"): m for m in container.get("Mounts") or []}
        sources = dict(line.split("\t", 1) for line in files.get("mounts.tsv", "").splitlines() if "\t" in line)
        held = binds.get(mount)
        if held is None:
            found.add({"type": "config_mount", "state": "missing"}, f"nothing is mounted at {mount}")
        elif sources.get(held.get("Source")) == "missing":
            found.add({"type": "config_mount", "state": "missing"}, f"{held.get('Source')} is missing on the node")
        elif held.get("Source") in sources:
            kind, _size, mode, _uid, _gid = (sources[held["Source"]].split("\t") + [""] * 5)[:5]
            if mode.isdigit() and not int(mode, 8) & 0o004:
                found.add({"type": "config_mount", "state": "unreadable"},
                          f"{held['Source']} ({kind}, mode {mode}) is not readable by others")
    if host.get("Memory"):
        found.add({"type": "memory_limit", "memory_mb": max(5, int(host["Memory"]) // MIB)},
                  f"--memory {int(host['Memory']) // MIB} MiB")
    if host.get("NanoCpus"):
        found.add({"type": "cpu_limit", "cpus": host["NanoCpus"] / 1e9}, f"--cpus {host['NanoCpus'] / 1e9:g}")
    if host.get("PidsLimit"):
        found.add({"type": "pids_limit", "pids": int(host["PidsLimit"])}, f"--pids-limit {host['PidsLimit']}")
    mode = host.get("NetworkMode")
    if mode in ("none", "host"):
        found.add({"type": "network_mode", "mode": mode}, f"--network {mode}")
    if host.get("Dns"):
        found.cannot.append(f"--dns {' '.join(host['Dns'])}: the node's DNS servers (startle's are loopback only)")
    image_arch, host_arch = ARCHES.get(image.get("Architecture", "")), ARCHES.get(_host(files).get("arch", ""))
    if image_arch and host_arch and image_arch != host_arch:
        found.arch = image_arch
        qemu = re.search(rf"\[qemu-{'aarch64' if image_arch == 'arm64' else 'x86_64'}\]\s*\nenabled",
                         files.get("binfmt.txt", ""))
        if qemu is None or "status=enabled" not in files.get("binfmt.txt", ""):
            found.add({"type": "binfmt_off"}, f"an {image_arch} image on an {host_arch} node without QEMU's binfmt entry")
        else:
            found.add({"type": "requires", "needs": ["qemu"]}, f"an {image_arch} image under QEMU on an {host_arch} node")
    image_env = (image.get("Config") or {}).get("Env") or []
    own = set(profile.env) | {e.split("=", 1)[0] for e in image_env}  # the profile's and the image's own
    values = {k: v for k, v in (e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
              if k not in own and "<redacted" not in v}
    if values:
        found.add({"type": "env", "values": values}, f"the node's own env: {', '.join(sorted(values))}")
    center_from_logs(files, profile, found)
    image_config = image.get("Config") or {}
    for key in ("Entrypoint", "Cmd"):
        if config.get(key) != image_config.get(key):
            found.cannot.append(f"{key} {config.get(key)} instead of the image's {image_config.get(key)}: "
                                "the agent was run otherwise; startle runs the profile's agent")
    for cap in host.get("CapAdd") or []:
        found.cannot.append(f"--cap-add {cap}: startle never adds a capability the profile does not declare")
    for device in host.get("Devices") or []:
        found.cannot.append(f"--device {device.get('PathOnHost')}: a node's hardware is not on this machine")
    return found


ERROR_FAULTS = {"refused": {"type": "proxy_down"}, "reset": {"type": "toxic_reset_peer"},
                "closed": {"type": "toxic_reset_peer"}, "timeout": {"type": "toxic_timeout", "timeout_ms": 0}}
"""The kind of error an agent names for a failed attempt → the network fault that makes it happen."""


def agent_events(files: dict[str, str], profile) -> list:
    """The agent's log lines in the bundle (``docker logs --timestamps``) as timeline events,
    through the profile's signal matchers — the same reading as a scenario's."""
    from datetime import datetime

    from harness.signals import read_line
    events = []
    for raw in files.get("logs.txt", "").splitlines():
        stamp, _, text = raw.partition(" ")
        try:
            docker_t = datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()
        except ValueError:
            docker_t, text = 0.0, raw
        events += read_line(text, profile.signals, docker_t)
    return events


def center_from_logs(files: dict[str, str], profile, found: Inference) -> None:
    """What the agent's own attempts say of its center: HTTP failures → ``center_failure`` with the
    most frequent status (``fail_next`` the failures seen when it registered after them, else every
    answer fails); connection errors → the network fault of their kind, for as long as they lasted
    when it registered after them. Nothing when the profile declares no ``attempt_result`` signal."""
    events = agent_events(files, profile)
    results = [e for e in events if e.kind == "attempt_result"]
    registered = any(e.kind == "registered" for e in events)
    statuses = [int(str(e.get("status"))) for e in results if str(e.get("status") or "").isdigit()
                and int(str(e.get("status"))) >= 400]
    if statuses:
        status = max(set(statuses), key=statuses.count)
        fault: dict[str, Any] = {"type": "center_failure", "status": status}
        if registered:
            fault["fail_next"] = statuses.count(status)
        waits = [e.get("retry_after_s") for e in results if e.get("retry_after_s") is not None]
        if status == 429 and waits:
            fault["retry_after_s"] = int(float(str(waits[0])))
        found.add(fault, f"{len(statuses)} attempts answered {status} in the agent's log"
                         + (", then it registered" if registered else ", it never registered"))
        return
    kinds = [str(e.get("error")).split(":", 1)[0] for e in results if e.get("error") and not e.get("status")]
    kind = max(set(kinds), key=kinds.count) if kinds else None
    if kind in ERROR_FAULTS:
        failed = [e.t for e in results if str(e.get("error") or "").startswith(kind)]
        fault = dict(ERROR_FAULTS[kind])
        if registered and len(failed) > 1:
            fault["duration_s"] = round(failed[-1] - failed[0] + 0.5, 1)
        found.add(fault, f"{len(failed)} attempts failed '{kind}' in the agent's log"
                         + (", then it registered" if registered else ", it never registered"))
    elif kind is not None:
        found.cannot.append(f"attempts failing '{kind}': no fault of startle's makes that error")


def read_evidence(files: dict[str, str], profile, source: Path | str) -> tuple[Signature, Inference]:
    """:func:`field_signature` and :func:`infer` of a bundle; a file that is not what Docker writes
    is an InputError naming it, never a traceback."""
    try:
        return field_signature(files, source), infer(files, profile, source)
    except InputError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(source, "container.json / image.json / events.jsonl",
                         f"not what docker inspect and docker events write ({type(exc).__name__}: {exc})",
                         "capture the bundle again with startle capture") from None


def scenario_for(name: str, inference: Inference, signature: Signature, profile) -> dict[str, Any]:
    """An ordinary scenario: the inferred faults, the field's failure as its expectations (a
    regression test asserts the fixed behaviour instead, once the bug is fixed)."""
    within_s = max(20.0, round((signature.lived_s or 0) * 1.5 + 10))  # the field's lifetime, and a margin
    expect: list[dict[str, Any]] = []
    if signature.oom_killed:
        expect.append({"type": "oom_killed", "within_s": within_s})
    elif signature.exit_code:
        reason = next((k for k, v in profile.exit_codes.items() if v == signature.exit_code), None)
        expect.append({"type": "exits", "within_s": within_s,
                       **({"reason": reason} if reason else {"code": signature.exit_code})})
    expect = expect or [{"type": "never_ready"}]
    return {"name": name, "description": "reproduced from a field node's evidence (startle reproduce)",
            "family": "field", "profile": profile.name, "arch": inference.arch, "deadline_s": within_s + 10,
            "faults": inference.faults, "expect": expect}


def here_signature(result) -> Signature:
    """The signature of a scenario run here, from its journal (the agent's last state)."""
    agent = result.agent or {}
    ooms = [e for e in result.timeline if e.get("kind") == "oom" and e.get("container") == "agent"]
    starts = [e["t"] for e in result.timeline if e.get("kind") == "start" and e.get("container") == "agent"]
    dies = [e["t"] for e in result.timeline if e.get("kind") == "die" and e.get("container") == "agent"]
    return Signature(exit_code=agent.get("exit_code"), oom_killed=bool(agent.get("oom_killed")) or bool(ooms),
                     restart_count=int(agent.get("restart_count") or 0), health=agent.get("health"),
                     lived_s=round(dies[0] - starts[0], 2) if starts and dies and dies[0] >= starts[0] else None)


def judge(field_sig: Signature, here: Signature) -> tuple[str, list[str]]:
    """The verdict and one line per judged field that differs."""
    differ = [f"{name}: field {getattr(field_sig, name)!r}, here {getattr(here, name)!r}"
              for name in JUDGED if getattr(field_sig, name) != getattr(here, name)]
    if not differ:
        return REPRODUCED, []
    if not here.failed:
        return NOT_REPRODUCED, differ + ["the agent did not fail here"]
    return (PARTIAL if len(differ) < len(JUDGED) else NOT_REPRODUCED), differ


def side_by_side(field_sig: Signature, here: Signature) -> str:
    rows = [f"{'':<14} {'field':>10} {'here':>10}"]
    for key, value in asdict(field_sig).items():
        mark = "" if key in JUDGED else "  (shown, not judged)"
        rows.append(f"{key:<14} {str(value):>10} {str(getattr(here, key)):>10}{mark}")
    return "\n".join(rows)
