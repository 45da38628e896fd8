"""The remote-engine pieces that need no Docker: TLS material, DOCKER_HOST parsing, which images
are streamed to a target engine, and the second engine's choices of addresses and flags."""

import datetime
import ipaddress
import os
import socket
import ssl
import stat
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness import second_engine
from harness.doctor import check_target_clock
from harness.engine import LOCAL_ENGINE, docker_arch, engine_address, on_this_host, points_elsewhere
from harness.errors import InputError
from harness import images
from harness.images import Shipped, engine_image_set, transfer_plan
from harness.profile import load_profile
from harness.tls import TlsFiles, write_tls_material

# --------------------------------------------------------------------------------------------
# TLS material


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_tls_material_layout_and_names(tmp_path):
    files = write_tls_material(tmp_path / "certs", ["127.0.0.1", "localhost", "board.local"])
    assert files == TlsFiles.in_folder(tmp_path / "certs")
    for key in (files.client_dir / "key.pem", files.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    written = sorted(p.relative_to(files.client_dir).as_posix() for p in files.client_dir.rglob("*") if p.is_file())
    assert written == ["ca.pem", "cert.pem", "key.pem", "server/ca.pem", "server/cert.pem", "server/key.pem"]
    ca, server, client = load(files.server_ca), load(files.server_cert), load(files.client_dir / "cert.pem")
    server.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "board.local"]
    usage = lambda cert: list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)  # noqa: E731
    assert usage(server) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert usage(client) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_tls_material_needs_a_host(tmp_path):
    with pytest.raises(ValueError):
        write_tls_material(tmp_path, [])


