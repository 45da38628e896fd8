"""Not a failure: a scenario's host requirements. ``requires: [qemu]`` as a fault entry

    faults:
      - type: requires
        needs: [qemu]

skips the scenario with the reason (status ``skip``; never a silent pass) when this host lacks
one of them. Known requirements (harness/skip.py): ``qemu`` (binfmt qemu-aarch64 registered and
enabled), ``binfmt-control`` (emulation can be switched off and on again).

While the scenario runs, a ``qemu`` requirement holds the binfmt lock shared, so no other
scenario of this host switches emulation off under it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PrivateAttr

from harness.faults.base import Fault, register
from harness.skip import BinfmtLock, ScenarioSkipped, missing_requirement


@register
class Requires(Fault):
    family: ClassVar[str] = "requirement"

    type: Literal["requires"] = "requires"
    needs: list[Literal["qemu", "binfmt-control"]] = Field(min_length=1)
    _lock: BinfmtLock = PrivateAttr(default_factory=BinfmtLock)

    def local_only(self) -> str | None:
        return (f"requires({', '.join(self.needs)}): QEMU and binfmt_misc are checked on this machine; an "
                "engine elsewhere emulates with its own kernel's")

    def check(self) -> None:
        """Skip unless every need is met. A ``qemu`` need is read under the shared binfmt lock, so a
        scenario that has switched emulation off for a moment (arch-binfmt-off, in parallel) is
        waited for, not mistaken for a host without QEMU."""
        brief = "qemu" in self.needs and self._lock.fd is None
        if brief:
            self._lock.acquire(exclusive=False)
        try:
            for need in self.needs:
                why = missing_requirement(need)
                if why:
                    raise ScenarioSkipped(f"requires {need}: {why}")
        finally:
            if brief:
                self._lock.release()

    def preflight(self) -> None:
        """Called by the lifecycle before any container is created."""
        self.check()

    def on_create(self, spec) -> None:
        self.check()

    def apply(self, world) -> None:
        if "qemu" in self.needs:
            self._lock.acquire(exclusive=False)  # held until clear: nobody switches emulation off under us
            try:
                self.check()
            except ScenarioSkipped:
                self._lock.release()
                raise

    def clear(self, world) -> None:
        self._lock.release()

    def describe(self) -> str:
        return f"requires({', '.join(self.needs)})"
