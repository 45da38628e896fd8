"""How a start that must fail ends, as Docker saw the container.

* ``exits``       the agent container exits with the profile's code for the cause (Docker's ``die``)
* ``oom_killed``  killed by the kernel's OOM killer (Docker's ``oom`` event), not "crashed"; the
                  cgroup's peak memory reported
* ``stops_gracefully``  on ``docker stop`` it exits by itself, with its ``stopped`` code, in the grace
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.checks.base import Check, CheckContext, Verdict, register


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
            if died.get("exit_code") != 137:
                return self.verdict("fail", f"an OOM kill in the container {took:.2f} s after start (Docker oom "
                                            f"event), but the agent exited with code {died.get('exit_code')}, not "
                                            f"137: the kill was turned into a crash code; {where}", **measured)
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
class StopsGracefully(Check):
    """Stopped the way Docker stops it (``agent_stop``: SIGTERM, SIGKILL after the grace), the agent
    exits by itself with the profile's ``stopped`` code before the grace ends — not killed (137)."""

    type: Literal["stops_gracefully"] = "stops_gracefully"
    reason: str = Field("stopped", description="the key of the profile's exit_codes for a requested stop")

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        sent = ctx.timeline.first("harness", "stop_sent")
        if sent is None:
            return self.verdict("fail", "startle never stopped the agent (add the agent_stop fault)") if final else None
        expected, grace = ctx.profile.exit_codes[self.reason], float(sent.get("grace_s"))
        died = ctx.timeline.first("docker", "die", lambda e: e.container == "agent" and e.t >= sent.t)
        if died is None:
            return self.verdict("fail", f"still running {grace:g} s after docker stop") if final else None
        took, code = round(died.t - sent.t, 3), died.get("exit_code")
        measured = {"exit_code": code, "stopped_after_s": took, "grace_s": grace}
        if code == 137 or took > grace + 0.5:
            return self.verdict("fail", f"ignored SIGTERM: killed after the {grace:g}-s grace (exit {code}, "
                                        f"{took} s after docker stop)", **measured)
        if code != expected:
            return self.verdict("fail", f"exited {took} s after SIGTERM with code {code}; the profile's "
                                        f"{self.reason} code is {expected}", **measured)
        return self.verdict("pass", f"exited by itself {took} s after SIGTERM with code {code} (grace {grace:g} s)",
                            **measured)
