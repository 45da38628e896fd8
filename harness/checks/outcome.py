"""How a start that must fail fails, and what the harness saw of the container.

* ``exits``            the agent container exits with the documented code (Docker's ``die`` event)
* ``diagnosis``        the agent's own preflight diagnosis names the expected check and subject
                       (its ``preflight_fail`` signal, and its ``preflight_line`` when declared, agree)
* ``log_says``         a line of the agent's output matches a pattern (a user's own scenario: text is
                       the agent's own; built-in scenarios use ``says``)
* ``says``             the agent gave a declared signal with given fields (``rejected`` with 422)
* ``never_ready``      readiness never became true: no ``ready`` stage, no 200 from ``/ready``
* ``oom_killed``       killed by the kernel's OOM killer (Docker's ``oom`` event), not "crashed";
                       the cgroup's peak memory reported
* ``security_context`` the container as Docker holds it: never privileged, non-root, capabilities
                       dropped, only the allowed supplementary groups
* ``region``           the region the agent registered with came from where it should
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from harness.checks.base import Check, CheckContext, Verdict, register
from harness.faults.env import holding



GRACE_S = 1.5
"""After the agent's ``die`` event, how long its last log lines may still be on their way (s)."""


def _settling(ctx: CheckContext) -> bool:
    """True while the agent exited less than GRACE_S ago (its last lines may still arrive)."""
    died = ctx.agent_exited()
    return died is not None and ctx.clock() < died.t + GRACE_S


class _AfterExit(Check):
    def wake_at(self, ctx: CheckContext) -> float | None:
        died = ctx.agent_exited()
        if died is not None:
            return died.t + GRACE_S + 0.01
        return super().wake_at(ctx)


@register
class Exits(Check):
    """The agent container exits with the code the profile declares for ``reason`` (or ``code``)
    within ``within_s`` of its start."""

    type: Literal["exits"] = "exits"
    reason: str | None = Field(None, description="why it must exit (a key of the profile's exit_codes: "
                               "config-missing, device, give-up...)")
    code: int | None = Field(None, description="the exit code, when no reason is named")
    within_s: float = Field(gt=0, description="seconds after the agent container started")

    @model_validator(mode="after")
    def _one(self) -> "Exits":
        if (self.reason is None) == (self.code is None):
            raise ValueError("name either `reason` (a key of the profile's exit_codes) or `code`; "
                             "fix: e.g. `reason: config-missing`")
        return self

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        expected = self.exit_code_for(ctx, self.reason, self.code)
        start = ctx.agent_started
        died = ctx.agent_exited()
        if died is not None and start is not None:
            took, code = died.t - start, died.get("exit_code")
            if code == expected and took <= self.within_s:
                return self.verdict("pass", f"exited with code {code} {took:.2f} s after start "
                                            f"(expected {expected} within {self.within_s} s)",
                                    exit_code=code, exited_after_s=round(took, 3))
            if code != expected:
                return self.verdict("fail", f"exited with code {code} {took:.2f} s after start; expected "
                                            f"{expected}" + (f" ({self.reason})" if self.reason else ""),
                                    exit_code=code, exited_after_s=round(took, 3))
            return self.verdict("fail", f"exited with code {code} only {took:.2f} s after start; the bound "
                                        f"is {self.within_s} s", exit_code=code, exited_after_s=round(took, 3))
        if self.deadline_from(start, self.within_s, ctx, final):
            return self.verdict("fail", f"still running {self.within_s} s after start; expected exit code "
                                        f"{expected}")
        return None


def profile_words(profile) -> dict[str, str]:
    """What a scenario's ``{placeholder}`` in an expected diagnosis stands for with this profile."""
    words = {f"{{env:{p}}}": " / ".join(holding(profile.env, p)) or p
             for p in ("node_id", "center_url", "center_host", "center_port", "metadata_url")}
    if profile.config is not None:
        words["{config_mount}"] = profile.config.mount
        words["{config_file}"] = f"{profile.config.mount.rstrip('/')}/{profile.config.file or ''}"
    return words


