"""Scenario requirements and skips: a scenario that needs what this host lacks is skipped with a
reason — recorded as status ``skip`` (results.json, junit ``<skipped>``), a skipped pytest item,
a ``skip`` line from ``startle run`` — and never passes silently.

Raise :class:`ScenarioSkipped` from a fault's ``on_create``/``apply`` (see
``harness/faults/requires.py``); the lifecycle turns it into the skip result. A check that cannot
decide returns its own ``skip`` verdict instead (``Check.skip``): the scenario's other checks are
still judged (one that raises this anyway skips itself only).

Host-global switches (binfmt_misc) are guarded by one file lock: a scenario that turns
emulation off holds it exclusively, one that needs emulation holds it shared.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

BINFMT = Path(os.environ.get("STARTLE_BINFMT_DIR", "/proc/sys/fs/binfmt_misc"))
"""binfmt_misc; STARTLE_BINFMT_DIR points elsewhere to rehearse a host without QEMU (skips)."""
QEMU_ENTRY = BINFMT / "qemu-aarch64"
LOCK_PATH = Path(os.environ.get("STARTLE_BINFMT_LOCK", "/tmp/startle-binfmt.lock"))


class ScenarioSkipped(Exception):
    """The scenario cannot run on this host; ``str(exc)`` is the reason (with the fix)."""


class EndedTooSoon(ScenarioSkipped):
    """A check could not decide because the scenario ended before the agent's declared policy
    had run out: the whole scenario is skipped — a per-check skip here would let an agent that
    never does what the check waits for pass on the scenario's other checks."""


def qemu_state() -> str:
    """``enabled``, ``disabled``, ``missing`` (not registered) or ``no-binfmt`` (not mounted)."""
    if not BINFMT.is_dir() or not (BINFMT / "status").exists():
        return "no-binfmt"
    if not QEMU_ENTRY.exists():
        return "missing"
    try:
        first = QEMU_ENTRY.read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        return "missing"
    return "enabled" if first == "enabled" else "disabled"


def qemu_interpreter() -> str | None:
    try:
        for line in QEMU_ENTRY.read_text().splitlines():
            if line.startswith("interpreter "):
                return line.split(" ", 1)[1].strip()
    except OSError:
        return None
    return None


def missing_requirement(name: str) -> str | None:
    """Why requirement ``name`` is not met on this host (None when it is)."""
    if name == "qemu":
        state = qemu_state()
        if state == "enabled":
            interp = qemu_interpreter()
            if interp and not Path(interp).exists():
                return f"qemu-aarch64 binfmt entry points at {interp}, which does not exist " \
                       "(fix: apt-get install qemu-user-static)"
            return None
        fixes = {"no-binfmt": "binfmt_misc is not mounted (fix: mount -t binfmt_misc binfmt_misc "
                              "/proc/sys/fs/binfmt_misc; make setup)",
                 "missing": "QEMU is missing: qemu-aarch64 is not registered with binfmt_misc "
                            "(fix: apt-get install qemu-user-static binfmt-support)",
                 "disabled": "qemu-aarch64 is registered but disabled (fix: update-binfmts --enable qemu-aarch64)"}
        return fixes[state]
    if name == "binfmt-control":
        state = qemu_state()
        if state in ("missing", "no-binfmt"):
            return None  # nothing emulates arm64 here: an arm64 image fails with exec format error anyway
        if shutil.which("update-binfmts") is None:
            return "update-binfmts is missing, emulation cannot be turned off (fix: apt-get install binfmt-support)"
        if not os.access(QEMU_ENTRY, os.W_OK):
            return "binfmt_misc is not writable by this user (run as root)"
        return None
    return f"unknown requirement {name!r}"


class BinfmtLock:
    """The host-wide lock on binfmt_misc state (shared: needs it as it is; exclusive: changes it)."""

    def __init__(self) -> None:
        self.fd: int | None = None

    def acquire(self, exclusive: bool) -> None:
        if self.fd is None:
            self.fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(self.fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)

    def release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None
