"""Typed expectations, evaluated on the timeline.

A check is a pydantic model (its parameters) with one method::

    evaluate(ctx, final) -> Verdict | None

It returns a verdict as soon as the timeline decides it (the run loop calls it after every new
event), or ``None`` while undecided. With ``final=True`` (the scenario's deadline passed, or every
other check is decided and the world is being torn down) it must decide.

A verdict is ``pass``, ``fail`` or ``skip``: a check that cannot decide (the fault was too short
for it, the agent too fast to measure) returns ``self.skip(reason)`` and never guesses; the
scenario's other checks are still judged (:func:`overall`). A check whose profile fields are
missing (:meth:`Check.missing`) is skipped naming them, before the scenario runs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from harness.profile import Profile
from harness.registry import Registry
from harness.view import accepted, NO_ATTEMPT_SOURCE, View, attempt_sources

CHECKS = Registry("check")

Status = Literal["pass", "fail", "skip"]


@dataclass
class Verdict:
    """The decision of one check. ``measured`` holds the numbers behind it (seconds, counts)."""

    check: str
    status: Status
    message: str
    measured: dict[str, Any] = field(default_factory=dict)
    decided_at: float = field(default_factory=time.time)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def skipped(self) -> bool:
        return self.status == "skip"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CheckContext(View):
    """What a check may look at: the timeline read through the profile (:class:`harness.view.View`)."""


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    describes: ClassVar[str] = ""
    profile_needs: ClassVar[tuple[str, ...]] = ()
    """Profile fields this check cannot see the agent without (``signals.match.region``,
    ``health.ready``...): without one, this check is skipped and the scenario's others judged."""
    promise_needs: ClassVar[tuple[str, ...]] = ()
    """Profile fields that declare the promise this check tests (``retry_policy.breaker_threshold``,
    ``health.ready_after_registered``...): without one the agent makes no such promise, and the
    whole scenario, whose other checks presume it, is skipped."""
    needs_attempts: ClassVar[bool] = False
    """True for a check that judges registration attempts: skipped when the profile gives no
    source of them (:func:`harness.view.attempt_sources`)."""

    def missing(self, profile: Profile) -> list[str]:
        """The profile fields this check needs to see the agent and the profile leaves undeclared
        (→ this check is skipped)."""
        lacking = [f for f in self.profile_needs if profile.lacks(f)]
        if self.needs_attempts and not attempt_sources(profile):
            lacking.append(NO_ATTEMPT_SOURCE)
        return lacking

    def unpromised(self, profile: Profile) -> list[str]:
        """The promises this check tests that the profile does not declare (→ the scenario is
        skipped): :attr:`promise_needs`, and the exit code of the check's ``reason``."""
        reason = getattr(self, "reason", None)
        lacking = [f for f in self.promise_needs if profile.lacks(f)]
        if isinstance(reason, str) and reason not in profile.exit_codes:
            lacking.append(f"exit_codes.{reason}")
        return lacking

    @staticmethod
    def exit_code_for(ctx: "CheckContext", reason: str | None, code: int | None) -> int | None:
        """The exit code a check expects: the profile's code for ``reason``, else ``code``."""
        return ctx.profile.exit_codes.get(reason, code) if reason else code

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        raise NotImplementedError

    # helpers shared by checks
    def verdict(self, status: Status, message: str, **measured: Any) -> Verdict:
        return Verdict(self.type, status, message, measured)

    def skip(self, reason: str, **measured: Any) -> Verdict:
        """This check cannot be judged here (``reason`` says why, with the figures); the scenario's
        other checks still are."""
        return Verdict(self.type, "skip", reason, measured)

    def deadline_from(self, start: float | None, within_s: float, ctx: CheckContext, final: bool) -> bool:
        """True when ``within_s`` seconds after ``start`` have passed (or the run is final)."""
        return final or (start is not None and ctx.clock() > start + within_s)

    def anchor(self, ctx: CheckContext) -> float | None:
        """The Unix time ``within_s`` counts from (default: the agent's start)."""
        return ctx.agent_started

    def wake_at(self, ctx: CheckContext) -> float | None:
        """When the run loop must re-evaluate this check even if no event arrives (its deadline)."""
        within = getattr(self, "within_s", None)
        anchor = self.anchor(ctx)
        return None if within is None or anchor is None else anchor + within + 0.01


def overall(statuses: list[str]) -> str:
    """A scenario's status from its checks' verdicts: ``fail`` if any failed, else ``pass`` if any
    passed, else ``skip`` (no check could be judged). A skipped check counts neither way."""
    if "fail" in statuses:
        return "fail"
    return "pass" if "pass" in statuses else "skip"


ok_status = accepted
"""An HTTP answer that is a success: :func:`harness.view.accepted`, the one rule (any 2xx)."""


def register(cls):
    """Class decorator: make a check available to scenarios under its ``type`` default."""
    return CHECKS.register(cls)


GRACE_S = 1.5
"""After startle learned of the agent's ``die`` event, how long its last log lines may still be on
their way (s)."""


def settling(ctx: CheckContext) -> bool:
    """True while the agent exited less than GRACE_S ago (its last lines may still arrive)."""
    died = ctx.agent_exited()
    return died is not None and ctx.clock() < ctx.learned_at(died) + GRACE_S


class AfterExit(Check):
    """A check that, once the agent exited, waits GRACE_S for its last log lines before deciding."""

    def wake_at(self, ctx: CheckContext) -> float | None:
        died = ctx.agent_exited()
        if died is not None:
            return ctx.learned_at(died) + GRACE_S + 0.01
        return super().wake_at(ctx)
