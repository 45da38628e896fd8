"""The reference launcher, run for real against a mock center: start, record, roll back.

The launcher is the host-side product under test (fixtures/agent/launcher.sh); these tests run it
as a user would, with startle's labels so that everything it creates is reaped afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.config import ROOT
from harness.containers import CenterContainer, StartleNetwork
from harness.runtime import CENTER_IMAGE, Run, reap

LAUNCHER = ROOT / "fixtures" / "agent" / "launcher.sh"
REPO = "startle/launcher-test"


@pytest.fixture
def world(docker, tmp_path):
    """A labelled network with a mock center, a config dir, and two agent versions to launch."""
    run = Run()
    labels = run.labels(**{"startle.scenario": "launcher"})
    network = StartleNetwork(f"startle-{run.run_id}-launcher", labels).create()
    center = CenterContainer(CENTER_IMAGE, f"startle-{run.run_id}-launcher-center", labels, network)
    center.start()
    config = tmp_path / "config"
    shutil.copytree(ROOT / "fixtures" / "agent" / "config", config)
    config.chmod(0o755)
    (config / "agent.json").chmod(0o644)
    docker.images.get("startle/agent:amd64").tag(REPO, "1.0.0-amd64")
    docker.images.get("startle/mutant-never-ready:amd64").tag(REPO, "2.0.0-amd64")
    try:
        yield {"run": run, "network": network.name, "center": center.admin(), "config": config,
               "state": tmp_path / "last_known_good", "labels": labels}
    finally:
        reap(docker, {"startle.run": run.run_id})
        for tag in ("1.0.0-amd64", "2.0.0-amd64"):
            docker.images.remove(f"{REPO}:{tag}", noprune=True)


def launch(world, version: str, ready_timeout_s: int = 30) -> subprocess.CompletedProcess:
    labels = [arg for key, value in world["labels"].items() for arg in ("--label", f"{key}={value}")]
    return subprocess.run(
        ["bash", str(LAUNCHER), "--image-repo", REPO, "--version", version, "--arch", "amd64",
         "--name", f"startle-{world['run'].run_id}-launched", "--network", world["network"],
         "--center", "http://center:8080", "--node-id", "launched-node", "--config-dir", str(world["config"]),
         "--state-file", str(world["state"]), "--ready-timeout", str(ready_timeout_s), *labels],
        capture_output=True, text=True, timeout=ready_timeout_s * 3 + 30, stdin=subprocess.DEVNULL)


def state(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().split() if "=" in line)


def registrations(center) -> list[dict]:
    _, records = center.requests_since(0, wait_s=0)
    return [r for r in records if r["path"] == "/v1/register" and r["status"] == 200]


def test_launcher_starts_records_last_known_good_and_rolls_back(docker, world):
    first = launch(world, "1.0.0")
    assert first.returncode == 0, first.stdout + first.stderr
    assert state(world["state"])["image"] == f"{REPO}:1.0.0-amd64"
    assert len(registrations(world["center"])) == 1

    container = docker.containers.get(f"startle-{world['run'].run_id}-launched")
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert container.attrs["HostConfig"]["Privileged"] is False
    assert container.attrs["HostConfig"]["CapDrop"] == ["ALL"]

    # v2 never becomes ready: the launcher must roll back to v1 and say so with exit 6.
    second = launch(world, "2.0.0", ready_timeout_s=8)
    assert second.returncode == 6, second.stdout + second.stderr
    running = docker.containers.get(f"startle-{world['run'].run_id}-launched")
    assert running.image.tags and f"{REPO}:1.0.0-amd64" in running.image.tags
    assert state(world["state"])["image"] == f"{REPO}:1.0.0-amd64"
    assert len(registrations(world["center"])) >= 3  # v1, v2 (registered but never ready), v1 again


def test_launcher_usage_and_missing_image_have_distinct_exit_codes(world):
    assert subprocess.run(["bash", str(LAUNCHER), "--bogus"], capture_output=True,
                          stdin=subprocess.DEVNULL).returncode == 2
    missing = launch(world, "9.9.9")
    assert missing.returncode == 4, missing.stdout + missing.stderr
