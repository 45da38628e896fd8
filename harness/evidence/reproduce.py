"""From a field node's evidence to a scenario that makes the same failure happen here (issue 12).

:func:`infer` maps what the bundle shows to startle's own faults (the table in docs/capture.md,
"From evidence to faults"), and names what it cannot reproduce rather than guessing;
:func:`field_signature` reads the failure to reproduce; :func:`scenario_for` writes them as an
ordinary scenario (the field signature kept in it); :func:`run_here` runs it.

What is judged of the failure, and how: :mod:`harness.evidence.signature`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.evidence.signature import Signature, diagnosis_of, here_signature, ready_of, registered_of

MIB = 1024 * 1024
STAYS_DOWN_S = 3.0
"""Seconds a reproduction waits after the agent's exit to see whether it is restarted (Docker
restarts a container 0.1 s after it dies, then starts it in well under a second here)."""


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


def _json(files: dict[str, str], name: str, source: Path | str, required: bool = True) -> Any:
    if name not in files and not required:
        return {}
    try:
        data = json.loads(files[name])
    except (KeyError, ValueError):
        raise InputError(source, name, "missing or not JSON", "capture the bundle again (startle capture)") from None
    return data[0] if isinstance(data, list) and data else data


def node_image(files: dict[str, str], source: Path | str = "bundle") -> str | None:
    """The image the node's container ran (``Config.Image``: the name it was started with)."""
    return (_json(files, "container.json", source).get("Config") or {}).get("Image")