@register
class Diagnosis(_AfterExit):
    """The agent names the cause: its first ``preflight_fail`` event has ``check`` and a subject
    containing ``subject`` (and ``cause``/``hint`` substrings when given), and its stderr line
    ``PREFLIGHT FAIL <check> <subject>: <cause> (hint: <fix>)`` says the same. A generic message
    ("preflight failed") for every failure does not pass."""

    type: Literal["diagnosis"] = "diagnosis"
    check: str = Field(description="the preflight check that must be named (env, config-missing, device...)")
    subject: str | None = Field(None, description="substring of the subject (a path, a variable, a host); "
                                "`{env:node_id}` stands for the variable of the profile's env that holds "
                                "it, `{config_mount}` and `{config_file}` for the profile's config paths")
    cause: str | None = Field(None, description="substring of the cause")
    hint: str | None = Field(None, description="substring of the hint")
    within_s: float = Field(30, gt=0, description="seconds after the agent container started")

    profile_needs: ClassVar[tuple[str, ...]] = ("signals.match.preflight_fail",)

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        events = ctx.signal("preflight_fail")
        wants_line = ctx.declares("preflight_line")
        lines = ctx.signal("preflight_line")
        if not events:
            if _settling(ctx) and not final:
                return None  # the log collector may still be delivering the last lines
            if ctx.agent_exited() is not None or self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
                return self.verdict("fail", f"no preflight_fail signal within {self.within_s} s; expected one "
                                            f"naming check {self.check!r}"
                                    + (f"; the agent said: {lines[0].get('line')}" if lines else ""))
            return None
        first = events[0]
        said = {k: str(first.get(k) or "") for k in ("check", "subject", "cause", "hint")}
        names = profile_words(ctx.profile)
        measured = {**said, "exit_code": first.get("exit_code"), "line": lines[0].get("line") if lines else None}
        problems = []
        if said["check"] != self.check:
            problems.append(f"check {said['check']!r}, expected {self.check!r}")
        for key in ("subject", "cause", "hint"):
            want = getattr(self, key)
            for placeholder, word in names.items():
                want = None if want is None else want.replace(placeholder, word)
            if want is not None and want.lower() not in said[key].lower():
                problems.append(f"{key} {said[key]!r} does not mention {want!r}")
        if wants_line and not lines:
            if not final and (ctx.agent_exited() is None or _settling(ctx)):
                return None  # the diagnosis line may follow
            problems.append("no diagnosis line (the profile's preflight_line signal)")
        elif wants_line and (str(lines[0].get("check")) != said["check"]
                             or str(lines[0].get("subject")) != said["subject"]):
            problems.append(f"the diagnosis line disagrees with the event: {lines[0].get('line')!r}")
        text = f"{said['check']} {said['subject']}: {said['cause']} (hint: {said['hint']})"
        if problems:
            return self.verdict("fail", f"diagnosis {text!r} — " + "; ".join(problems), **measured)
        return self.verdict("pass", f"named: {text}", **measured)


@register
class LogSays(_AfterExit):
    """A line of the agent's output (stdout or stderr, JSON or not) matches ``pattern``."""

    type: Literal["log_says"] = "log_says"
    pattern: str = Field(description="Python regular expression, searched in each line")
    within_s: float = Field(30, gt=0, description="seconds after the agent container started")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        regex = re.compile(self.pattern)
        for line in ctx.lines():
            if regex.search(line):
                return self.verdict("pass", f"the agent said: {line}", line=line)
        if _settling(ctx) and not final:
            return None
        if ctx.agent_exited() is not None or self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
            seen = ctx.lines()[-3:]
            return self.verdict("fail", f"no line matching /{self.pattern}/ (within {self.within_s} s or before exit); "
                                        f"last plain lines: {seen}", last_lines=seen)
        return None


