"""Image architecture: a foreign image without emulation is classified as an exec-format error
(from Docker's exit code and the container's log, not a generic crash); with emulation it becomes
ready and the slowdown against a native run is stated."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, register

EXEC_FORMAT = re.compile(r"exec format error", re.I)


def classify_exit(ctx: CheckContext) -> dict:
    """How the agent's first exit looks from outside: ``exec-format-error``, ``oom``, ``killed``,
    ``agent-exit`` (a code the profile's ``exit_codes`` declares; ``reason`` names it), ``crash``
    (anything else), or ``running``."""
    died = ctx.agent_exited()
    if died is None:
        return {"classification": "running"}
    code = died.get("exit_code")
    lines = [e for e in ctx.timeline.select("agent") if e.t <= died.t + 5]
    texts = [str(e.get("line")) for e in lines if e.get("line") is not None]
    exec_line = next((t for t in texts if EXEC_FORMAT.search(t)), None)
    oom = ctx.timeline.first("docker", "oom", lambda e: e.container == "agent")
    if exec_line is not None:
        kind = "exec-format-error"
    elif oom is not None or code == 137:
        kind = "oom" if oom is not None else "killed"
    elif code in ctx.profile.exit_codes.values():
        kind = "agent-exit"
    else:
        kind = "crash"
    facts = {"classification": kind, "exit_code": code, "log_line": exec_line or (texts[-1] if texts else None),
             "died_at": died.t, "learned_at": ctx.learned_at(died)}
    if kind == "agent-exit":
        facts["reason"] = " or ".join(r for r, c in ctx.profile.exit_codes.items() if c == code)
    return facts


@register
class ExecFormatError(Check):
    """The agent container exited and is classified as an exec-format error (wrong architecture)
    within ``within_s`` of its start — from its exit code and its log line, not as a generic crash."""

    type: Literal["exec_format_error"] = "exec_format_error"
    within_s: float = Field(gt=0, description="seconds after the agent container started")
    log_grace_s: float = Field(3.0, ge=0, description="seconds the log line may arrive after startle learned of the exit")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        facts = classify_exit(ctx)
        binfmt = ctx.timeline.first("harness", "binfmt")
        measured = {k: v for k, v in facts.items() if k not in ("died_at", "learned_at")}
        if binfmt is not None:
            measured["binfmt_qemu_aarch64"] = binfmt.get("state")
        if facts["classification"] == "exec-format-error":
            measured["exited_after_s"] = round(facts["died_at"] - start, 3) if start else None
            return self.verdict("pass", f"exec format error: exit code {facts['exit_code']}, log "
                                        f"{facts['log_line']!r} ({measured['exited_after_s']} s after start)",
                                **measured)
        if facts["classification"] != "running":
            waited = ctx.clock() - facts["learned_at"]  # the log line follows the exit startle learned of
            if final or waited > self.log_grace_s:
                return self.verdict("fail", f"the agent exited with code {facts['exit_code']}, classified as "
                                            f"{facts['classification']}, not as an exec format error (log: "
                                            f"{facts['log_line']!r})", **measured)
            return None
        if self.deadline_from(start, self.within_s, ctx, final):
            ready = next(iter(ctx.signal("agent_start")), None)
            return self.verdict("fail", f"the agent did not exit within {self.within_s} s"
                                + (f"; it started as arch {ready.get('arch')}" if ready else ""), **measured)
        return None


@register
class EmulatedReady(Check):
    """The agent (a foreign-arch image, e.g. arm64 under QEMU) runs as ``arch`` — its ``agent_start``
    signal's ``arch`` when it logs one, else the image's, with its main process seen running under
    QEMU from the host — becomes ready within ``within_s``, and the slowdown against the
    ``native_baseline`` run is measured (and bounded by ``max_slowdown`` when given)."""

    type: Literal["emulated_ready"] = "emulated_ready"
    within_s: float = Field(gt=0, description="seconds after the agent container started")
    arch: str = "arm64"
    max_slowdown: float | None = Field(None, gt=0, description="emulated / native ready time, ratio")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        ready = ctx.stage_ok("ready")
        first = next(iter(ctx.signal("agent_start")), None)
        native = ctx.timeline.first("harness", "native_ready")
        if start is not None and ready is not None:
            took = round(ready.t - start, 3)
            image = ctx.timeline.first("harness", "agent_image")
            said = first.get("arch") if first else None  # an agent that logs its arch; else the image's
            arch = said or (image.get("arch") if image else None)
            m = {"emulated_ready_s": took, "agent_arch": arch,
                 "arch_from": "the agent's agent_start signal" if said else "the image"}
            if native is not None:
                m["native_ready_s"] = native.get("ready_after_s")
                m["slowdown_x"] = round(took / max(native.get("ready_after_s"), 1e-3), 2)
            if image is not None and image.get("exe"):
                m["main_process"] = image.get("exe")
            if m["agent_arch"] != self.arch:
                return self.verdict("fail", f"the agent reported arch {m['agent_arch']}, expected {self.arch}", **m)
            if not said and m.get("main_process") and "qemu" not in m["main_process"]:
                return self.verdict("fail", f"the image says {self.arch} but its main process runs "
                                            f"{m['main_process']} natively, not under QEMU", **m)
            if took > self.within_s:
                return self.verdict("fail", f"ready only {took} s after start under emulation; the bound is "
                                            f"{self.within_s} s", **m)
            if native is None:
                return self.verdict("fail", f"ready in {took} s, but no native baseline was measured "
                                            "(add the native_baseline fault)", **m)
            resolution = ctx.probe_resolution("ready")
            if took < 3 * resolution:  # both within the probes' first rounds: no slowdown to state
                m["slowdown_x"] = None
                if self.max_slowdown is not None:
                    return self.skip(f"ready {took:.3f} s after start under emulation, within 3 rounds of the "
                                     f"probes ({resolution:g} s apart): too fast for a slowdown to be bounded by "
                                     f"{self.max_slowdown}x", **m)
                return self.verdict("pass", f"{self.arch} under emulation ready in {took} s (native "
                                            f"{m['native_ready_s']} s): within 3 rounds of the probes "
                                            f"({resolution:g} s apart), too fast to state a slowdown", **m)
            if self.max_slowdown is not None and m["slowdown_x"] > self.max_slowdown:
                return self.verdict("fail", f"{self.arch} under emulation ready in {took} s vs native "
                                            f"{m['native_ready_s']} s: {m['slowdown_x']}x slower, bound "
                                            f"{self.max_slowdown}x", **m)
            return self.verdict("pass", f"{self.arch} under emulation ready in {took} s vs native "
                                        f"{m['native_ready_s']} s: {m['slowdown_x']}x slower", **m)
        if self.deadline_from(start, self.within_s, ctx, final):
            died = ctx.agent_exited()
            detail = f"; the container exited with code {died.get('exit_code')}" if died else ""
            return self.verdict("fail", f"not ready within {self.within_s} s under emulation{detail}")
        return None
