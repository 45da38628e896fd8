"""What `startle run` does differently on a remote engine, without Docker: which scenarios are
skipped and why, where ports are published, and the config archive (modes and owners kept)."""

import io
import tarfile

import pytest

from harness import lifecycle
from harness.configvolume import STAGING, archive
from harness.engine import publish_address, remote_limit
from harness.profile import load_profile
from harness.scenario import find_scenarios, load_scenario

REMOTE = {"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/nonexistent"}


@pytest.fixture
def remote(monkeypatch):
    for key, value in REMOTE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(lifecycle, "native_arch", lambda: "amd64")  # the engine's, without asking it


def reason(name: str) -> str | None:
    scenario = load_scenario(find_scenarios([name])[0])
    return lifecycle.remote_skip_reason(scenario, load_profile(scenario.profile))


@pytest.mark.parametrize("name, word", [("device-mapped", "mknod"), ("docker-sock-mapped", "socket"),
                                        ("arch-binfmt-off", "binfmt_misc"), ("arch-qemu", "QEMU"),
                                        ("network-host", "127.0.0.1"), ("rollback-bad-upgrade", "launcher")])
def test_a_fault_that_needs_this_machine_is_skipped_with_its_reason(remote, name, word):
    why = reason(name)
    assert why is not None and word in why and "DOCKER_HOST=tcp://127.0.0.1:2376" in why


@pytest.mark.parametrize("name", ["baseline", "config-late", "config-unreadable", "oom", "device-missing",
                                  "docker-sock-missing", "toxic-latency"])
def test_what_works_remotely_is_not_skipped(remote, name):
    assert reason(name) is None


def test_nothing_is_skipped_on_this_machines_engine(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(lifecycle, "native_arch", lambda: "amd64")
    assert remote_limit() is None and reason("device-mapped") is None


def test_ports_are_published_at_the_engines_address(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert publish_address() == "127.0.0.1"
    monkeypatch.setenv("DOCKER_HOST", "tcp://localhost:2376")
    assert publish_address() == "127.0.0.1"  # a name is resolved: Docker publishes on addresses
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.1.2.3:2376")
    assert publish_address() == "10.1.2.3"


def test_the_config_archive_keeps_modes_and_owners(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "agent.json").write_text("{}")
    (tmp_path / "sub" / "secret").write_text("x")
    (tmp_path / "sub" / "secret").chmod(0o600)
    with tarfile.open(fileobj=io.BytesIO(archive(tmp_path, STAGING))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {STAGING, f"{STAGING}/agent.json", f"{STAGING}/sub", f"{STAGING}/sub/secret"}
    assert members[f"{STAGING}/sub/secret"].mode == 0o600
    assert members[f"{STAGING}/agent.json"].uid == (tmp_path / "agent.json").stat().st_uid