@register
class Says(_AfterExit):
    """The agent gave the signal ``signal`` (a declared one: ``rejected``, ``preflight_warn``...)
    with fields equal to ``fields`` and containing the texts of ``contains``, within ``within_s``."""

    type: Literal["says"] = "says"
    signal: str = Field(description="a signal of harness/events.py the profile declares")
    fields: dict[str, Any] = Field({}, description="field → value it must equal")
    contains: dict[str, str] = Field({}, description="field → text it must contain (case-insensitive)")
    within_s: float = Field(30, gt=0, description="seconds after the agent container started")

    def missing(self, profile) -> list[str]:
        return [f"signals.match.{self.signal}"] if profile.lacks(f"signals.match.{self.signal}") else []

    def _fits(self, event) -> bool:
        return (all(str(event.get(k)) == str(v) for k, v in self.fields.items())
                and all(v.lower() in str(event.get(k) or "").lower() for k, v in self.contains.items()))

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        seen = ctx.signal(self.signal)
        fit = next((e for e in seen if self._fits(e)), None)
        if fit is not None:
            return self.verdict("pass", f"the agent said ({self.signal}): {fit.get('line')}", line=fit.get("line"))
        if _settling(ctx) and not final:
            return None
        if ctx.agent_exited() is not None or self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
            said = f"; it said: {seen[0].get('line')}" if seen else ""
            return self.verdict("fail", f"no {self.signal} signal with {self.fields or ''}{self.contains or ''} "
                                        f"within {self.within_s} s or before exit{said}", seen=len(seen))
        return None


@register
class NeverReady(Check):
    """Readiness never became true: startle's ready probe never said yes, and the agent never
    claimed it (its ``ready`` signal, when declared).

    Decided as a pass when the agent exits (``until: exit``) or when ``within_s`` has passed."""

    type: Literal["never_ready"] = "never_ready"
    within_s: float = Field(30, gt=0, description="seconds after the agent container started to watch")
    until: Literal["exit", "deadline"] = "exit"
    profile_needs: ClassVar[tuple[str, ...]] = ("health.ready",)

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started or ctx.timeline.start
        claim, probe = ctx.stage_claim("ready"), ctx.stage_ok("ready")
        if claim or probe:
            first = min(e.t for e in (claim, probe) if e is not None)
            how = f"the ready probe said yes ({probe.get('detail')})" if probe else "it claimed readiness"
            return self.verdict("fail", f"became ready {first - start:.2f} s after start ({how}); readiness "
                                        "must stay false", ready_after_s=round(first - start, 3))
        died = ctx.agent_exited()
        if self.until == "exit" and died is not None:
            return self.verdict("pass", f"never ready; exited with code {died.get('exit_code')} "
                                        f"{died.t - start:.2f} s after start", exit_code=died.get("exit_code"))
        if self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
            return self.verdict("pass", f"never ready within {self.within_s} s of start")
        return None


@register
class OomKilled(Check):
    """The agent was killed by the OOM killer within ``within_s``: Docker's ``oom`` event, then a
    ``die`` (137) — classified as OOM, not as a crash. The peak memory comes from the cgroup
    (``harness``/``memory`` events of the ``memory_limit`` fault)."""

    type: Literal["oom_killed"] = "oom_killed"
    within_s: float = Field(gt=0, description="seconds after the agent container started")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        oom = ctx.timeline.first("docker", "oom", lambda e: e.container == "agent")
        died = ctx.agent_exited()
        memory = ctx.timeline.select("harness", "memory")
        peak = max((m.get("peak_mib") or 0 for m in memory), default=None)
        limit = next((m.get("limit_mib") for m in memory if m.get("limit_mib")), None)
        if oom is not None and start is not None:
            if died is None or (not memory and not final):
                return None  # wait for the die event and the peak reading
            took = oom.t - start
            measured = {"oom_after_s": round(took, 3), "exit_code": died.get("exit_code"),
                        "peak_mib": peak, "limit_mib": limit, "oom_events": len(ctx.timeline.select(
                            "docker", "oom", lambda e: e.container == "agent"))}
            where = f"peak {peak} MiB of a {limit} MiB limit" if peak else "peak memory not read"
            if took > self.within_s:
                return self.verdict("fail", f"OOM-killed only {took:.2f} s after start (bound {self.within_s} s); "
                                            f"{where}", **measured)
            return self.verdict("pass", f"OOM-killed {took:.2f} s after start (Docker oom event, exit "
                                        f"{died.get('exit_code')}); {where}", **measured)
        if died is not None and oom is None:
            if not final and died.get("exit_code") == 137 and ctx.clock() < died.t + 2:
                return None  # the oom event may trail the die event
            return self.verdict("fail", f"the agent exited with code {died.get('exit_code')} without an OOM kill "
                                        f"({died.t - (start or died.t):.2f} s after start): a crash, not OOM",
                                exit_code=died.get("exit_code"), peak_mib=peak)
        if self.deadline_from(start, self.within_s, ctx, final):
            return self.verdict("fail", f"no OOM kill within {self.within_s} s of start (peak {peak} MiB)",
                                peak_mib=peak)
        return None

    def wake_at(self, ctx: CheckContext) -> float | None:
        died = ctx.agent_exited()
        if died is not None:
            return died.t + 2.01
        return super().wake_at(ctx)


