"""The launcher's upgrade path: a bad v2 is rolled back to the last known good, a good v2 stays.

Read from the ``launcher`` events that ``harness/faults/launcher_upgrade.py`` records (the
launcher's exit codes and lines, and after each step the running container's image, the state
file and the center's record of the node), the center's request log and Docker's events.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, register
from harness.timeline import Event

def _step(ctx: CheckContext, kind: str, step: str) -> Event | None:
    return ctx.timeline.first("launcher", kind, lambda e: e.get("step") == step)


def _facts(ctx: CheckContext) -> dict[str, Any]:
    install_exit = _step(ctx, "exit", "install")
    upgrade = _step(ctx, "invoke", "upgrade")
    upgrade_exit = _step(ctx, "exit", "upgrade")
    state = _step(ctx, "state", "upgrade")
    v1 = _step(ctx, "invoke", "install")
    return {"install_exit": install_exit, "upgrade": upgrade, "upgrade_exit": upgrade_exit, "state": state,
            "v1_image": v1.get("image") if v1 else None, "v2_image": upgrade.get("image") if upgrade else None,
            "done": ctx.timeline.first("launcher", "done")}


def _registrations_after(ctx: CheckContext, t: float) -> list:
    return [a for a in ctx.registrations(prefer="center") if a.t >= t]


class _LauncherCheck(Check):
    within_s: float = Field(gt=0, description="seconds from the upgrade's start to the launcher's exit")
    promise_needs: ClassVar[tuple[str, ...]] = ("launcher",)

    @staticmethod
    def code(ctx: CheckContext, meaning: str) -> int | None:
        """The launcher's declared exit code for ``meaning`` (ok, rolled_back)."""
        return ctx.profile.launcher.exit_codes.get(meaning) if ctx.profile.launcher else None

    @staticmethod
    def last_known_good(ctx: CheckContext, state: dict[str, Any]) -> str | None:
        """The image the launcher's state file names, when the profile says where (else None)."""
        key = ctx.profile.launcher.state_image_key if ctx.profile.launcher else None
        return (state.get("state_file") or {}).get(key) if key else None

    def anchor(self, ctx: CheckContext) -> float | None:
        upgrade = _step(ctx, "invoke", "upgrade")
        return upgrade.t if upgrade else None

    def _precondition(self, ctx: CheckContext, f: dict[str, Any], final: bool) -> Verdict | None:
        if f["install_exit"] is not None and f["install_exit"].get("code") != self.code(ctx, "ok"):
            lines = [e.get("line") for e in ctx.timeline.select("launcher", "line") if e.get("step") == "install"]
            return self.verdict("fail", f"installing v1 failed: the launcher exited {f['install_exit'].get('code')} "
                                        f"({lines[-1] if lines else 'no output'})",
                                install_exit=f["install_exit"].get("code"))
        if f["upgrade"] is None and (final or f["done"] is not None):
            return self.verdict("fail", "the launcher never ran the upgrade")
        return None

    def _finished_upgrade(self, ctx: CheckContext, final: bool, late: str) -> tuple[dict | None, Verdict | None]:
        """(facts, None) once the upgrade step has exited and its state is recorded; (None, verdict)
        when the check is decided before that (precondition failed, or ``late`` past the deadline);
        (None, None) while undecided."""
        f = _facts(ctx)
        early = self._precondition(ctx, f, final)
        if early is not None:
            return None, early
        if f["upgrade"] is None:
            return None, None
        if f["upgrade_exit"] is None or f["state"] is None:
            if self.deadline_from(f["upgrade"].t, self.within_s, ctx, final):
                return None, self.verdict("fail", late)
            return None, None
        return f, None


