"""`startle capture` on real misconfigured containers: the bundle holds what reproducing needs, and
no secret (issue 12, item 1).

The script runs as a node would run it (`startle capture --script` piped to `sh`) and through the
command; both give the same files. Containers carry the run's labels and are removed in finally.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from harness import evidence
from harness.runtime import Run, reap

AGENT = "startle/agent:amd64"
TOKEN = "tok-9f8e7d6c5b4a3921"
PASSWORD = 'p@ss "w0rd" & more'
STARTLE = [sys.executable, "-m", "harness.cli"]


def exited(docker, run: Run, name: str, **kwargs):
    """A container of ``run`` that has run to its end (Docker's wait: no polling)."""
    container = docker.containers.run(AGENT, name=f"startle-{run.run_id}-{name}", detach=True,
                                      labels=run.labels(), **kwargs)
    container.wait(timeout=60)
    return container


def unpacked(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle, "r:gz") as tar:
        return {Path(m.name).name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.mark.docker
def test_a_missing_config_mount_is_captured_with_its_exit_and_events(docker, tmp_path):
    run = Run()
    try:
        agent = exited(docker, run, "no-config", environment={"NODE_ID": "field-7", "CENTER_ENDPOINT": "http://c:1"})
        started = time.monotonic()
        bundle = evidence.capture(agent.name, tmp_path / "ev.tar.gz", since="10m")
        took = time.monotonic() - started
        files = evidence.read_bundle(bundle)
        print(f"CAPTURE {took:.2f} s, {bundle.stat().st_size} bytes, {len(files)} files")
        inspect = json.loads(files["container.json"])[0]
        assert inspect["State"]["ExitCode"] == 11 and inspect["Config"]["Env"]
        assert json.loads(files["image.json"])[0]["Architecture"] == "amd64"  # container inspect cannot tell
        dies = [json.loads(line) for line in files["events.jsonl"].splitlines() if '"die"' in line]
        assert dies and dies[0]["Actor"]["Attributes"]["exitCode"] == "11"
        assert "config" in files["logs.txt"].lower()
        assert "arch=" in files["host.txt"] and "cgroup=" in files["host.txt"] and "status=" in files["binfmt.txt"]
        assert json.loads(files["manifest.json"])["redacted_env"] == []
    finally:
        reap(docker, {"startle.run": run.run_id})


@pytest.mark.docker
def test_secrets_in_env_and_logs_never_reach_the_bundle(docker, tmp_path):
    run = Run()
    script = tmp_path / "capture.sh"
    script.write_text(subprocess.run([*STARTLE, "capture", "--script"], capture_output=True, text=True,
                                     check=True).stdout)
    unreadable = tmp_path / "agent.json"
    unreadable.write_text("{}")
    unreadable.chmod(0)
    folder = tmp_path / "node-settings"  # the node's own config files, kept in the bundle: redacted too
    folder.mkdir()
    (folder / "center.json").write_text(json.dumps({"url": "https://c", "api_key": "k-3b1f9e77aa51", "token": TOKEN}))
    (folder / "db.ini").write_text("[db]\nhost = db.local\npassword = hunter2-xq7\n")
    try:
        talker = exited(docker, run, "talker", entrypoint=["python3", "-c", (
            "import os\nprint('auth with', os.environ['API_TOKEN'])\n"
            "print('Authorization: Bearer abcdefghijklmnopqrstuvwx')\n"
            "print('password=' + os.environ['DB_PASSWORD'])\nraise SystemExit(3)")],
            environment={"API_TOKEN": TOKEN, "DB_PASSWORD": PASSWORD, "HARMLESS": "visible-value"},
            volumes={str(unreadable): {"bind": "/app/config/agent.json", "mode": "ro"},
                     str(folder): {"bind": "/etc/node", "mode": "ro"}})
        by_script = subprocess.run(["sh", str(script), "-o", str(tmp_path / "a.tar.gz"), "-r", "HARMLESS_NOT",
                                    talker.name], capture_output=True, text=True)
        assert by_script.returncode == 0, by_script.stderr
        by_command = subprocess.run([*STARTLE, "capture", talker.name, "-o", str(tmp_path / "b.tar.gz")],
                                    capture_output=True, text=True)
        assert by_command.returncode == 0, by_command.stderr
        for bundle in (tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"):
            raw = gzip.decompress(bundle.read_bytes())  # the whole tar: every member, its name and header
            files = unpacked(bundle)
            for secret in (TOKEN, "w0rd", "abcdefghijklmnopqrstuvwx", "k-3b1f9e77aa51", "hunter2-xq7"):
                assert secret.encode() not in raw, f"{secret!r} in {bundle.name}"
            manifest = json.loads(files["manifest.json"])
            assert manifest["redacted_env"] == ["API_TOKEN", "DB_PASSWORD"]
            assert manifest["redacted_occurrences"]["API_TOKEN"] >= 2  # the env and the log line
            assert b"auth with <redacted:API_TOKEN>" in files["logs.txt"]
            assert b"HARMLESS=visible-value" in files["container.json"]  # only secrets go
            mount = next(line.split("\t") for line in files["mounts.tsv"].decode().splitlines()
                         if line.startswith(f"{unreadable}\t"))
            assert mount[0] == str(unreadable) and mount[1] == "regular file" and mount[3] == "0"
            kept = evidence.read_bundle(bundle)
            assert "db.local" in kept["mountfiles/etc/node/db.ini"] and "url" in kept["mountfiles/etc/node/center.json"]
            assert "etc/node/db.ini\tregular file" in kept["mountfiles.tsv"]
    finally:
        reap(docker, {"startle.run": run.run_id})


def test_an_unknown_container_is_a_usage_error(tmp_path):
    done = subprocess.run([*STARTLE, "capture", "no-such-container-startle"], capture_output=True, text=True)
    assert done.returncode == 2 and "no container no-such-container-startle" in done.stderr
