"""What the agent saw of a network fault, and whether its traffic came back afterwards.

* ``error_kind``     diagnosis: while the faults were in force, the agent's failed attempts
                     (``register_result``, or ``heartbeat``) name the expected kind of error
                     (``timeout``, ``refused``, ``closed``, ``reset``, ``dns``, ...; the agent's
                     ``error`` field is ``<kind>: <detail>``) — at least ``min_count`` of them, and
                     no other kind; and, where the wire was tapped, no kind the wire belies (a
                     ``timeout`` named for a connection the proxy refused at once).
* ``request_time``   the agent's successful registration took between ``min_ms`` and ``max_ms``
                     (its own ``register_result.elapsed_ms``): a latency toxic was felt, and survived.
                     An agent that times its attempts and logged no successful one fails (the
                     center may have accepted a request whose answer the agent gave up on).
* ``resumes``        the center answers 200 on ``path`` (e.g. heartbeats) within ``within_s`` after the
                     last fault cleared: the agent's traffic recovered without a restart.
* ``no_restart``     the agent container did not die in the ``within_s`` after its start.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, ok_status, register


WIRE_OUTCOMES = {"refused": {"refused"}, "closed": {"closed", "reset"}, "reset": {"closed", "reset"},
                 "timeout": {"timed_out", "abandoned", "open"}}
"""The wire's outcomes (harness/wire.py) that agree with each error kind an agent may name."""


def in_windows(t: float, ctx: CheckContext, fault_types: list[str] | None) -> bool:
    return any(w.start <= t <= (w.end if w.end is not None else float("inf"))
               for w in ctx.fault_windows() if not fault_types or w.fault in fault_types)


@register
class ErrorKind(Check):
    type: Literal["error_kind"] = "error_kind"
    event: str = Field("attempt_result", description="the agent's signal that names the error (`error` field)")
    kinds: list[str] = Field(min_length=1, description="error kinds the agent may name during the fault")
    min_count: int = Field(1, ge=1)
    faults: list[str] | None = Field(None, description="fault types whose windows count (default: all)")
    wire_lookback_s: float = Field(3.0, gt=0, description="a failure's own connection began at most this long "
                                   "before it was logged, seconds (the agent's request timeout, and a margin)")

    def missing(self, profile) -> list[str]:
        return [f"signals.match.{self.event}"] if profile.lacks(f"signals.match.{self.event}") else []

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        windows = [w for w in ctx.fault_windows() if not self.faults or w.fault in self.faults]
        if not windows:
            return self.verdict("fail", "no fault window on the timeline") if final else None
        if not final and any(w.end is None for w in windows):
            return None
        if not ctx.declares(self.event):
            return self.verdict("fail", f"the profile declares no {self.event} signal")
        failed = [e for e in ctx.signal(self.event) if e.get("error") and in_windows(e.t, ctx, self.faults)]
        errors = [str(e.get("error")) for e in failed]
        kinds = [err.split(":", 1)[0] for err in errors]
        counts = {k: kinds.count(k) for k in sorted(set(kinds))}
        wrong = [err for err, k in zip(errors, kinds) if k not in self.kinds]
        if wrong:
            return self.verdict("fail", f"the agent named the wrong cause: '{wrong[0]}' (expected "
                                        f"{' or '.join(self.kinds)}); kinds seen {counts}", kinds=counts)
        belied = self.belied(ctx, failed, kinds)
        if belied:
            return self.verdict("fail", belied, kinds=counts)
        if len(errors) < self.min_count:
            return self.verdict("fail", f"{len(errors)} failed {self.event} during the fault named a cause; need "
                                        f"{self.min_count} ({' or '.join(self.kinds)})", kinds=counts)
        return self.verdict("pass", f"{len(errors)} failed attempts during the fault, each naming "
                                    f"{' or '.join(self.kinds)}: e.g. '{errors[0]}'", kinds=counts)

    def belied(self, ctx: CheckContext, failed: list, kinds: list[str]) -> str | None:
        """The first failure whose named kind the wire contradicts: every unanswered connection of
        the agent toward the center in the ``wire_lookback_s`` before it was logged ended otherwise
        (None when the wire saw none: not tapped, or no TCP toward the center)."""
        wire = ctx.wire()
        for event, kind in zip(failed, kinds):
            agree = WIRE_OUTCOMES.get(kind)
            seen = [w for w in wire if event.t - self.wire_lookback_s <= w.t <= event.t
                    and w.get("outcome") != "answered"]
            if agree is None or not seen or any(w.get("outcome") in agree for w in seen):
                continue
            outcomes = sorted({str(w.get("outcome")) for w in seen})
            return (f"the agent named '{event.get('error')}', but on the wire its connection(s) of the "
                    f"{self.wire_lookback_s:g} s before were {' / '.join(outcomes)}: not a {kind}")
        return None


