"""No emulation for foreign architectures: ``update-binfmts --disable qemu-aarch64`` for the run.

Machine-global, so it is guarded: it takes the binfmt lock exclusively (scenarios that need QEMU
hold it shared) and ``clear`` always re-enables — the lifecycle clears every applied fault in its
``finally``; ``startle doctor`` reports emulation left disabled by a killed run.
Apply it at 0 s (before the agent starts) with ``arch: arm64`` in the scenario.
"""

from __future__ import annotations

import atexit
import subprocess
from typing import ClassVar, Literal

from pydantic import PrivateAttr

from harness.errors import InfrastructureError
from harness.faults.base import Fault, register
from harness.skip import BinfmtLock, ScenarioSkipped, missing_requirement, qemu_state


def _update_binfmts(action: str) -> None:
    done = subprocess.run(["update-binfmts", f"--{action}", "qemu-aarch64"], capture_output=True, text=True,
                          timeout=30)
    if done.returncode != 0:
        raise InfrastructureError(f"update-binfmts --{action} qemu-aarch64 failed: "
                                  f"{(done.stderr or done.stdout).strip()}")


@register
class BinfmtOff(Fault):
    family: ClassVar[str] = "architecture"

    type: Literal["binfmt_off"] = "binfmt_off"
    _lock: BinfmtLock = PrivateAttr(default_factory=BinfmtLock)
    _was_enabled: bool = PrivateAttr(False)

    def local_only(self) -> str | None:
        return "binfmt_off: it switches QEMU off in this machine's binfmt_misc, not the engine's"

    def preflight(self) -> None:
        self.on_create(None)

    def on_create(self, spec) -> None:
        why = missing_requirement("binfmt-control")
        if why:
            raise ScenarioSkipped(f"binfmt_off: {why}")

    def apply(self, world) -> None:
        self._lock.acquire(exclusive=True)
        self._was_enabled = qemu_state() == "enabled"
        if self._was_enabled:
            atexit.register(self._restore)  # a harness that dies without its finally still re-enables
            try:
                _update_binfmts("disable")
            except Exception:
                self._lock.release()
                raise
        world.timeline.record("harness", "binfmt", state=qemu_state(), was_enabled=self._was_enabled)

    def _restore(self) -> None:
        if self._was_enabled and qemu_state() != "enabled":
            _update_binfmts("enable")

    def clear(self, world) -> None:
        try:
            if self._was_enabled and qemu_state() != "enabled":
                _update_binfmts("enable")
        finally:
            self._was_enabled = False
            self._lock.release()