def handshake(server_files: TlsFiles, client_cert: tuple[str, str] | None) -> bool:
    """A real TLS handshake on loopback, the server requiring a client certificate of its CA (as
    dockerd --tlsverify does); whether the server accepted the client."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server_files.server_cert, server_files.server_key)
    server_ctx.load_verify_locations(server_files.server_ca)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=server_files.ca_cert)
    if client_cert:
        client_ctx.load_cert_chain(*client_cert)
    accepted: list[bool] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def serve():
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
                    accepted.append(True)
            except (ssl.SSLError, OSError):
                accepted.append(False)
        thread = threading.Thread(target=serve)
        thread.start()
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            try:
                with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.recv(2)
            except (ssl.SSLError, OSError):
                pass
        thread.join(10)
    return accepted == [True]


def test_tls_material_works_and_only_for_its_own_clients(tmp_path):
    files = write_tls_material(tmp_path / "engine", ["127.0.0.1"])
    stranger = write_tls_material(tmp_path / "stranger", ["127.0.0.1"])
    assert handshake(files, files.client_cert)
    assert not handshake(files, None)
    assert not handshake(files, stranger.client_cert)


# --------------------------------------------------------------------------------------------
# DOCKER_HOST


TLS_ENV = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/nonexistent"}


@pytest.mark.parametrize("environ,expected", [
    ({}, ("unix", "", None, "/var/run/docker.sock", False, "127.0.0.1")),
    ({"DOCKER_HOST": "tcp://127.0.0.1:2376", **TLS_ENV}, ("tcp", "127.0.0.1", 2376, "", True, "127.0.0.1")),
    ({"DOCKER_HOST": "tcp://192.168.1.20:2376", "DOCKER_TLS_VERIFY": "1"}, ("tcp", "192.168.1.20", 2376, "", True,
                                                                            "192.168.1.20")),
    ({"DOCKER_HOST": "tcp://board:2375"}, ("tcp", "board", 2375, "", False, "board")),
    ({"DOCKER_HOST": "tcp://board:2375", "DOCKER_TLS_VERIFY": ""}, ("tcp", "board", 2375, "", False, "board")),
    ({"DOCKER_HOST": "192.168.1.20:2376", **TLS_ENV}, ("tcp", "192.168.1.20", 2376, "", True, "192.168.1.20")),
    ({"DOCKER_HOST": "ssh://pi@board.local:2222"}, ("ssh", "board.local", 2222, "", False, "board.local")),
    ({"DOCKER_HOST": "ssh://board"}, ("ssh", "board", 22, "", False, "board")),
    ({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, ("unix", "", None, "/run/user/1000/docker.sock", False,
                                                          "127.0.0.1")),
])
def test_engine_address(environ, expected):
    address = engine_address(environ)
    assert (address.scheme, address.host, address.port, address.path, address.tls, address.published_host) == expected


@pytest.mark.parametrize("value", ["board:2376", "ftp://board:21", "tcp://board:notaport"])
def test_engine_address_refuses_a_bad_docker_host(value):
    with pytest.raises(InputError, match="DOCKER_HOST"):
        engine_address({"DOCKER_HOST": value})


def test_points_elsewhere():
    assert not points_elsewhere({})
    assert not points_elsewhere({"DOCKER_HOST": LOCAL_ENGINE})
    if os.path.realpath("/run") == os.path.realpath("/var/run"):
        assert not points_elsewhere({"DOCKER_HOST": "unix:///run/docker.sock"})  # the same socket
    assert points_elsewhere({"DOCKER_HOST": "unix:///run/startle-engine2/x.sock"})
    assert points_elsewhere({"DOCKER_HOST": "tcp://127.0.0.1:2376", **TLS_ENV})  # even on loopback
    assert points_elsewhere({"DOCKER_HOST": "ssh://pi@board"})


def test_docker_arch_and_this_host():
    assert (docker_arch("x86_64"), docker_arch("aarch64"), docker_arch("riscv64")) == ("amd64", "arm64", "riscv64")
    here = {"Name": socket.gethostname(), "KernelVersion": os.uname().release}
    assert on_this_host(here)
    assert not on_this_host({**here, "Name": "board"})
    assert not on_this_host({**here, "KernelVersion": "5.10.0-rpi"})


# --------------------------------------------------------------------------------------------
# images toward a target engine


def test_transfer_plan_ships_only_what_the_target_lacks_in_its_architecture():
    local = {"startle/agent:arm64": ("sha256:a64", "arm64"), "startle/agent:amd64": ("sha256:a86", "amd64"),
             "startle/center:latest": ("sha256:c", "amd64"), "startle/toxiproxy:latest": None}
    assert transfer_plan(local, present_ids=set(), target_arch="arm64") == {
        "startle/agent:arm64": "shipped", "startle/agent:amd64": "wrong-arch",
        "startle/center:latest": "wrong-arch", "startle/toxiproxy:latest": "not-built"}
    assert transfer_plan(local, present_ids={"sha256:a86"}, target_arch="amd64") == {
        "startle/agent:arm64": "wrong-arch", "startle/agent:amd64": "present",
        "startle/center:latest": "shipped", "startle/toxiproxy:latest": "not-built"}


def test_engine_image_set_is_the_native_agent_and_the_world():
    assert engine_image_set("arm64") == ["startle/agent:arm64", "startle/center:latest", "startle/toxiproxy:latest"]


def test_engine_image_set_is_the_profiles_agent_and_own_center_then_the_world():
    mosquitto, prometheus = load_profile("tp-mosquitto"), load_profile("tp-prometheus")
    assert engine_image_set("amd64", [mosquitto]) == [
        "startle/tp-mosquitto:amd64", "startle/tp-mosquitto-center:amd64", "startle/center:latest",
        "startle/toxiproxy:latest"]
    # its own center is built for amd64 only: sent to an arm64 board it is reported wrong-arch, not left out
    assert engine_image_set("arm64", [mosquitto])[:2] == ["startle/tp-mosquitto:arm64", "startle/tp-mosquitto-center:amd64"]
    assert engine_image_set("amd64", [mosquitto], agent=False) == [
        "startle/tp-mosquitto-center:amd64", "startle/center:latest", "startle/toxiproxy:latest"]
    assert engine_image_set("amd64", [prometheus, mosquitto, prometheus]) == [
        "startle/tp-prometheus:amd64", "startle/tp-mosquitto:amd64", "startle/tp-mosquitto-center:amd64",
        "startle/center:latest", "startle/toxiproxy:latest"]
    no_arm = prometheus.model_copy(update={"images": {"amd64": "acme/agent:1"}})
    assert engine_image_set("arm64", [no_arm]) == ["startle/center:latest", "startle/toxiproxy:latest"]


class FakeImage:
    def __init__(self, ref, arch):
        self.id, self.tags, self.attrs = f"sha256:{ref}", [ref], {"Architecture": arch}

    def save(self, chunk_size, named):
        yield f"layers of {named}".encode()


class FakeEngine:
    """The images of an engine (ref → architecture): what ship_to_engine reads and loads (no Docker)."""

    def __init__(self, images, machine="x86_64"):
        self.held = {ref: FakeImage(ref, arch) for ref, arch in images.items()}
        self.machine, self.loaded = machine, []
        self.images = type("Images", (), {"get": self._get})()
        self.api = type("Api", (), {"base_url": "https://board:2376", "load_image": self._load, "tag": self._tag})()

    def info(self):
        return {"Architecture": self.machine}

    def _get(self, ref):
        from docker.errors import ImageNotFound
        for image in self.held.values():
            if ref in (image.id, *image.tags):
                return image
        raise ImageNotFound(ref)

    def _load(self, chunks):
        name = b"".join(chunks).decode().removeprefix("layers of ")
        self.loaded.append(name)
        self.held[name] = FakeImage(name, self.machine)
        return []

    def _tag(self, image_id, repo, tag, force):
        self._get(image_id).tags.append(f"{repo}:{tag}")


def test_ship_to_engine_sends_the_profiles_images_a_third_party_run_needs():
    built_here = FakeEngine({"startle/tp-mosquitto:amd64": "amd64", "startle/tp-mosquitto:arm64": "arm64",
                             "startle/tp-mosquitto-center:amd64": "amd64", "startle/agent:amd64": "amd64",
                             "startle/center:latest": "amd64", "startle/toxiproxy:latest": "amd64"})
    board = FakeEngine({"startle/toxiproxy:latest": "amd64"})  # the same image id as the one built here
    shipped = images.ship_to_engine(board, source=built_here, profiles=[load_profile("tp-mosquitto")], log=lambda line: None)
    assert {s.ref: s.action for s in shipped} == {
        "startle/tp-mosquitto:amd64": "shipped", "startle/tp-mosquitto-center:amd64": "shipped",
        "startle/center:latest": "shipped", "startle/toxiproxy:latest": "present"}
    assert board.loaded == ["startle/tp-mosquitto:amd64", "startle/tp-mosquitto-center:amd64", "startle/center:latest"]
    again = images.ship_to_engine(board, source=built_here, profiles=[load_profile("tp-mosquitto")], log=lambda line: None)
    assert {s.action for s in again} == {"present"}


def test_shipped_lines():
    target = "https://127.0.0.1:2376"
    assert "shipped 200.0 MB in 4.0 s (50 MB/s)" in Shipped("x:1", "shipped", seconds=4.0, size_bytes=200_000_000).line(target)
    assert "already there" in Shipped("x:1", "present").line(target)
    assert "built here for amd64 only" in Shipped("x:1", "wrong-arch", arch="amd64").line(target)


# --------------------------------------------------------------------------------------------
# the second engine's choices


def instance(**changes):
    values = dict(name="startle2-40000", port=40000, second_octet=201, owner_pid=1, owner_start="1")
    return second_engine.Instance(**{**values, **changes})


def test_free_second_octet_avoids_routes_and_other_instances():
    used = [ipaddress.IPv4Network("10.200.3.0/24"), ipaddress.IPv4Network("172.17.0.0/16")]
    assert second_engine.free_second_octet(used, claimed=set()) == 201
    assert second_engine.free_second_octet(used, claimed={201, 202}) == 203


def test_free_second_octet_fails_when_all_are_taken():
    with pytest.raises(second_engine.InfrastructureError, match="in use"):
        second_engine.free_second_octet([ipaddress.IPv4Network("10.0.0.0/8")], claimed=set())


def test_dockerd_command_is_isolated_from_the_first_engine(tmp_path):
    one = instance()
    command = second_engine.dockerd_command(one, TlsFiles.in_folder(tmp_path))
    flags = dict(arg.split("=", 1) for arg in command[1:] if "=" in arg)
    assert flags["--bridge"] == "stl2-40000" and "--bip" not in flags
    assert flags["--iptables"] == flags["--ip-masq"] == flags["--ip-forward"] == "false"
    assert flags["--default-address-pool"] == "base=10.201.0.0/16,size=24"
    assert flags["--config-file"].endswith("/startle2-40000/daemon.json")
    assert "--tlsverify" in command and flags["--tlscacert"].endswith("server/ca.pem")
    for key in ("--data-root", "--exec-root", "--pidfile"):
        assert "startle2-40000" in flags[key] and not flags[key].startswith(("/var/lib/docker", "/var/run/docker"))
    assert [arg for arg in command if arg.startswith("--host=")] == [
        f"--host=unix://{one.socket_path}", "--host=tcp://127.0.0.1:40000"]
    assert one.pool.supernet_of(ipaddress.IPv4Network(one.bridge_address, strict=False))
    assert ["-s", "10.201.0.0/16", "-d", "10.201.0.0/16"] == second_engine.chain_rules(one)[0][:4]


def test_owner_alive_follows_the_process_and_its_start_time():
    me = instance(owner_pid=os.getpid(), owner_start=second_engine.process_start(os.getpid()))
    assert second_engine.owner_alive(me)
    assert not second_engine.owner_alive(instance(owner_pid=os.getpid(), owner_start="1"))  # a reused pid
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert not second_engine.owner_alive(instance(owner_pid=dead.pid, owner_start="1"))
    assert second_engine.process_start(dead.pid) == ""


def test_instance_record_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(second_engine, "STATE_ROOT", tmp_path)
    one = instance()
    one.state_dir.mkdir()
    one.save()
    assert second_engine.Instance.load(one.state_dir) == one
    assert second_engine.Instance.load(tmp_path / "missing") is None
    assert second_engine.instances() == [one]


# --------------------------------------------------------------------------------------------
# doctor: the target's clock


class EngineInfo:
    """The one call check_target_clock makes: ``info()`` with the engine's ``SystemTime``."""

    def __init__(self, offset_s: float | None) -> None:
        self.offset_s = offset_s

    def info(self):
        if self.offset_s is None:
            return {"SystemTime": "not a time"}
        now = datetime.datetime.fromtimestamp(time.time() + self.offset_s, datetime.timezone.utc)
        return {"SystemTime": now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"}  # nanoseconds, as dockerd writes


def test_target_clock_offset():
    near, far, unreadable = (check_target_clock(EngineInfo(o)) for o in (0.0, -3.0, None))
    assert near.ok and near.detail.startswith(("+0.0", "-0.0"))
    assert not far.ok and not far.required and far.detail.startswith("-3.0") and "NTP" in far.fix
    assert not unreadable.ok and "unreadable" in unreadable.detail
