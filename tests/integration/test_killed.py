"""A harness killed with SIGKILL (what a CI timeout does) leaves nothing behind: its watcher
(harness/reaper.py) removes the run's containers, networks and volumes within 10 s, with no other
startle command. Each case starts a real harness process, waits on Docker's event stream until it
has a given number of containers up, kills it, and follows the event stream until none of its
objects is left (or 10 s pass). No sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness.config import LABEL_PID, SCENARIOS_DIR
from harness.runtime import leftovers

STARTLE = [sys.executable, "-m", "harness.cli"]
REAPED_WITHIN_S = 10.0
UP_TIMEOUT_S = 120.0


def started_containers(docker, pid: int, count: int, proc: subprocess.Popen) -> int:
    """Follow container starts labelled with the harness's ``pid`` until ``count`` (returns it)."""
    seen: set[str] = set()
    since = time.time() - 1
    deadline = since + UP_TIMEOUT_S
    while len(seen) < count:
        assert proc.poll() is None, f"the harness ended (exit {proc.returncode}) before {count} containers started"
        assert time.time() < deadline, f"only {len(seen)} of {count} containers started in {UP_TIMEOUT_S} s"
        until = time.time() + 1
        for event in docker.events(since=since, until=until, decode=True,
                                   filters={"type": "container", "event": "start", "label": [f"{LABEL_PID}={pid}"]}):
            seen.add(event["id"])
        since = until
    return len(seen)


def reaped_after_kill(docker, proc: subprocess.Popen) -> tuple[float, list[str]]:
    """SIGKILL ``proc``; follow destroy events until nothing of it is left. (seconds, leftovers)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = time.time()
    mine = {LABEL_PID: str(proc.pid)}
    left = leftovers(docker, mine)
    since = killed
    while left and time.time() < killed + REAPED_WITHIN_S:
        until = min(time.time() + 0.5, killed + REAPED_WITHIN_S)
        list(docker.events(since=since, until=until, decode=True, filters={"event": "destroy"}))
        since = until
        left = leftovers(docker, mine)
    return round(time.time() - killed, 2), left


def harness(args: list[str], tmp_path) -> subprocess.Popen:
    env = {**os.environ, "STARTLE_REPORTS": str(tmp_path / "reports")}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)


CASES = {
    "startle run -j 3": (STARTLE + ["run", "-j", "3", "--no-pairs", "center-outage", "upgrade-good",
                                    "center-flapping", "baseline"], 7),
    "pytest scenarios/": ([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                          str(SCENARIOS_DIR), "-k", "center-outage"], 2),
    "startle storm --containers 30": (STARTLE + ["storm", "--mode", "outage", "--agents", "30", "--containers", "30",
                                                 "--outage-s", "12", "--outage-switch", "center"], 12),
}


@pytest.mark.docker
@pytest.mark.parametrize("case", list(CASES))
def test_a_killed_harness_leaves_nothing_behind(docker, tmp_path, case):
    args, up = CASES[case]
    proc = harness(args, tmp_path)
    try:
        started_containers(docker, proc.pid, up, proc)
        took, left = reaped_after_kill(docker, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not left, f"{case}: {len(left)} objects left {REAPED_WITHIN_S} s after SIGKILL: {left}"
    print(f"{case}: reaped {took} s after SIGKILL")
