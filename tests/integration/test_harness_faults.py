"""startle's own world breaking under a running scenario ends it as ``error`` with the cause named,
never as a pass or a fail of the agent (harness/sentinel.py), and leaves nothing behind.

Each case runs a real scenario, waits on Docker's event stream until the agent container has
started, then breaks one piece of the harness: the center is killed, Toxiproxy is killed, or the
Docker API turns slow (a socket proxy that holds back the engine's event stream).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.config import LABEL_ROLE, LABEL_RUN, SCENARIOS_DIR
from harness.lifecycle import run_scenario
from harness.runtime import Run, leftovers
from harness.scenario import load_scenario

UP_TIMEOUT_S = 60.0


def wait_for_start(docker, run_id: str, role: str) -> None:
    """Follow Docker's events until a container of ``role`` in run ``run_id`` has started."""
    since, deadline = time.time() - 5, time.time() + UP_TIMEOUT_S
    while time.time() < deadline:
        until = time.time() + 1
        if list(docker.events(since=since, until=until, decode=True,
                              filters={"type": "container", "event": "start",
                                       "label": [f"{LABEL_RUN}={run_id}", f"{LABEL_ROLE}={role}"]})):
            return
        since = until
    raise AssertionError(f"no {role} container of run {run_id} started within {UP_TIMEOUT_S} s")


@pytest.mark.docker
@pytest.mark.parametrize("role", ["center", "toxiproxy"])
def test_a_killed_infrastructure_container_is_an_error_not_a_verdict(docker, role):
    run = Run()
    scenario = load_scenario(SCENARIOS_DIR / "center-outage.yaml")
    result = {}
    worker = threading.Thread(target=lambda: result.update(r=run_scenario(scenario, run)), daemon=True)
    worker.start()
    wait_for_start(docker, run.run_id, "agent")
    victim = docker.containers.list(filters={"label": [f"{LABEL_RUN}={run.run_id}", f"{LABEL_ROLE}={role}"]})
    assert victim, f"no {role} container to kill"
    victim[0].kill()
    worker.join(timeout=120)
    outcome = result["r"]
    assert outcome.status == "error", outcome.summary_line()
    assert f"the {role} container died" in outcome.error
    assert not leftovers(docker, {LABEL_RUN: run.run_id})


class SlowEventsProxy:
    """A unix socket in front of the engine's: answers to ``/events`` requests are held back
    ``delay_s`` per chunk (an engine under load); every other call passes through at once."""

    def __init__(self, path: Path, delay_s: float, engine: str = "/var/run/docker.sock") -> None:
        self.path, self.delay_s, self.engine = path, delay_s, engine
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(self.engine)
        first = client.recv(65536)
        slow = b"/events" in first.split(b"\r\n", 1)[0]
        upstream.sendall(first)
        threading.Thread(target=self._pump, args=(client, upstream, 0.0), daemon=True).start()
        self._pump(upstream, client, self.delay_s if slow else 0.0)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, delay_s: float) -> None:
        try:
            while chunk := source.recv(65536):
                if delay_s:
                    time.sleep(delay_s)  # the slowness under test, not a synchronisation
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


@pytest.mark.docker
def test_a_slow_engine_is_an_error_not_a_verdict(docker, tmp_path):
    proxy = SlowEventsProxy(tmp_path / "slow.sock", delay_s=3.0)
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path / 'slow.sock'}", "STARTLE_REPORTS": str(tmp_path / "r")}
    try:
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "baseline"], env=env, capture_output=True,
                              text=True, timeout=300)
    finally:
        proxy.close()
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "too slow to judge timing" in proc.stdout + proc.stderr
    assert not leftovers(docker)


@pytest.mark.docker
def test_a_full_reports_disk_keeps_the_journal_and_exits_3(docker, tmp_path):
    """The scenarios are judged (nothing of theirs lives on the reports disk); the journal goes to
    startle's fallback folder, the run exits 3 naming both places."""
    from harness.reports.build import FALLBACK_DIR
    from harness.reports.journal import load_run
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(full)], check=True)
    try:
        with open(full / "filler", "wb", buffering=0) as out:
            try:
                while True:
                    out.write(b"\0" * 4096)
            except OSError:
                pass
        env = {**os.environ, "STARTLE_REPORTS": str(full)}
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "baseline"], env=env,
                              capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["umount", str(full)], check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out[-3000:]
    assert "could not write the reports" in out and str(FALLBACK_DIR) in out, out[-3000:]
    run_id = next(line.split()[2].rstrip(",") for line in proc.stdout.splitlines() if line.startswith("startle: run "))
    kept = load_run(FALLBACK_DIR / run_id)
    assert [s.status for s in kept.record.scenarios] == ["pass"]
    assert not leftovers(docker)


def dockerd_pids() -> list[int]:
    """This machine's engine (its pid file), not a second engine of the remote-engine tests."""
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
    except (OSError, ValueError):
        return []
    comm = Path(f"/proc/{pid}/comm")
    return [pid] if comm.exists() and comm.read_text().strip() == "dockerd" else []


@pytest.mark.docker
def test_an_engine_restart_is_an_error_not_a_verdict(docker, tmp_path):
    """dockerd stopped under a running scenario and started again (scripts/setup.sh, as CI does):
    the scenario ends ``error`` naming the engine, its cleanup waits for the engine and removes
    everything, and the run goes on (the next scenario is judged)."""
    env = {**os.environ, "STARTLE_REPORTS": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "center-outage", "baseline"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        since, deadline = time.time() - 1, time.time() + UP_TIMEOUT_S
        while not list(docker.events(since=since, until=time.time() + 1, decode=True,
                                     filters={"type": "container", "event": "start",
                                              "label": [f"startle.pid={proc.pid}", f"{LABEL_ROLE}=agent"]})):
            assert time.time() < deadline and proc.poll() is None, "the agent never started"
        pids = dockerd_pids()
        assert pids, "no dockerd to restart"
        subprocess.run(["kill", "-TERM", *map(str, pids)], check=True)
        for pid in pids:  # gone when /proc says so (dockerd stops its containers first: seconds)
            while Path(f"/proc/{pid}").exists():
                assert time.time() < deadline + 60, "dockerd did not stop"
                threading.Event().wait(0.2)
        root = Path(__file__).resolve().parents[2]
        subprocess.run(["bash", str(root / "scripts" / "setup.sh")], check=True, capture_output=True, timeout=300)
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out[-3000:]
    # dockerd stops the containers before it closes the event stream: which the scenario sees first
    # decides the words (an infrastructure container died, or the engine went away), both startle's
    assert ("error in center-outage: the Docker engine went away" in out
            or "error in center-outage: the toxiproxy container died" in out
            or "error in center-outage: the center container died" in out), out[-3000:]
    assert "[2/2] baseline: pass" in out, out[-3000:]
    assert not leftovers(docker.__class__.from_env())