@register
class RolledBack(_LauncherCheck):
    """Upgrade to a v2 that never becomes ready: the launcher exits with its declared ``rolled_back``
    code within ``within_s`` of the upgrade's start, v1 runs again, registered again after the
    upgrade began; last known good = v1 (when the profile says where the launcher keeps it)."""

    type: Literal["rolled_back"] = "rolled_back"

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        f, decided = self._finished_upgrade(ctx, final, f"the launcher had not finished the upgrade "
                                                        f"{self.within_s} s after it began (no rollback within the deadline)")
        if f is None:
            return decided
        start = f["upgrade"].t
        code = f["upgrade_exit"].get("code")
        took = round(f["upgrade_exit"].t - start, 3)
        state = f["state"]
        running = state.get("running") or {}
        lkg = self.last_known_good(ctx, state)
        node = state.get("center_node") or {}
        regs = _registrations_after(ctx, start)
        rolled_back = self.code(ctx, "rolled_back")
        m = {"launcher_exit": code, "rollback_s": took, "running_image": running.get("image"),
             "running_status": running.get("status"), "last_known_good": lkg, "v1": f["v1_image"],
             "v2": f["v2_image"], "registrations_after_upgrade": len(regs), "center_version": node.get("version")}
        problems = []
        if code != rolled_back:
            problems.append(f"the launcher exited {code}, expected {rolled_back} (rolled back)")
        if took > self.within_s:
            problems.append(f"it took {took} s, the bound is {self.within_s} s")
        if running.get("image") != f["v1_image"] or running.get("status") != "running":
            problems.append(f"running afterwards: {running.get('image') or 'nothing'} "
                            f"({running.get('status') or '-'}), expected v1 {f['v1_image']}")
        if ctx.profile.launcher.state_image_key and lkg != f["v1_image"]:
            problems.append(f"last known good is {lkg!r}, expected v1 {f['v1_image']}")
        v1_version = _step(ctx, "invoke", "install").get("version")
        if node and node.get("version") != v1_version:
            problems.append(f"the center has the node at version {node.get('version')}, expected v1 {v1_version}")
        if not regs:
            problems.append("v1 did not register with the center again after the upgrade began")
        if problems:
            return self.verdict("fail", "; ".join(problems), **m)
        return self.verdict("pass", f"bad v2 rolled back: launcher exit {code} {took} s after the upgrade "
                                    f"began (bound {self.within_s} s); v1 running and registered again "
                                    f"({len(regs)} registration(s)); last known good {lkg}", **m)


@register
class Upgraded(_LauncherCheck):
    """Upgrade to a good v2: the launcher exits with its ``ok`` code within ``within_s``, v2 runs,
    registers, is recorded as last known good (when declared), and stays up ``stays_s`` afterwards."""

    type: Literal["upgraded"] = "upgraded"
    stays_s: float = Field(5, ge=0, description="seconds after the launcher's exit v2 must keep running")

    def wake_at(self, ctx: CheckContext) -> float | None:
        done = _step(ctx, "exit", "upgrade")
        if done is not None:
            return done.t + self.stays_s + 0.01
        return super().wake_at(ctx)

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        f, decided = self._finished_upgrade(ctx, final, f"the launcher had not finished the upgrade "
                                                        f"{self.within_s} s after it began")
        if f is None:
            return decided
        start = f["upgrade"].t
        code = f["upgrade_exit"].get("code")
        end = f["upgrade_exit"].t
        took = round(end - start, 3)
        state = f["state"]
        running = state.get("running") or {}
        lkg = self.last_known_good(ctx, state)
        node = state.get("center_node") or {}
        regs = _registrations_after(ctx, start)
        ready = self.code(ctx, "ok")
        died = ctx.timeline.first("docker", "die", lambda e: e.container == "agent" and e.t > end)
        m = {"launcher_exit": code, "upgrade_s": took, "running_image": running.get("image"),
             "last_known_good": lkg, "v2": f["v2_image"], "center_version": node.get("version"),
             "registrations_after_upgrade": len(regs)}
        problems = []
        if code != ready:
            problems.append(f"the launcher exited {code}, expected {ready}")
        if took > self.within_s:
            problems.append(f"it took {took} s, the bound is {self.within_s} s")
        if running.get("image") != f["v2_image"]:
            problems.append(f"running afterwards: {running.get('image') or 'nothing'}, expected v2 {f['v2_image']}")
        if ctx.profile.launcher.state_image_key and lkg != f["v2_image"]:
            problems.append(f"last known good is {lkg!r}, expected v2 {f['v2_image']}")
        if not regs:
            problems.append("v2 never registered with the center")
        elif node and node.get("version") != f["upgrade"].get("version"):
            problems.append(f"the center has the node at version {node.get('version')}, expected v2 "
                            f"{f['upgrade'].get('version')}")
        if died is not None and died.t <= end + self.stays_s:
            problems.append(f"the agent container died {died.t - end:.2f} s after the upgrade (exit "
                            f"{died.get('exit_code')}); it must stay up {self.stays_s} s")
        if problems:
            return self.verdict("fail", "; ".join(problems), **m)
        if ctx.clock() < end + self.stays_s and not final:
            return None
        registered = (f"registered as version {node.get('version')}" if node
                      else f"registered ({len(regs)} registration(s))")
        return self.verdict("pass", f"upgraded to v2 in {took} s (bound {self.within_s} s), {registered}, "
                                    f"last known good {lkg}, still up {self.stays_s} s later", **m)
