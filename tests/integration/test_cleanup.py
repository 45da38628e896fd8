"""Nothing is left behind: not after an interrupted run, not after a dead one."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from harness.config import LABEL_HOST, LABEL_MANAGED, LABEL_PID, LABEL_RUN
from harness.runtime import leftovers

STARTLE = [sys.executable, "-m", "harness.cli"]


def wait_for_event(docker, filters, deadline_s):
    """The first Docker event matching ``filters`` before the deadline, or None."""
    until = time.time() + deadline_s
    stream = docker.events(decode=True, filters=filters, since=time.time() - 5, until=until)
    try:
        for event in stream:
            return event
    finally:
        stream.close()
    return None


@pytest.mark.parametrize("jobs", [1, 3])
def test_ctrl_c_during_a_run_removes_everything(docker, jobs):
    """With -j 3, other scenarios are mid-start when Ctrl-C comes: they must not create after the reap."""
    scenarios = ["center-outage"] if jobs == 1 else ["center-outage", "baseline", "arch-qemu", "network-none"]
    proc = subprocess.Popen([*STARTLE, "run", "-j", str(jobs), *scenarios], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    mine = {LABEL_PID: str(proc.pid)}
    try:
        started = wait_for_event(docker, {"type": "container", "event": "start",
                                          "label": [f"{LABEL_PID}={proc.pid}", "startle.role=agent"]}, 120)
        assert started is not None, "the agent container never started"
        assert leftovers(docker, mine), "expected the run's containers to exist mid-run"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert leftovers(docker, mine) == []


def test_stale_run_is_reaped_by_clean(docker):
    dead = subprocess.Popen(["true"])  # a real pid, owned by a process that has exited
    dead.wait()
    labels = {LABEL_MANAGED: "true", LABEL_RUN: f"stale-{os.getpid()}", LABEL_PID: str(dead.pid),
              LABEL_HOST: socket.gethostname()}
    network = docker.networks.create(f"startle-stale-{os.getpid()}", labels=labels)
    container = docker.containers.create("startle/center:latest", labels=labels, network=network.name)
    volume = docker.volumes.create(f"startle-stale-{os.getpid()}", labels=labels)
    assert dead.returncode == 0 and len(leftovers(docker, {LABEL_RUN: labels[LABEL_RUN]})) == 3
    done = subprocess.run([*STARTLE, "clean"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert leftovers(docker, {LABEL_RUN: labels[LABEL_RUN]}) == [], done.stdout
    del container, volume
