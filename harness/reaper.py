"""The reaper that outlives the harness: when the process that owns runs dies — by any signal,
SIGKILL included — every container, network and volume of those runs is removed within seconds,
without another startle command.

One watcher per harness process, started by the first run that creates something (:func:`guard`,
called by :class:`harness.runtime.World` and the storm). It runs ``python -m harness.reaper`` in a
session of its own (the Ctrl-C or kill of the harness's process group does not reach it) and holds
the read end of a pipe whose only write end is in the harness, which writes one run id per line.
When the harness exits, normally or killed, the kernel closes that write end; the watcher reads
EOF, removes everything labelled with the announced run ids (never another run's), keeps following
the engine's events for those labels until :data:`QUIET_S` pass without a new object (a request the
dead harness had in flight, a launcher it had started), and exits. A run that ended cleanly has
nothing left: its sweep is a few empty list calls.

Not covered: a kill of the whole cgroup or machine (CI runner gone) takes the watcher too; the next
run's stale reaper (:func:`harness.runtime.reap_stale`) removes those leftovers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

QUIET_S = 2.0
"""Seconds without an event of the dead runs after which the watcher stops following them."""
FOLLOW_MAX_S = 30.0
"""Seconds at most the watcher follows the dead runs' events after the first sweep."""

_lock = threading.Lock()
_pipe: tuple[int, int] | None = None
"""(owner pid, write end): re-created in a forked child, whose runs its parent's watcher never hears of."""
_announced: set[str] = set()


def guard(run_id: str) -> None:
    """Make sure a watcher removes ``run_id``'s objects when this process dies (idempotent)."""
    global _pipe
    with _lock:
        if _pipe is not None and _pipe[0] == os.getpid() and run_id in _announced:
            return
        if _pipe is None or _pipe[0] != os.getpid():
            _announced.clear()
            read_end, write_end = os.pipe()  # both non-inheritable: no other child holds the write end
            try:
                subprocess.Popen([sys.executable, "-m", "harness.reaper", str(os.getpid())], stdin=read_end,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                 env={**os.environ, "PYTHONPATH": _import_root()})
            finally:
                os.close(read_end)
            _pipe = (os.getpid(), write_end)
        os.write(_pipe[1], f"{run_id}\n".encode())
        _announced.add(run_id)


def _import_root() -> str:
    """The folder ``harness`` is imported from, first on the watcher's path (a checkout or a wheel)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """``preexec_fn`` for a child the harness starts (a launcher, a locust worker): the kernel
    sends it ``signum`` (default SIGKILL) when the thread that started it dies, so an orphan cannot
    create objects later. A daemon that must shut down cleanly (a second dockerd) asks for SIGTERM."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)


def sweep(run_ids: set[str]) -> None:
    """Remove the runs' objects; while their containers keep appearing (a request the dead harness
    had in flight, an orphan it started), follow the engine's events and sweep again, until none
    comes for :data:`QUIET_S` (at most :data:`FOLLOW_MAX_S`); a last sweep takes a late network."""
    from harness.config import LABEL_MANAGED, LABEL_RUN
    from harness.engine import docker_client
    from harness.runtime import reap

    client = docker_client()

    def reap_all() -> None:
        for run_id in run_ids:
            reap(client, {LABEL_RUN: run_id})

    reap_all()
    since = time.time()
    deadline = since + FOLLOW_MAX_S
    while since < deadline:
        until = min(time.time() + QUIET_S, deadline)
        events = client.events(since=since, until=until, decode=True,
                               filters={"type": "container", "label": [f"{LABEL_MANAGED}=true"]})
        created = [e for e in events if e.get("Action") in ("create", "start", "restart")
                   and (e.get("Actor") or {}).get("Attributes", {}).get(LABEL_RUN) in run_ids]
        since = until
        if not created:
            break
        reap_all()
    reap_all()


def main(argv: list[str]) -> int:
    """``python -m harness.reaper PID``: read run ids from stdin until EOF, then sweep them."""
    runs = {line.strip() for line in sys.stdin if line.strip()}
    if runs:
        try:
            sweep(runs)
        except Exception:  # noqa: BLE001  (no engine: the next run's stale reaper does it)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
