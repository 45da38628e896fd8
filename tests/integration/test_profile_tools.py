"""`startle profile init` drafts a profile from each third-party image; `startle profile check`
runs each third-party profile once and says which declarations the agent really showed — and names
one it never shows."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.profile import load_profile

STARTLE = [sys.executable, "-m", "harness.cli"]
THIRD_PARTY = ["tp-mosquitto", "tp-prometheus"]


def startle(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*STARTLE, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", THIRD_PARTY)
def test_profile_init_drafts_what_the_image_says(docker, tmp_path, name):
    image = load_profile(name).images["amd64"]
    attrs = docker.images.get(image).attrs["Config"]
    out = tmp_path / "draft.yaml"
    proc = startle("profile", "init", "--image", image, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    draft = yaml.safe_load(out.read_text())
    assert draft["images"] == {"amd64": image}
    assert draft["run"].get("user") == (attrs.get("User") or None)
    ports = [int(p.split("/")[0]) for p in attrs.get("ExposedPorts") or {}]
    if ports:
        assert draft["health"]["ready"]["tcp"]["port"] in ports
    assert "TODO" in out.read_text()


@pytest.mark.parametrize("name", THIRD_PARTY)
def test_profile_check_sees_every_declaration(docker, name):
    proc = startle("profile", "check", name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "profile check: 0 declaration(s) never seen" in proc.stdout
    assert "SEEN  wire" in proc.stdout and "SEEN  health ready" in proc.stdout


def test_profile_check_names_a_declaration_the_agent_never_shows(docker, tmp_path):
    data = yaml.safe_load(Path(load_profile("tp-prometheus").path).read_text())
    data["health"]["ready"] = {"http": {"port": 9090, "path": "/-/not-a-path"}}
    wrong = tmp_path / "tp-prometheus-wrong.yaml"
    wrong.write_text(yaml.safe_dump(data))
    proc = startle("profile", "check", str(wrong), "--deadline-s", "12")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "never seen: health ready" in proc.stdout, proc.stdout


def test_profile_check_of_an_image_that_is_not_there_is_an_error_not_a_list(docker):
    proc = startle("profile", "check", "tp-mosquitto", "--image", "startle/not-built:1", "--deadline-s", "10")
    assert proc.returncode == 3 and "startle/not-built:1 is not built" in proc.stdout, proc.stdout
    assert "never seen" not in proc.stdout
