"""Every timeline event startle records, declared once with its fields (the catalogue).

A timeline event is ``(source, kind, t, container, fields)`` (:class:`harness.timeline.Event`).
Times are Unix seconds. The agent's own words never become a kind: its log lines are read through
the profile's matchers (:mod:`harness.signals`) and recorded under the signal names of
:data:`SIGNALS`, or as ``agent/line``. Everything downstream (checks, tables, plots, ``compare``)
reads events through :mod:`harness.view`, which knows which source each figure comes from.

Fields: what startle records of each kind, and of an agent signal the fields startle reads (an
agent's line may carry more: its parsed keys are kept). Fields every event of a source carries are
in :data:`COMMON`; :func:`fields_of` joins both. tests/unit/test_events.py fails on a field startle
records or reads that is not declared here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Declared:
    """One kind of event: what it means and the fields it carries (name → meaning, with units)."""

    doc: str
    fields: dict[str, str]


SIGNALS: dict[str, Declared] = {
    # registration (the agent's first contact with its center) and its retries
    "attempt": Declared("the agent starts a registration/connection attempt", {"attempt": "1-based number, if logged"}),
    "attempt_result": Declared("the outcome of one attempt", {
        "attempt": "number", "status": "HTTP status or null", "error": "`<kind>: <detail>`, if it failed",
        "elapsed_ms": "milliseconds the attempt took, as the agent timed it (request_time)",
        "retry_after_s": "seconds of the center's Retry-After, if it sent one (startle reproduce)"}),
    "registered": Declared("the center accepted the agent (registration / connection established)",
                           {"attempt": "number"}),
    "rejected": Declared("a final refusal: the agent will not retry this answer", {"status": "HTTP status"}),
    "backoff": Declared("the agent announces a wait before its next attempt", {
        "sleep_s": "seconds (a matcher's `units` converts ms or duration strings)",
        "reason": "why (backoff, breaker_open, retry_after)", "retry_after_s": "seconds the center asked, if any"}),
    "breaker": Declared("the circuit breaker changed state", {"state": "open, half_open or closed"}),
    "give_up": Declared("the agent stopped retrying (deadline or attempts exhausted)",
                        {"attempts": "attempts it made, as it counts them"}),
    # health stages, as the agent claims them (startle judges stages by probing, not by these)
    "startup": Declared("the agent claims the startup stage", {}),
    "ready": Declared("the agent claims readiness", {}),
    "live": Declared("the agent claims liveness", {}),
    # preflight and configuration
    "preflight_fail": Declared("a preflight check failed; the agent exits", {
        "check": "which check (device, config, ...)", "subject": "what it checked (a path, a variable)",
        "cause": "why, in the agent's words", "hint": "the fix it suggests",
        "exit_code": "the code it says it exits with, if it does"}),
    "preflight_line": Declared("the agent's human-readable diagnosis line; must agree with preflight_fail",
                               {"check": "which check", "subject": "what it checked"}),
    "preflight_warn": Declared("a preflight check found something worth a warning; the agent goes on", {
        "check": "which check", "subject": "what it checked", "cause": "why"}),
    "config_wait": Declared("the agent waits for its config to appear", {"path": "file"}),
    "config_loaded": Declared("the agent loaded its config", {"path": "file",
                                                              "waited_s": "seconds it waited for the file to appear"}),
    "region": Declared("the agent resolved its region", {"region": "name or null", "source": "env, metadata or none",
                                                         "error": "why the lookup failed, if it did"}),
    "agent_start": Declared("the agent process started", {"arch": "architecture it reports", "version": "text"}),
    # running
    "heartbeat": Declared("a heartbeat to the center", {"status": "HTTP status or null"}),
    "log_export": Declared("a batch of buffered log lines shipped", {"sent": "lines", "buffered": "lines left"}),
    "hang": Declared("the agent's main loop hung (injected)", {}),
    "watchdog": Declared("the agent's watchdog fired", {"exit_code": "code it exits with"}),
    "shutdown": Declared("the agent shuts down on a signal", {"signal": "name"}),
}
"""The agent signals a profile may declare (``signals.match``), each recorded as ``agent/<name>``."""

COMMON: dict[str, dict[str, str]] = {
    "agent": {"line": "the log line's text", "t_from": "`docker` when the line had no time of its own"},
    "docker": {"id": "short container id", "image": "name", "lag_s": "seconds the event took to reach startle"},
}
"""Fields every event of a source carries (source → field → meaning)."""


EVENTS: dict[tuple[str, str], Declared] = {
    **{("agent", name): spec for name, spec in SIGNALS.items()},
    ("agent", "line"): Declared("a log line that is no declared signal", {"line": "the text", "...": "parsed keys"}),
    ("docker", "create"): Declared("Docker created a container", {}),
    ("docker", "start"): Declared("a container (re)started", {}),
    ("docker", "die"): Declared("a container's process ended", {"exit_code": "code"}),
    ("docker", "oom"): Declared("the kernel OOM-killed a process of the container", {}),
    ("docker", "health_status: healthy"): Declared("Docker's HEALTHCHECK says healthy", {}),
    ("docker", "health_status: unhealthy"): Declared("Docker's HEALTHCHECK says unhealthy", {}),
    ("center", "request"): Declared("the recording center answered (or dropped) a request", {
        "method": "HTTP method", "path": "path", "status": "answer, null when dropped", "node_id": "from the body",
        "route": "declared route name", "bytes": "body size", "note": "why a scripted answer was given"}),
    ("center", "log_line"): Declared("a log line the agent shipped reached the center", {
        "seq": "agent's sequence number", "line_ts": "its time as shipped", "event": "its signal (or `line`)",
        "msg_ts": "its own time as the profile reads it (Unix s; null: it has none)"}),
    ("wire", "connect"): Declared("one TCP connection attempt toward the center, seen on the network", {
        "outcome": "answered, refused, reset, closed, abandoned, timed_out or open", "client_ip": "address",
        "client_port": "port", "server": "HOST:PORT", "syn_retransmits": "count", "connected_s": "s to the SYN-ACK",
        "duration_s": "s to the decision", "bytes_to_server": "bytes", "bytes_from_server": "bytes",
        "decided_by": "packet, idle or stop"}),
    ("wire", "capture"): Declared("the wire tap's own account at its stop", {
        "interface": "the bridge tapped", "server": "HOST:PORT", "ended": "why it stopped", "frames": "read",
        "attempts": "connections decided", "kernel_drops": "frames dropped by the kernel (non-zero: an outcome "
        "may be wrong)", "cpu_s": "s"}),
    ("probe", "stage"): Declared("startle's own probe of a health stage changed its answer", {
        "stage": "startup, ready or live", "ok": "true/false", "how": "http/tcp/exec/docker", "detail": "what it answered",
        "answered": "Unix s the answer came (the event's time is its round's start)"}),
    ("fault", "applied"): Declared("a fault is in force (the harness's call returned)",
                                   {"fault": "type", "description": "text",
                                    "requested": "Unix s the harness asked for it: not yet in force before"}),
    ("fault", "cleared"): Declared("a fault is lifted (the harness's call returned)",
                                   {"fault": "type", "description": "text", "requested": "Unix s the harness "
                                    "asked to lift it: still in force before"}),
    ("fault", "flap"): Declared("a flapping proxy switched", {"proxy": "name", "enabled": "true/false"}),
    ("launcher", "invoke"): Declared("the agent's launcher was called", {"step": "v1/v2", "image": "name",
                                                                         "version": "text"}),
    ("launcher", "line"): Declared("a line the launcher printed", {"step": "v1/v2", "line": "text"}),
    ("launcher", "exit"): Declared("the launcher exited", {"step": "v1/v2", "code": "exit code", "took_s": "seconds"}),
    ("launcher", "state"): Declared("what ran after a launcher step", {
        "step": "v1/v2", "running": "the agent container's image and status", "state_file": "the launcher's "
        "state file, as key → value", "center_node": "the center's record of the node"}),
    ("launcher", "done"): Declared("the launcher steps are over", {"v1": "image", "v2": "image or null"}),
    ("harness", "agent_image"): Declared("the agent's image as the engine holds it, at the agent's start", {
        "image": "name", "id": "image id", "arch": "its architecture", "healthcheck": "it declares a HEALTHCHECK",
        "exe": "host path of the program its main process runs (QEMU's when emulated), or None"}),
    ("harness", "agent_config"): Declared("the agent container's security and limits as Docker holds them", {
        "privileged": "bool", "user": "uid:gid", "cap_drop": "list", "cap_add": "list", "group_add": "list",
        "security_opt": "list", "devices": "HOST:CONTAINER", "network_mode": "Docker's", "binds": "HOST:CONTAINER[:ro]",
        "memory_bytes": "bytes", "pids_limit": "tasks", "nano_cpus": "1e-9 cores"}),
    ("harness", "memory"): Declared("the agent cgroup's peak memory", {
        "peak_bytes": "bytes", "peak_mib": "MiB", "limit_mib": "MiB", "reason": "when it was read (die)",
        "exit_code": "the container's, when read at its die"}),
    ("harness", "native_ready"): Declared("a native-architecture baseline became ready", {
        "ready_after_s": "seconds from its start to the ready probe's yes", "image": "name", "arch": "architecture"}),
    ("harness", "binfmt"): Declared("QEMU emulation switched", {"state": "enabled/disabled",
                                                                "was_enabled": "its state before"}),
    ("harness", "skip"): Declared("the scenario was skipped", {"reason": "text"}),
    ("harness", "collector_error"): Declared("a collector failed", {"collector": "name", "error": "text"}),
    ("harness", "stop_sent"): Declared("startle stopped the agent as Docker does (agent_stop)", {
        "grace_s": "seconds between SIGTERM and SIGKILL"}),
    ("harness", "engine_lost"): Declared("the engine's event stream ended or failed while the scenario ran "
                                         "(harness/sentinel.py)", {"reason": "text"}),
    ("harness", "launcher_error"): Declared("the launcher step failed in the harness", {"error": "text"}),
}
"""Every (source, kind) on a timeline. A test keeps it complete (tests/unit/test_events.py)."""


def fields_of(source: str, kind: str) -> dict[str, str]:
    """The declared fields of ``source``/``kind``, those every event of its source carries included."""
    declared = EVENTS.get((source, kind))
    return {**COMMON.get(source, {}), **(declared.fields if declared else {})}
