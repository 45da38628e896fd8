"""The launcher picks the image of the host's architecture, so an exec format error never happens
through it: run for real without --arch/--version, the container it starts is the native-arch tag
and the agent inside reports the host's arch. (The arch-binfmt-off scenario shows what happens
when the wrong arch is forced past the launcher.)"""

from __future__ import annotations

import json
import shutil
import subprocess

from harness.config import ROOT
from harness.containers import CenterContainer, StartleNetwork
from harness.runtime import CENTER_IMAGE, Run, native_arch, reap

LAUNCHER = ROOT / "fixtures" / "agent" / "launcher.sh"


def test_launcher_picks_the_host_arch(docker, tmp_path):
    run = Run()
    labels = run.labels(**{"startle.scenario": "launcher-arch"})
    network = StartleNetwork(f"startle-{run.run_id}-launcher-arch", labels).create()
    try:
        center = CenterContainer(CENTER_IMAGE, f"startle-{run.run_id}-launcher-arch-center", labels, network)
        center.start()
        config = tmp_path / "config"
        shutil.copytree(ROOT / "fixtures" / "agent" / "config", config)
        config.chmod(0o755)
        (config / "agent.json").chmod(0o644)
        name = f"startle-{run.run_id}-launcher-arch-agent"
        args = ["bash", str(LAUNCHER), "--image-repo", "startle/agent", "--name", name, "--network", network.name,
                "--center", "http://center:8080", "--node-id", "arch-node", "--config-dir", str(config),
                "--state-file", str(tmp_path / "lkg"), "--ready-timeout", "30"]
        args += [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
        done = subprocess.run(args, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout + done.stderr
        arch = native_arch()
        assert f"launcher: arch: uname -m=" in done.stdout and f"-> {arch}" in done.stdout, done.stdout
        container = docker.containers.get(name)
        assert container.attrs["Config"]["Image"] == f"startle/agent:{arch}"
        started = next(json.loads(line) for line in container.logs().decode().splitlines()
                       if line.startswith("{") and '"agent_start"' in line)
        assert started["arch"] == arch
        assert "exec format error" not in container.logs().decode()
    finally:
        reap(docker, {"startle.run": run.run_id})
