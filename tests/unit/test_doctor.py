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


# --- the profile's images (a fake engine: no Docker) ---------------------------------------------
class FakeImages:
    """``client.images`` of an engine holding ``present`` (ref → architecture)."""

    def __init__(self, present):
        self.present = present

    def get(self, ref):
        from docker.errors import ImageNotFound
        if ref not in self.present:
            raise ImageNotFound(ref)
        return type("Image", (), {"attrs": {"Architecture": self.present[ref], "Size": 1e8}})()


class FakeEngine:
    def __init__(self, present, machine="x86_64"):
        self.images = FakeImages(present)
        self.machine = machine

    def info(self):
        return {"Architecture": self.machine, "SystemTime": "2026-01-01T00:00:00.000000000Z"}


def own_agent(profile_name="tp-mosquitto", **images):
    """A built-in profile whose images are replaced by ``images`` (arch → ref; ``center`` → its own center)."""
    from harness.profile import load_profile
    profile = load_profile(profile_name)
    center = images.pop("center", None)
    update = {"images": {**profile.images, **images}}
    if center:
        update["center"] = profile.center.model_copy(update={"image": profile.center.image.model_copy(update={"image": center})})
    return profile.model_copy(update=update)


def test_doctor_checks_every_image_of_the_profile_with_its_field_and_fix():
    from harness.doctor import check_images
    profile = own_agent(arm64="acme/edge-agent:2-arm64", center="acme/center:2")
    engine = FakeEngine({"startle/tp-mosquitto:amd64": "amd64", "startle/toxiproxy:latest": "amd64"})
    findings = {f.name: f for f in check_images(engine, profile)}
    assert list(findings) == [
        "image startle/tp-mosquitto:amd64 (profile tp-mosquitto: images.amd64)",
        "image acme/edge-agent:2-arm64 (profile tp-mosquitto: images.arm64)",
        "image acme/center:2 (profile tp-mosquitto: center.image.image)",
        "image startle/center:latest (startle's center)",
        "image startle/toxiproxy:latest (startle's Toxiproxy)"]
    ok = {name: f.ok for name, f in findings.items()}
    assert [name for name, good in ok.items() if not good] == [
        "image acme/edge-agent:2-arm64 (profile tp-mosquitto: images.arm64)",
        "image acme/center:2 (profile tp-mosquitto: center.image.image)",
        "image startle/center:latest (startle's center)"]
    assert all(f.required for f in findings.values())
    arm = findings["image acme/edge-agent:2-arm64 (profile tp-mosquitto: images.arm64)"]
    assert "docker build -t acme/edge-agent:2-arm64" in arm.fix and "images.arm64" in arm.fix
    center = findings["image acme/center:2 (profile tp-mosquitto: center.image.image)"]
    assert "docker build -t acme/center:2" in center.fix and "center.image.image" in center.fix
    assert findings["image startle/center:latest (startle's center)"].fix == "startle build center"


def test_doctor_names_the_startle_build_of_a_built_in_profiles_image():
    from harness.doctor import check_images
    from harness.profile import load_profile
    findings = check_images(FakeEngine({}), load_profile("tp-mosquitto"))
    fixes = {f.name.split()[1]: f.fix for f in findings}
    assert fixes["startle/tp-mosquitto:arm64"] == "startle build tp-mosquitto-arm64"
    assert fixes["startle/tp-mosquitto-center:amd64"] == "startle build tp-mosquitto-center-amd64"
    assert fixes["startle/toxiproxy:latest"] == "startle build toxiproxy"
    assert not [f for f in findings if f.ok]
    reference = {f.name.split()[1] for f in check_images(FakeEngine({}), load_profile("reference"))}
    assert reference == {"startle/agent:amd64", "startle/agent:arm64", "startle/center:latest", "startle/toxiproxy:latest"}


def test_doctor_on_another_engine_checks_the_profiles_images_of_its_architecture():
    from harness.doctor import check_target
    profile = own_agent(arm64="acme/edge-agent:2-arm64", center="acme/center:2")
    board = FakeEngine({"acme/edge-agent:2-arm64": "arm64", "startle/center:latest": "amd64"}, machine="aarch64")
    findings = {f.name: f for f in check_target(board, probe=False, profile=profile)}
    assert findings["target image acme/edge-agent:2-arm64"].ok
    assert not findings["target image acme/center:2"].ok and "not on that engine" in findings["target image acme/center:2"].detail
    assert "amd64 on an arm64 engine" in findings["target image startle/center:latest"].detail
    assert "startle/tp-mosquitto:amd64" not in " ".join(findings)
    no_arm = own_agent("reference").model_copy(update={"images": {"amd64": "startle/agent:amd64"}})
    lacking = {f.name: f for f in check_target(board, probe=False, profile=no_arm)}
    assert "images.arm64" in lacking["target agent image (profile reference)"].detail


def test_the_profile_of_doctor_and_build_is_runs(tmp_path, monkeypatch):
    from harness.project import chosen_profile
    monkeypatch.chdir(tmp_path)
    assert chosen_profile(None) == ("reference", "default")
    assert chosen_profile("tp-mosquitto") == ("tp-mosquitto", "--profile")
    (tmp_path / "startle.yaml").write_text("profile: agent-profile.yaml\n")
    assert chosen_profile(None) == (str(tmp_path / "agent-profile.yaml"), "startle.yaml")
    assert chosen_profile("tp-prometheus") == ("tp-prometheus", "--profile")
    (tmp_path / "startle.yaml").write_text("profile: tp-mosquitto\n")
    assert chosen_profile(None) == ("tp-mosquitto", "startle.yaml")


def test_doctor_with_an_unknown_profile_is_bad_input():
    done = doctor("--profile", "no-such-profile", env=NO_ENGINE)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no-such-profile" in done.stderr and "fix:" in done.stderr and "reference" in done.stderr