@register
class SecurityContext(Check):
    """The agent container as Docker holds it (recorded at its start): never ``--privileged``, a
    non-root user, ``cap_drop`` ALL with no capability added beyond ``allowed_caps``, no
    supplementary group beyond ``allowed_groups``."""

    type: Literal["security_context"] = "security_context"
    allowed_groups: list[str] = []
    allowed_caps: list[str] = []
    within_s: float = Field(10, gt=0, description="seconds after start by which the container was inspected")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        seen = ctx.timeline.first("harness", "agent_config")
        if seen is None:
            if self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
                return self.verdict("fail", "the agent container was never inspected (no agent_config event; "
                                            "the scenario needs a fault that watches the agent)")
            return None
        problems = []
        if seen.get("privileged"):
            problems.append("runs --privileged")
        user = str(seen.get("user") or "")
        if user.split(":")[0] in ("", "0", "root"):
            problems.append(f"runs as root (user {user!r})")
        if "ALL" not in [c.upper() for c in seen.get("cap_drop") or []]:
            problems.append(f"capabilities not dropped (cap_drop {seen.get('cap_drop')})")
        extra_caps = [c for c in seen.get("cap_add") or [] if c not in self.allowed_caps]
        if extra_caps:
            problems.append(f"capabilities added beyond {self.allowed_caps}: {extra_caps}")
        extra_groups = [g for g in seen.get("group_add") or [] if g not in self.allowed_groups]
        if extra_groups:
            problems.append(f"groups added beyond {self.allowed_groups}: {extra_groups}")
        measured = {k: seen.get(k) for k in ("privileged", "user", "cap_drop", "cap_add", "group_add", "devices")}
        if problems:
            return self.verdict("fail", "; ".join(problems), **measured)
        return self.verdict("pass", f"not privileged, user {user}, cap_drop {seen.get('cap_drop')}, "
                                    f"cap_add {seen.get('cap_add')}, groups {seen.get('group_add')}, "
                                    f"devices {seen.get('devices')}", **measured)


@register
class Region(Check):
    """The agent's region is ``expected`` and came from ``source`` (its ``region`` event); with
    ``source: metadata`` the center must also have served its declared ``metadata`` route before the
    first registration attempt."""

    type: Literal["region"] = "region"
    expected: str
    source: Literal["env", "metadata"] = "metadata"
    within_s: float = Field(20, gt=0, description="seconds after the agent container started")
    profile_needs: ClassVar[tuple[str, ...]] = ("signals.match.region", "center.metadata")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        events = ctx.signal("region")
        if not events:
            if self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
                return self.verdict("fail", f"no region event within {self.within_s} s")
            return None
        got = events[0]
        region, source = got.get("region"), got.get("source")
        measured = {"region": region, "source": source}
        if region != self.expected or source != self.source:
            return self.verdict("fail", f"region {region!r} from {source!r}; expected {self.expected!r} "
                                        f"from {self.source!r}" + (f" (error: {got.get('error')})"
                                                                   if got.get("error") else ""), **measured)
        if self.source == "metadata":
            served = [e for e in ctx.metadata_requests() if e.get("status") == 200]
            if not served:
                if final or ctx.register_requests():
                    return self.verdict("fail", f"the agent says region {region!r} came from metadata, but the "
                                                f"center served no {ctx.profile.center.metadata}", **measured)
                return None
            measured["metadata_requests"] = len(served)
        return self.verdict("pass", f"region {region!r} from {source}", **measured)