def _host(files: dict[str, str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in files.get("host.txt", "").splitlines() if "=" in line)


ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def field_signature(files: dict[str, str], profile, source: Path | str = "bundle", said: list | None = None) -> Signature:
    """The failure the bundle shows (the container's state, the engine's events, the agent's log
    read through the profile's signals)."""
    container = _json(files, "container.json", source)
    state = container.get("State") or {}
    events = [json.loads(line) for line in files.get("events.jsonl", "").splitlines() if line.strip()]
    dies = [e for e in events if e.get("Action") == "die"]
    code = state.get("ExitCode")
    if state.get("Running") and dies:  # restarting now: its last death tells
        code = int(dies[-1].get("Actor", {}).get("Attributes", {}).get("exitCode", code))
    oom = bool(state.get("OOMKilled")) or any(e.get("Action") == "oom" for e in events)
    said = agent_events(files, profile) if said is None else said
    return Signature(exit_code=code, oom_killed=oom, restart_count=int(container.get("RestartCount") or 0),
                     health=(state.get("Health") or {}).get("Status"), lived_s=_lived(state),
                     diagnosis=diagnosis_of([(e.kind, e.fields) for e in said], profile),
                     registered=registered_of([e.kind for e in said], profile),
                     ready=ready_of([e.kind for e in said], [str(e.get("status") or e.get("Action") or "")
                                                            for e in events],
                                    profile, bool((container.get("Config") or {}).get("Healthcheck"))))


def _lived(state: dict) -> float | None:
    from datetime import datetime
    try:
        started, finished = (datetime.fromisoformat(str(state[k])[:26].rstrip("Z") + "+00:00")
                             for k in ("StartedAt", "FinishedAt"))
    except (KeyError, ValueError):
        return None
    lived = (finished - started).total_seconds()
    return round(lived, 2) if lived >= 0 else None


def infer(files: dict[str, str], profile, source: Path | str = "bundle", said: list | None = None,
          engine: dict | None = None) -> Inference:
    """The faults that recreate the node's conditions for ``profile``'s agent (see module docstring).
    ``said``: the agent's log as :func:`agent_events` reads it (read here when not given);
    ``engine``: ``docker info`` of the engine the scenario will run on (its kernel and cgroup
    version are held against the node's; None: not compared)."""
    container = _json(files, "container.json", source)
    image = _json(files, "image.json", source, required=False)
    host, config = container.get("HostConfig") or {}, container.get("Config") or {}
    said = agent_events(files, profile) if said is None else said
    found = Inference()
    config_mount(files, container, profile, found)
    settings = config_content(files, container, profile, found)
    if host.get("Memory"):
        found.add({"type": "memory_limit", "memory_mb": max(5, int(host["Memory"]) // MIB)},
                  f"--memory {int(host['Memory']) // MIB} MiB")
    if host.get("NanoCpus"):
        found.add({"type": "cpu_limit", "cpus": host["NanoCpus"] / 1e9}, f"--cpus {host['NanoCpus'] / 1e9:g}")
    if host.get("PidsLimit"):
        found.add({"type": "pids_limit", "pids": int(host["PidsLimit"])}, f"--pids-limit {host['PidsLimit']}")
    restart_policy(host, profile, found)
    mode = host.get("NetworkMode")
    if mode in ("none", "host"):
        found.add({"type": "network_mode", "mode": mode}, f"--network {mode}")
    dns(host, said, found, files.get("resolv.conf", ""))
    architecture(files, image, found)
    image_env = (image.get("Config") or {}).get("Env") or []
    own = set(profile.env) | {e.split("=", 1)[0] for e in image_env}  # the profile's and the image's own
    values = {k: v for k, v in (e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
              if k not in own and "<redacted" not in v}
    if values:
        found.add({"type": "env", "values": values}, f"the node's own env: {', '.join(sorted(values))}")
    center_from_logs(said, found)
    image_config = image.get("Config") or {}
    for key in ("Entrypoint", "Cmd"):
        if image and config.get(key) != image_config.get(key):
            found.cannot.append(f"{key} {config.get(key)} instead of the image's {image_config.get(key)}: "
                                "the agent was run otherwise; startle runs the profile's agent")
    socket_key = profile.config.keys.get("docker_socket") if profile.config is not None else None
    devices_and_caps(files, host, profile, found,
                     needs_socket=settings is None or not socket_key or bool(settings.get(socket_key)))
    other_mounts(files, host, profile, found)
    kernel_and_cgroups(_host(files), engine or {}, found)
    return found


def other_mounts(files: dict[str, str], host: dict, profile, found: Inference) -> None:
    """Bind mounts other than the profile's config folder and the Docker socket: named, with their
    state on the node, as not reproducible (the profile declares no such mount)."""
    config_inside = profile.config.mount if profile.config is not None else None
    stats = stats_of(files, "mounts.tsv")
    for mount in container_mounts(host):
        if mount["inside"] in DOCKER_SOCKETS or mount["inside"] == config_inside:
            continue
        state = stats.get(mount["source"], "").split("\t")[0] or "not stated"
        found.cannot.append(f"bind mount {mount['source']} at {mount['inside']} ({state} on the node): the profile "
                            "declares no such mount; startle mounts only the agent's config and the Docker socket")


def kernel_and_cgroups(node: dict[str, str], engine: dict[str, str], found: Inference) -> None:
    """The node's kernel and cgroup version where they differ from the engine's the scenario runs
    on (``engine``: its ``docker info``): named as not reproducible (a kernel bug or feature, and how
    limits are enforced, are the node's own)."""
    for key, what in (("kernel", "KernelVersion"), ("cgroup", "CgroupVersion")):
        theirs, ours = node.get(key), str(engine.get(what) or "")
        if not theirs or not ours or theirs == ours:
            continue
        found.cannot.append(f"the node's kernel {theirs} (here {ours}): a bug or feature of its kernel, or of its "
                            "hardware, is not reproduced here" if key == "kernel" else
                            f"cgroup v{theirs} on the node, v{ours} here: memory, CPU and pids limits are "
                            "enforced by the other version's controllers")


def config_mount(files: dict[str, str], container: dict, profile, found: Inference) -> None:
    """The config mount's state on the node: nothing mounted, its source missing or unreadable."""
    mount = profile.config.mount if profile.config is not None else None
    if not mount:
        return
    binds = {m.get("Destination"): m for m in container.get("Mounts") or []}
    sources = stats_of(files, "mounts.tsv")
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


def _leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (lists and scalars are leaves)."""
    if isinstance(data, dict) and data:
        return {k: v for key, value in data.items() for k, v in _leaves(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: data} if prefix else {}


def config_content(files: dict[str, str], container: dict, profile, found: Inference) -> dict[str, Any] | None:
    """The node's own main config file (kept by the capture under ``mountfiles/``) against the
    profile's template: empty, malformed, or each setting that differs → ``config_override``.
    Returns the node's settings (dotted key paths), None when they are not known."""
    from harness.faults._config import parse
    spec = profile.config
    if spec is None or not spec.file or spec.file_format is None or any(
            f.get("type") == "config_mount" for f in found.faults):
        return None
    mounted = [m for m in container.get("Mounts") or [] if m.get("Destination") == spec.mount]
    inside = f"{spec.mount.strip('/')}/{spec.file}"
    stats = stats_of(files, "mountfiles.tsv")
    user = str((container.get("Config") or {}).get("User") or profile.run.user or "0")
    if inside in stats and not readable_by(stats[inside], user):
        found.add({"type": "config_mount", "state": "unreadable"},
                  f"{spec.file} on the node ({stats[inside].replace(chr(9), ' ')}) is not readable by user {user}")
        return None
    text = files.get(f"mountfiles/{inside}")
    if text is None:
        kept = any(name.startswith(f"mountfiles/{spec.mount.strip('/')}/") for name in files)
        if mounted and kept:  # other files of the folder were kept: the main one is not there
            found.add({"type": "config_mount", "state": "empty"}, f"{spec.mount} holds no {spec.file} on the node")
        return None
    if not text.strip():
        found.add({"type": "config_mount", "state": "empty"}, f"{spec.file} is empty on the node")
        return None
    try:
        node = _leaves(parse(text, spec.file_format))
    except ValueError as exc:
        found.add({"type": "config_mount", "state": "malformed"}, f"{spec.file} on the node: {exc}")
        return None
    try:
        template = _leaves(parse((profile.config_source() / spec.file).read_text(encoding="utf-8"),
                                 spec.file_format))
    except (OSError, ValueError) as exc:
        found.cannot.append(f"{spec.file}'s settings: the profile's template does not read ({exc})")
        return node
    for key, value in node.items():
        ours = template.get(key)
        if key in template and (ours == value or (isinstance(ours, str) and "{" in ours)):
            continue  # the same, or a placeholder startle fills
        if isinstance(value, str) and "<redacted" in value:
            found.cannot.append(f"{spec.file}: {key} (its value was redacted)")
            continue
        found.add({"type": "config_override", "keys": {key: value}},
                  f"{spec.file}: {key} = {json.dumps(value)} on the node"
                  + (f" (the profile's {json.dumps(ours)})" if key in template else " (not in the profile's)"))
    for key in sorted(set(template) - set(node)):
        found.cannot.append(f"{spec.file}: {key} absent on the node (startle sets settings, it does not remove them)")
    return node


def readable_by(stat: str, user: str) -> bool:
    """Whether a file (``type size mode uid gid``, as mountfiles.tsv holds it) is readable by
    ``user`` (``uid[:gid]``; a name that is not a number is given the benefit of the doubt)."""
    parts = (stat.split("\t") + [""] * 5)[:5]
    uid, _, gid = user.partition(":")
    if not (parts[2].isdigit() and uid.isdigit()):
        return True
    mode = int(parts[2], 8)
    if parts[3] == uid:
        return bool(mode & 0o400)
    if gid and parts[4] == gid:
        return bool(mode & 0o040)
    return bool(mode & 0o004)


def restart_policy(host: dict, profile, found: Inference) -> None:
    """The engine's restart policy on the node, when it is not the profile's."""
    policy = host.get("RestartPolicy") or {}
    name, retries = policy.get("Name") or "no", int(policy.get("MaximumRetryCount") or 0)
    ours = profile.run.restart or "no"
    if name != ours or (name == "on-failure" and retries):
        fault: dict[str, Any] = {"type": "restart_policy", "name": name}
        if name == "on-failure" and retries:
            fault["max_retries"] = retries
        found.add(fault, f"--restart {name}{f':{retries}' if retries else ''} (the profile's is {ours})")


def dns(host: dict, said: list, found: Inference, resolv_conf: str = "") -> None:
    """The node's resolver: reproduced as a resolver that knows no name (loopback only) when the
    agent's own words say a name did not resolve — whether its servers came from ``--dns`` or from
    the node's resolv.conf; servers set with ``--dns`` and no such words: named as not reproducible."""
    servers = list(host.get("Dns") or [])
    origin = f"--dns {' '.join(servers)}"
    if not servers:
        servers = [line.split()[1] for line in resolv_conf.splitlines()
                   if line.startswith("nameserver") and len(line.split()) > 1]
        origin = f"the node's resolv.conf (nameserver {' '.join(servers) or 'none'})"
    words = " ".join(f"{e.get('check') or ''} {e.get('cause') or ''} {e.get('error') or ''}"
                     for e in said if e.kind in ("preflight_fail", "attempt_result")).lower()
    if "dns" in words or "resolv" in words:
        found.add({"type": "network_mode", "mode": "isolated", "dns": ["127.0.0.1"],
                   "dns_options": ["timeout:1", "attempts:1"]},
                  f"{origin} and the agent says a name did not resolve: a resolver that answers no name "
                  "(startle's DNS stays on this machine)")
    elif host.get("Dns"):
        found.cannot.append(f"{origin}: the node's DNS servers (startle's are loopback only), and the agent's "
                            "log names no resolver failure")


def architecture(files: dict[str, str], image: dict, found: Inference) -> None:
    """The image's architecture against the host's, and whether QEMU's binfmt entry was on."""
    if not image:
        found.cannot.append("the image's architecture: a container's inspect alone cannot tell it "
                            "(capture a bundle: it holds the image's inspect)")
        return
    image_arch, host_arch = ARCHES.get(image.get("Architecture", "")), ARCHES.get(_host(files).get("arch", ""))
    if image_arch and host_arch and image_arch != host_arch:
        found.arch = image_arch
        qemu = re.search(rf"\[qemu-{'aarch64' if image_arch == 'arm64' else 'x86_64'}\]\s*\nenabled",
                         files.get("binfmt.txt", ""))
        if qemu is None or "status=enabled" not in files.get("binfmt.txt", ""):
            found.add({"type": "binfmt_off"}, f"an {image_arch} image on an {host_arch} node without QEMU's binfmt entry")
        else:
            found.add({"type": "requires", "needs": ["qemu"]}, f"an {image_arch} image under QEMU on an {host_arch} node")


DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")


def stats_of(files: dict[str, str], name: str) -> dict[str, str]:
    """A ``path<TAB>stat`` file of the bundle (mounts.tsv, devices.tsv, mountfiles.tsv) by path."""
    return dict(line.split("\t", 1) for line in files.get(name, "").splitlines() if "\t" in line)


def container_mounts(host: dict) -> list[dict[str, Any]]:
    """``HostConfig.Binds`` (``SOURCE:DEST[:OPTIONS]``) as source, inside, read_only."""
    mounts = []
    for bind in host.get("Binds") or []:
        source, _, rest = str(bind).partition(":")
        inside, _, options = rest.partition(":")
        mounts.append({"source": source, "inside": inside, "read_only": "ro" in options.split(",")})
    return mounts


def devices_and_caps(files: dict[str, str], host: dict, profile, found: Inference, needs_socket: bool = True) -> None:
    """Mapped devices → ``device`` (a node startle makes with the node's owner group and mode; the
    hardware itself is not here); the Docker socket bind-mounted → ``docker_socket`` (startle's own
    socket, the node's group and read-only flag); capabilities the profile adds and the node lacked →
    ``cap_drop``; capabilities beyond the profile's → named as not reproducible."""
    stats = stats_of(files, "devices.tsv")
    groups = [str(g) for g in host.get("GroupAdd") or []]
    for device in host.get("Devices") or []:
        on_host, inside = device.get("PathOnHost"), device.get("PathInContainer") or device.get("PathOnHost")
        parts = (stats.get(on_host, "").split("\t") + [""] * 5)[:5]
        mode = parts[2] if parts[2].isdigit() else "660"
        fault: dict[str, Any] = {"type": "device", "device_path": inside, "mapped": True, "node_mode": f"0{mode[-3:]}"}
        if groups:
            fault["group"] = groups[0]
        found.add(fault, f"--device {on_host}:{inside} (mode {mode}, gid {parts[4] or '?'})"
                         + (f", --group-add {groups[0]}" if groups else "") + "; the hardware itself is not here")
    for mount in container_mounts(host):
        if mount["inside"] in DOCKER_SOCKETS and needs_socket:
            parts = (stats_of(files, "mounts.tsv").get(mount["source"], "").split("\t") + [""] * 5)[:5]
            gid = parts[4] if parts[4].isdigit() else "999"
            fault = {"type": "docker_socket", "mounted": True, "socket_gid": int(gid),
                     "group_add": gid in groups, "read_only": mount["read_only"]}
            found.add(fault, f"the Docker socket bind-mounted at {mount['inside']}"
                             f"{' read-only' if mount['read_only'] else ''} (group {gid}"
                             f"{', added' if gid in groups else ', not added'}); startle's own socket stands in")
    for cap in host.get("CapAdd") or []:
        if cap not in profile.run.cap_add:
            found.cannot.append(f"--cap-add {cap}: startle never adds a capability the profile does not declare")
    dropped, ours = set(host.get("CapDrop") or []), set(profile.run.cap_drop)
    lacked = [cap for cap in profile.run.cap_add
              if cap in dropped or ("ALL" in dropped and cap not in (host.get("CapAdd") or []))]
    if lacked:
        found.add({"type": "cap_drop", "caps": lacked},
                  f"capabilities the profile adds that the node's agent lacked: {', '.join(lacked)}")
    if ours - dropped and "ALL" not in dropped:
        found.cannot.append(f"capabilities the node kept (it dropped {', '.join(sorted(dropped)) or 'none'}; the "
                            f"profile drops {', '.join(sorted(ours))}): startle never grants more than the profile "
                            "declares")
    if host.get("Privileged"):
        found.cannot.append("--privileged: startle never runs an agent privileged")


ERROR_FAULTS = {"refused": {"type": "proxy_down"}, "reset": {"type": "toxic_reset_peer"},
                "closed": {"type": "toxic_reset_peer"}, "timeout": {"type": "toxic_timeout", "timeout_ms": 0}}
"""The kind of error an agent names for a failed attempt → the network fault that makes it happen."""


def agent_events(files: dict[str, str], profile) -> list:
    """The agent's log lines in the bundle (``docker logs --timestamps``) as timeline events,
    through the profile's signal matchers — the same reading as a scenario's."""
    from harness.collectors import split_docker_timestamp
    from harness.signals import read_line
    events = []
    for raw in files.get("logs.txt", "").splitlines():
        docker_t, text = split_docker_timestamp(raw, 0.0)  # a line without Docker's stamp: time 0
        events += read_line(text, profile.signals, docker_t)
    return events


def _seconds(value: Any) -> float | None:
    """A logged number of seconds (a number or its text), None for anything else (an HTTP date)."""
    try:
        seconds = float(str(value))
    except ValueError:
        return None
    return seconds if seconds >= 0 and seconds == seconds else None


def center_from_logs(events: list, found: Inference) -> None:
    """What the agent's own attempts say of its center: HTTP failures → ``center_failure`` with the
    most frequent status (``fail_next`` the failures seen when it registered after them, else every
    answer fails); connection errors → the network fault of their kind, for as long as they lasted
    when it registered after them. Nothing when the profile declares no ``attempt_result`` signal.
    ``events``: the agent's log as :func:`agent_events` reads it."""
    results = [e for e in events if e.kind == "attempt_result"]
    registered = any(e.kind == "registered" for e in events)
    statuses = [int(str(e.get("status"))) for e in results if str(e.get("status") or "").isdigit()
                and int(str(e.get("status"))) >= 400]
    if statuses:
        status = max(set(statuses), key=statuses.count)
        fault: dict[str, Any] = {"type": "center_failure", "status": status}
        if registered:
            fault["fail_next"] = statuses.count(status)
        waits = [seconds for e in events  # on the result or the backoff that follows it
                 if e.kind in ("attempt_result", "backoff") and (seconds := _seconds(e.get("retry_after_s"))) is not None]
        if status == 429 and waits:
            fault["retry_after_s"] = int(waits[0])
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


def read_evidence(files: dict[str, str], profile, source: Path | str,
                  engine: dict | None = None) -> tuple[Signature, Inference]:
    """:func:`field_signature` and :func:`infer` of a bundle; a file that is not what Docker writes
    is an InputError naming it, never a traceback."""
    try:
        said = agent_events(files, profile)  # the log read once, for both
        return field_signature(files, profile, source, said), infer(files, profile, source, said, engine)
    except InputError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(source, "container.json / image.json / events.jsonl",
                         f"not what docker inspect and docker events write ({type(exc).__name__}: {exc})",
                         "capture the bundle again with startle capture") from None


def scenario_for(name: str, inference: Inference, signature: Signature, profile, bundle: str = "",
                 fixed: bool = False) -> dict[str, Any]:
    """An ordinary scenario: the inferred faults; as expectations the field's failure (a test that
    the failure still happens here, and lasts until the agent registers and is ready when it did
    so on the node after failing), or with ``fixed`` the behaviour once it is fixed (the agent
    does not die — no exit, no OOM kill, no restart — for the field's lifetime and a margin, becomes
    ready, and registers when the profile can tell). The field signature and every
    inference stay in its ``field`` section, for reference."""
    within_s = max(12.0, round((signature.lived_s or 0) * 1.5 + 10))  # the field's lifetime, and a margin
    expect: list[dict[str, Any]] = []
    if fixed:
        expect.append({"type": "no_restart", "within_s": within_s})
        expect.append({"type": "ready", "within_s": within_s})
        if signature.registered is not None:
            expect.append({"type": "registered", "within_s": within_s})
    elif signature.oom_killed:
        expect.append({"type": "oom_killed", "within_s": within_s})
    elif signature.exit_code:
        reason = next((k for k, v in profile.exit_codes.items() if v == signature.exit_code), None)
        expect.append({"type": "exits", "within_s": within_s,
                       **({"reason": reason} if reason else {"code": signature.exit_code})})
    if not fixed and signature.failed:  # it recovered on the node after failing: last until it does here
        if signature.registered:
            expect.append({"type": "registered", "within_s": within_s})
        if signature.ready:
            expect.append({"type": "ready", "within_s": within_s})
    if not fixed and signature.restarts == "a loop":  # last long enough to see it loop
        expect.append({"type": "restart_backoff", "min_restarts": 3, "min_uptime_s": 0, "min_growth": 1,
                       "tolerance_s": 3600})
    elif not fixed and signature.restarts == "none" and signature.failed:  # long enough to see it stay down
        expect.append({"type": "stays_down", "for_s": STAYS_DOWN_S, "within_s": within_s})
    expect = expect or [{"type": "never_ready"}]
    return {"name": name, "description": "reproduced from a field node's evidence (startle reproduce)"
                                         + (": the fixed behaviour" if fixed else ""),
            "family": "field", "profile": profile.name, "arch": inference.arch,
            "deadline_s": within_s + (40 if signature.restarts == "a loop" and not fixed else 10),
            "faults": inference.faults, "expect": expect,
            "field": {"bundle": bundle, "signature": {**asdict(signature), "restarts": signature.restarts},
                      "inferred": inference.reasons, "cannot": inference.cannot}}


def bounded(scenario: dict[str, Any], within_s: float) -> dict[str, Any]:
    """The scenario with every expectation's ``within_s`` at most ``within_s`` (and its deadline to
    match): a candidate of ``--minimise`` that has not failed by then is judged not to."""
    within_s = round(within_s, 1)
    expect = [{**e, "within_s": min(e["within_s"], within_s)} if "within_s" in e else e for e in scenario["expect"]]
    return {**scenario, "expect": expect, "deadline_s": min(scenario["deadline_s"], within_s + STAYS_DOWN_S + 5)}


def run_here(scenario: dict[str, Any], profile, run, image: str | None = None) -> tuple[Signature, Any]:
    """Run a scenario (a :func:`scenario_for` dict) with ``profile``'s agent (``image``: another build
    of it, e.g. the node's); its signature and result."""
    from harness.lifecycle import run_scenario
    from harness.scenario import Scenario
    try:
        parsed = Scenario.model_validate(scenario)
    except ValueError as exc:
        raise InputError(scenario.get("name", "scenario"), "faults", f"not a valid scenario ({exc})",
                         "report it: startle reproduce wrote something its own reader refuses") from None
    result = run_scenario(parsed, run, profile=profile, image=image)
    return here_signature(result, profile), result


