"""Where the agent's settings came from: its region (env or the metadata route), its config.

* ``region``            the region came from where it should
* ``config_picked_up``  a config that appeared late was waited for and loaded
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, ok_status, register


@register
class Region(Check):
    """The agent's region is ``expected`` and came from ``source`` (its ``region`` event); with
    ``source: metadata`` the center must also have served its declared ``metadata`` route before the
    first registration attempt."""

    type: Literal["region"] = "region"
    expected: str
    source: Literal["env", "metadata"] = "metadata"
    within_s: float = Field(20, gt=0, description="seconds after the agent container started")
    profile_needs: ClassVar[tuple[str, ...]] = ("signals.match.region",)
    promise_needs: ClassVar[tuple[str, ...]] = ("center.metadata",)

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
            served = [e for e in ctx.metadata_requests() if ok_status(e.get("status"))]
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
    at most ``within_s`` after that (the agent's own wait is polled, CONTRACT.md).

    The file appears somewhere between the harness's request (the event's ``requested``) and its
    call returning (the event's time); on a remote engine that window is an archive upload and an
    exec. A pickup is judged only when every moment of the window gives the same answer; otherwise
    the check says it cannot tell (skip, with the window)."""

    type: Literal["config_picked_up"] = "config_picked_up"
    within_s: float = Field(2.0, gt=0, description="seconds from the file appearing to config_loaded")
    profile_needs: ClassVar[tuple[str, ...]] = ("signals.match.config_wait", "signals.match.config_loaded", "config.file")

    def anchor(self, ctx: CheckContext) -> float | None:
        written = self._written(ctx)
        return written.start if written else None

    @staticmethod
    def _written(ctx: CheckContext):
        """The last ``config_mount`` window: the file appeared in [applied_from, start]."""
        return next((w for w in reversed(ctx.fault_windows()) if w.fault == "config_mount"), None)

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        waited = ctx.signal("config_wait")
        loaded = ctx.signal("config_loaded")
        written = self._written(ctx)
        if loaded and written is None:
            return self.verdict("fail", "the agent loaded a config before the harness wrote one")
        if loaded and written is not None:
            asked, appeared = written.applied_from or written.start, written.start  # earliest, latest
            if not waited or waited[0].t > appeared:
                return self.verdict("fail", "the agent loaded the config without waiting for it (no config_wait "
                                            "event before the file appeared)")
            most, least = loaded[0].t - asked, loaded[0].t - appeared  # pickup lies in [least, most]
            measured = {"pickup_s": round(most, 3), "write_window_s": round(appeared - asked, 3),
                        "waited_s": loaded[0].get("waited_s"),
                        "wait_started_after_s": round(waited[0].t - (ctx.agent_started or waited[0].t), 3)}
            if most < 0:
                return self.verdict("fail", f"config_loaded {-most:.2f} s before the harness began writing the "
                                            "file", **measured)
            if least > self.within_s:
                return self.verdict("fail", f"config loaded {least:.2f} s after it appeared; the bound is "
                                            f"{self.within_s} s", **measured)
            if most > self.within_s:
                return self.skip(f"config loaded {max(least, 0):.2f}–{most:.2f} s after it appeared (the write "
                                 f"took {appeared - asked:.2f} s); the bound {self.within_s} s lies inside",
                                 **measured)
            return self.verdict("pass", f"waited for the config, loaded it at most {most:.2f} s after it appeared "
                                        f"(bound {self.within_s} s)", **measured)
        died = ctx.agent_exited()
        if died is not None and not loaded:
            return self.verdict("fail", f"the agent exited with code {died.get('exit_code')} without loading the "
                                        "config" + ("" if waited else " (it never waited for it)"))
        if final or (written is not None and ctx.clock() > written.start + self.within_s):
            return self.verdict("fail", f"config not loaded within {self.within_s} s after it appeared")
        return None
