"""`startle run` against an engine that is not this machine's: the second dockerd of
harness/second_engine.py on TCP with TLS, reached the way a board is (DOCKER_HOST and friends).

One test, in order: the images are streamed to it; a representative slice of the matrix runs there
with `-j 2` and gets the verdicts it gets on this machine's engine (a fault that needs this
machine's files is skipped with its reason); no container of the run had a bind mount of this
machine's filesystem (each one is inspected as its `create` event arrives: the config reached the
agent in a volume); a run interrupted with Ctrl-C leaves nothing; neither engine keeps any object
of either run.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from docker.errors import NotFound

from harness import images
from harness.config import LABEL_MANAGED, LABEL_RUN
from harness.engine import client_from_env, docker_client
from harness.runtime import leftovers
from harness.second_engine import SecondEngine

STARTLE = [sys.executable, "-m", "harness.cli"]
PASSING = ["baseline", "center-503-then-ok", "config-missing", "config-late", "toxic-latency", "oom"]
"""Scenarios that pass on this machine's engine (`make scenarios`) and must pass on the remote one."""
LOCAL_ONLY = {"device-mapped": "mknod"}
"""Scenario → a word its skip reason must name: what it needs of this machine."""
ENGINE_SOCKET = "/var/run/docker.sock"
"""The one bind a remote run may make: the engine host's own Docker socket, a path of the engine's
host (docker-socket scenarios). On a second engine on this machine it cannot be told apart from a
path of this machine, so it is allowed by name; the slice here makes none."""
RUN_TIMEOUT_S = 240

pytestmark = [pytest.mark.docker, pytest.mark.second_engine]


class MountWatcher:
    """Inspects every startle container the engine creates, as its `create` event arrives, and
    keeps its mounts: name → [(type, source, destination)]."""

    def __init__(self, client) -> None:
        self.client = client
        self.mounts: dict[str, list[tuple[str, str, str]]] = {}
        self.gone: list[str] = []
        """Containers removed before they could be inspected (none expected)."""
        self.stream = client.events(decode=True, since=time.time() - 1,
                                    filters={"type": "container", "event": "create",
                                             "label": f"{LABEL_MANAGED}=true"})
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        for event in self.stream:
            try:
                attrs = self.client.containers.get(event["id"]).attrs
            except NotFound:
                self.gone.append(event["Actor"]["Attributes"].get("name", event["id"][:12]))
                continue
            self.mounts[attrs["Name"].lstrip("/")] = [(m["Type"], m.get("Source", ""), m["Destination"])
                                                       for m in attrs.get("Mounts") or []]

    def close(self) -> None:
        self.stream.close()
        self.thread.join(timeout=5)


def startle_run(env: dict, folder, *scenarios: str) -> dict:
    done = subprocess.run([*STARTLE, "run", "-j", "2", *scenarios], env={**env, "STARTLE_REPORTS": str(folder)},
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_id = next(line.split()[2].rstrip(",") for line in done.stdout.splitlines() if line.startswith("startle: run "))
    return json.loads((folder / run_id / "results.json").read_text())


def interrupted_run(env: dict, folder) -> str:
    """A run stopped with SIGINT once a scenario observes its agent; its run id."""
    process = subprocess.Popen([*STARTLE, "run", "-j", "2", "baseline", "center-503-then-ok"],
                               env={**env, "STARTLE_REPORTS": str(folder), "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    run_id, seen = "", []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith("startle: run "):
                run_id = line.split()[2].rstrip(",")
            if line.rstrip().endswith(": observe"):
                process.send_signal(signal.SIGINT)
                break
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert run_id, "".join(seen)
    return run_id


def test_run_on_a_remote_engine(tmp_path):
    started = time.monotonic()
    local = docker_client(local=True)
    with SecondEngine.start() as engine:
        env = {**os.environ, **engine.env()}
        remote = client_from_env(timeout_s=900, environ=env)
        images.ship_to_engine(remote, log=print)
        watcher = MountWatcher(engine.client())
        try:
            results = startle_run(env, tmp_path / "slice", *PASSING, *LOCAL_ONLY)
        finally:
            watcher.close()
        status = {s["name"]: (s["status"], s.get("error") or "") for s in results["scenarios"]}
        for name in PASSING:
            assert status[name][0] == "pass", f"{name}: {status[name]}"
        for name, word in LOCAL_ONLY.items():
            assert status[name][0] == "skip" and word in status[name][1] \
                and "the engine is not this machine's" in status[name][1], f"{name}: {status[name]}"

        assert not watcher.gone, f"removed before their mounts were inspected: {watcher.gone}"
        agents = {name: mounts for name, mounts in watcher.mounts.items() if name.endswith("-agent")}
        assert len(agents) == len(PASSING), sorted(watcher.mounts)
        binds = {name: [m for m in mounts if m[0] == "bind" and m[2] != ENGINE_SOCKET]
                 for name, mounts in watcher.mounts.items()}
        assert not any(binds.values()), f"bind mounts of this machine's paths: { {n: b for n, b in binds.items() if b} }"
        with_config = [name for name, mounts in agents.items() if any(m[0] == "volume" for m in mounts)]
        assert len(with_config) == len(PASSING) - 1, agents  # config-missing mounts none

        stopped = interrupted_run(env, tmp_path / "interrupted")
        for run_id in (results["run_id"], stopped):
            assert leftovers(remote, {LABEL_RUN: run_id}) == [], run_id
            assert leftovers(local, {LABEL_RUN: run_id}) == [], run_id
        remote.close()
    print(f"remote run test: {time.monotonic() - started:.1f} s")
