"""What the agent says about a failure.

* ``diagnosis``  its preflight diagnosis names the expected check and subject (its
                 ``preflight_fail`` signal, and its ``preflight_line`` when declared, agree)
* ``says``       it gave a declared signal with given fields (``rejected`` with 422)
* ``log_says``   a line of its output matches a pattern (for a user's own scenarios: the text is
                 the agent's own; built-in scenarios use ``says``)
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.checks.base import AfterExit, CheckContext, Verdict, register, settling
from harness.faults.env import holding


def profile_words(profile) -> dict[str, str]:
    """What a scenario's ``{placeholder}`` in an expected diagnosis stands for with this profile."""
    words = {f"{{env:{p}}}": " / ".join(holding(profile.env, p)) or p
             for p in ("node_id", "center_url", "center_host", "center_port", "metadata_url")}
    if profile.config is not None:
        words["{config_mount}"] = profile.config.mount
        words["{config_file}"] = f"{profile.config.mount.rstrip('/')}/{profile.config.file or ''}"
    return words


@register
class Diagnosis(AfterExit):
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
            if settling(ctx) and not final:
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
            if not final and (ctx.agent_exited() is None or settling(ctx)):
                return None  # the diagnosis line may follow
            problems.append("no diagnosis line (the profile's preflight_line signal)")
        elif wants_line and (str(lines[0].get("check")) != said["check"]
                             or str(lines[0].get("subject")) != said["subject"]):
            problems.append(f"the diagnosis line disagrees with the event: {lines[0].get('line')!r}")
        text = f"{said['check']} {said['subject']}: {said['cause']}" + (f" (hint: {said['hint']})" if said['hint'] else "")
        if problems:
            return self.verdict("fail", f"diagnosis {text!r} — " + "; ".join(problems), **measured)
        return self.verdict("pass", f"named: {text}", **measured)


@register
class LogSays(AfterExit):
    """A line of the agent's output (stdout or stderr, JSON or not) matches ``pattern``."""

    type: Literal["log_says"] = "log_says"
    pattern: str = Field(description="Python regular expression, searched in each line")
    within_s: float = Field(30, gt=0, description="seconds after the agent container started")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        regex = re.compile(self.pattern)
        for line in ctx.lines():
            if regex.search(line):
                return self.verdict("pass", f"the agent said: {line}", line=line)
        if settling(ctx) and not final:
            return None
        if ctx.agent_exited() is not None or self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
            seen = ctx.lines()[-3:]
            return self.verdict("fail", f"no line matching /{self.pattern}/ (within {self.within_s} s or before exit); "
                                        f"last plain lines: {seen}", last_lines=seen)
        return None


@register
class Says(AfterExit):
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
        if settling(ctx) and not final:
            return None
        if ctx.agent_exited() is not None or self.deadline_from(ctx.agent_started, self.within_s, ctx, final):
            said = f"; it said: {seen[0].get('line')}" if seen else ""
            return self.verdict("fail", f"no {self.signal} signal with {self.fields or ''}{self.contains or ''} "
                                        f"within {self.within_s} s or before exit{said}", seen=len(seen))
        return None