@register
class RequestTime(Check):
    type: Literal["request_time"] = "request_time"
    min_ms: float = Field(0, ge=0, description="the successful registration took at least this")
    max_ms: float = Field(gt=0, description="and at most this, milliseconds")
    for_bytes: int | None = Field(None, gt=0, description="the bytes (both ways) min_ms was reckoned for: when "
                                  "the wire saw another size, min_ms scales with it (a per-byte toxic)")

    def missing(self, profile) -> list[str]:
        if profile.center.protocol == "tcp" or not profile.lacks("signals.match.attempt_result"):
            return []
        return ["signals.match.attempt_result (with elapsed_ms), or center.protocol tcp (timed on the wire)"]

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        """The agent's own ``elapsed_ms`` of its first successful attempt when it logs one; else (a TCP
        protocol) the first answered connection on the wire, SYN to the center's first byte."""
        timed = [e for e in ctx.signal("attempt_result") if e.get("elapsed_ms") is not None]
        logged = [e for e in timed if ok_status(e.get("status"))]
        answered = [e for e in ctx.wire() if e.get("outcome") == "answered"] if ctx.profile.center.protocol == "tcp" \
            else []
        least = self.min_ms
        if logged:
            took, source = float(logged[0].get("elapsed_ms")), "the agent's attempt_result"
        elif answered:
            took, source = float(answered[0].get("duration_s")) * 1000.0, "the wire (SYN to the center's first byte)"
            size = (answered[0].get("bytes_to_server") or 0) + (answered[0].get("bytes_from_server") or 0)
            if self.for_bytes and size:
                least = self.min_ms * min(1.0, size / self.for_bytes)
                source += f", {size} bytes: at least {least:.0f} ms"
        elif final and timed:  # the agent times its attempts: no successful one logged means none succeeded
            last = timed[-1]
            return self.verdict("fail", f"none of the agent's {len(timed)} timed attempts succeeded (the last: "
                                        f"{last.get('error') or last.get('status')}, after "
                                        f"{float(last.get('elapsed_ms')):.0f} ms)"
                                + ("; the center accepted a registration whose answer never reached the agent"
                                   if ctx.registrations().items else ""), attempts=len(timed))
        elif final and ctx.profile.center.protocol != "tcp" and ctx.registrations().items:
            return self.skip("the agent logs no elapsed time of its successful attempt, and one HTTP request "
                             "cannot be told from another on the wire")
        else:
            return self.verdict("fail", "no successful registration timed (the agent's log or the wire)") \
                if final else None
        status = "pass" if least <= took <= self.max_ms else "fail"
        return self.verdict(status, f"the successful registration took {took:.0f} ms, from {source} "
                                    f"(allowed {least:.0f}–{self.max_ms:.0f} ms)", elapsed_ms=round(took, 1))


@register
class Resumes(Check):
    type: Literal["resumes"] = "resumes"
    within_s: float = Field(gt=0, description="seconds after the last fault cleared")
    promise_needs: ClassVar[tuple[str, ...]] = ("center.heartbeat",)
    """An agent with no declared heartbeat promises no traffic to resume: its scenario (heartbeats
    failing while the center flaps, after registration) does not apply."""

    def anchor(self, ctx: CheckContext) -> float | None:
        ends = [w.end for w in ctx.fault_windows()]
        return max(ends) if ends and None not in ends else None  # type: ignore[type-var]

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        cleared = self.anchor(ctx)
        if cleared is None:
            return self.verdict("fail", "the fault was never cleared during the run") if final else None
        route = ctx.profile.center.heartbeat
        after = [e for e in ctx.heartbeat_requests() if e.t >= cleared and (e.get("status") or 0) // 100 == 2]
        if after:
            took = after[0].t - cleared
            status = "pass" if took <= self.within_s else "fail"
            return self.verdict(status, f"{route} answered {after[0].get('status')} {took:.2f} s after the fault "
                                        f"cleared (bound {self.within_s} s)", resumed_after_s=round(took, 3))
        if self.deadline_from(cleared, self.within_s, ctx, final):
            return self.verdict("fail", f"no successful {route} within {self.within_s} s after the fault cleared")
        return None


@register
class NoRestart(Check):
    type: Literal["no_restart"] = "no_restart"
    within_s: float = Field(gt=0, description="seconds after the agent started during which it must not die")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        from harness.checks.restarts import lifetimes
        starts, dies = lifetimes(ctx)  # this agent's own (a same-named earlier scenario may leak events)
        start = starts[0] if starts else ctx.agent_started
        died = None if not dies else ctx.timeline.first("docker", "die", lambda e: e.t == dies[0][0])
        if died is not None and start is not None and died.t <= start + self.within_s:
            return self.verdict("fail", f"the agent container died (exit code {died.get('exit_code')}) "
                                        f"{died.t - (start or died.t):.2f} s after start")
        if self.deadline_from(start, self.within_s, ctx, final):
            return self.verdict("pass", f"the agent container did not die in the {self.within_s} s after its start")
        return None