@register
class ConfigPickedUp(Check):
    """The agent waited for a config that was not there yet and loaded it once it appeared:
    a ``config_wait`` event before the ``config_mount`` fault wrote the file, and ``config_loaded``
    at most ``within_s`` after that (the agent's own wait is polled, CONTRACT.md)."""

    type: Literal["config_picked_up"] = "config_picked_up"
    within_s: float = Field(2.0, gt=0, description="seconds from the file appearing to config_loaded")
    profile_needs: ClassVar[tuple[str, ...]] = ("signals.match.config_wait", "signals.match.config_loaded", "config.file")

    def anchor(self, ctx: CheckContext) -> float | None:
        applied = [e for e in ctx.timeline.select("fault", "applied") if e.get("fault") == "config_mount"]
        return applied[-1].t if applied else None

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        waited = ctx.signal("config_wait")
        loaded = ctx.signal("config_loaded")
        appeared = self.anchor(ctx)
        if loaded and appeared is None:
            return self.verdict("fail", "the agent loaded a config before the harness wrote one")
        if loaded and appeared is not None:
            if not waited or waited[0].t > appeared:
                return self.verdict("fail", "the agent loaded the config without waiting for it (no config_wait "
                                            "event before the file appeared)")
            took = loaded[0].t - appeared
            measured = {"pickup_s": round(took, 3), "waited_s": loaded[0].get("waited_s"),
                        "wait_started_after_s": round(waited[0].t - (ctx.agent_started or waited[0].t), 3)}
            if took < 0:
                return self.verdict("fail", f"config_loaded {-took:.2f} s before the file appeared", **measured)
            if took > self.within_s:
                return self.verdict("fail", f"config loaded {took:.2f} s after it appeared; the bound is "
                                            f"{self.within_s} s", **measured)
            return self.verdict("pass", f"waited for the config, loaded it {took:.2f} s after it appeared "
                                        f"(bound {self.within_s} s)", **measured)
        died = ctx.agent_exited()
        if died is not None and not loaded:
            return self.verdict("fail", f"the agent exited with code {died.get('exit_code')} without loading the "
                                        "config" + ("" if waited else " (it never waited for it)"))
        if final or (appeared is not None and ctx.clock() > appeared + self.within_s):
            return self.verdict("fail", f"config not loaded within {self.within_s} s after it appeared")
        return None


@register
class SlowerInit(Check):
    """Under a resource limit the agent is still ready within ``within_s`` (the launcher's deadline),
    and the slowdown against an unlimited run of the same agent (the ``native_baseline`` fault,
    listed before the limiting fault so that its copy keeps the profile's limits) is measured and
    at least ``min_ratio`` (proof the limit was in force). Ready = Docker ``start`` → the ready probe's yes."""

    type: Literal["slower_init"] = "slower_init"
    within_s: float = Field(gt=0, description="seconds after the agent container started")
    min_ratio: float = Field(1.5, gt=0, description="limited / unlimited ready time at least this")
    profile_needs: ClassVar[tuple[str, ...]] = ("health.ready",)

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        start = ctx.agent_started
        ready = ctx.stage_ok("ready")
        native = ctx.timeline.first("harness", "native_ready")
        if start is not None and ready is not None:
            took = round(ready.t - start, 3)
            measured = {"ready_s": took}
            if took > self.within_s:
                return self.verdict("fail", f"ready only {took} s after start; the deadline is {self.within_s} s",
                                    **measured)
            if native is None:
                return self.verdict("fail", f"ready in {took} s, but no unlimited run was measured (add the "
                                            "native_baseline fault before the limit)", **measured)
            base = float(native.get("ready_after_s"))
            ratio = round(took / max(base, 1e-3), 2)
            measured.update(unlimited_ready_s=base, slowdown_x=ratio)
            if ratio < self.min_ratio:
                return self.verdict("fail", f"ready in {took} s vs {base} s unlimited: only {ratio}x slower, "
                                            f"expected at least {self.min_ratio}x (was the limit applied?)", **measured)
            return self.verdict("pass", f"ready in {took} s vs {base} s unlimited ({ratio}x slower), within the "
                                        f"{self.within_s} s deadline", **measured)
        if self.deadline_from(start, self.within_s, ctx, final):
            died = ctx.agent_exited()
            return self.verdict("fail", f"not ready within the {self.within_s} s deadline"
                                + (f"; exited with code {died.get('exit_code')}" if died else ""))
        return None
