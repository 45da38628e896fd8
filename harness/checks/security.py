"""The security context the agent runs with (the seed's section 3.3)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, register


@register
class SecurityContext(Check):
    """The agent container as Docker holds it (recorded at its start): never ``--privileged``, a
    non-root user, ``cap_drop`` ALL with no capability added beyond ``allowed_caps``, no
    supplementary group beyond ``allowed_groups``, every ``security_opt`` the profile declares.
    It judges how the agent is deployed (the run spec, a launcher), never the image: no agent image
    can change these fields."""

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
        held = {_option(o) for o in seen.get("security_opt") or []}
        dropped = [o for o in ctx.profile.run.security_opt if _option(o) not in held]
        if dropped:
            problems.append(f"security options the profile declares are missing: {dropped}")
        measured = {k: seen.get(k) for k in ("privileged", "user", "cap_drop", "cap_add", "group_add", "devices",
                                             "security_opt")}
        if problems:
            return self.verdict("fail", "; ".join(problems), **measured)
        return self.verdict("pass", f"not privileged, user {user}, cap_drop {seen.get('cap_drop')}, "
                                    f"cap_add {seen.get('cap_add')}, groups {seen.get('group_add')}, "
                                    f"devices {seen.get('devices')}", **measured)


def _option(option: str) -> str:
    """A security option as Docker may spell it either way (``no-new-privileges[:true]``, ``k=v``/``k:v``)."""
    option = option.replace("=", ":")
    return option[:-len(":true")] if option.endswith(":true") else option
