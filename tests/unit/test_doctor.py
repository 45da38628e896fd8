"""`startle doctor` reports each prerequisite; with no engine it fails and says how to fix it."""

import json
import os
import subprocess
import sys

NO_ENGINE = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def doctor(*args, env=None):
    return subprocess.run([sys.executable, "-m", "harness.cli", "doctor", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_doctor_without_engine_fails_with_a_fix():
    done = doctor(env=NO_ENGINE)
    assert done.returncode == 1, done.stdout + done.stderr
    engine_line = next(line for line in done.stdout.splitlines() if "docker engine" in line)
    assert engine_line.startswith("FAIL") and "fix:" in engine_line and "dockerd" in engine_line
    for name in ("qemu binfmt", "mmdebstrap", "disk space"):
        assert name in done.stdout


def test_doctor_json_without_engine():
    done = doctor("--json", env=NO_ENGINE)
    report = json.loads(done.stdout)
    assert report["ok"] is False
    engine = next(f for f in report["findings"] if f["name"] == "docker engine")
    assert engine["ok"] is False and engine["fix"]
