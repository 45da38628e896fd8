"""startle against an engine that is not this machine's: a second dockerd (harness/second_engine.py)
on TCP with TLS, reached the way a board is, through DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH.

One test, in order: a stale instance (its owner killed) is removed by the next start; the new engine
refuses clients without a certificate of its CA; the images `startle run` needs are streamed to it
(and not again); a labelled center runs there and answers at the engine's published address;
`startle doctor` passes against it; `startle clean` reaps the center (its owner pid is dead); the
engine stops and leaves nothing; the first engine is untouched throughout.
"""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from docker.errors import DockerException
from docker.tls import TLSConfig
from requests.exceptions import RequestException

from harness import images, second_engine
from harness.clients import CenterAdmin
from harness.config import LABEL_HOST, LABEL_MANAGED, LABEL_PID, LABEL_ROLE, LABEL_RUN
from harness.engine import client_from_env, engine_address, make_client
from harness.runtime import leftovers
from harness.second_engine import SecondEngine
from harness.tls import write_tls_material

STARTLE = [sys.executable, "-m", "harness.cli"]
HEALTH_DEADLINE_S = 30.0

pytestmark = [pytest.mark.docker, pytest.mark.second_engine]

OWNER = """
import sys
from harness.second_engine import SecondEngine
engine = SecondEngine.start()
engine.client().networks.create("left-behind", driver="bridge")
print(engine.instance.name, flush=True)
sys.stdin.read()  # until killed
"""


def killed_owner_instance() -> SecondEngine:
    """An instance whose owner was SIGKILLed with a network still there: a stale instance."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        name = owner.stdout.readline().strip()
        assert name.startswith("startle2-"), "the owner did not start its engine"
    finally:
        owner.kill()
        owner.wait()
    instance = second_engine.Instance.load(second_engine.STATE_ROOT / name)
    assert instance is not None and not second_engine.owner_alive(instance)
    return SecondEngine(instance, None)


def refused(url: str, **tls_kwargs) -> bool:
    """Whether the engine at ``url`` refuses a client with these TLS settings."""
    try:
        make_client(base_url=url, timeout=10, tls=TLSConfig(verify=True, **tls_kwargs)).ping()
    except (DockerException, RequestException):
        return True
    return False


def wait_healthy(admin: CenterAdmin, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if admin.healthy():
            return True
        threading.Event().wait(0.1)  # the center's own health, polled with a deadline
    return False


def first_engine_state() -> tuple[str, str]:
    """The first engine's pid and docker0's addresses: the same before and after, or it was touched."""
    addresses = subprocess.run(["ip", "-4", "-br", "addr", "show", "docker0"], capture_output=True, text=True).stdout
    return Path("/var/run/docker.pid").read_text().strip(), addresses


def test_remote_engine_over_tls(docker, tmp_path):
    first_engine = first_engine_state()
    stale = killed_owner_instance()
    assert stale.remains(), "a killed owner's instance should leave something for the next start"

    started = time.monotonic()
    with SecondEngine.start() as engine:
        start_s = time.monotonic() - started
        assert stale.remains() == [], "the next start must remove a stale instance"
        env = {**os.environ, **engine.env()}

        # TLS: the trusted client works; without a client certificate, with one of another CA, or in
        # plain HTTP, the engine refuses
        assert engine.client().ping()
        other = write_tls_material(tmp_path / "other-ca", ["127.0.0.1"])
        assert refused(engine.url, ca_cert=engine.tls.ca_cert)
        assert refused(engine.url, ca_cert=engine.tls.ca_cert, client_cert=other.client_cert)
        assert requests.get(f"http://127.0.0.1:{engine.instance.port}/_ping", timeout=5).status_code == 400

        # the env form through harness/engine.py's one client factory
        target = client_from_env(timeout_s=900, environ=env)
        address = engine_address(env)
        assert (address.scheme, address.tls, address.published_host) == ("tcp", True, "127.0.0.1")
        assert target.info()["DockerRootDir"] == str(engine.instance.data_root)

        shipping = time.monotonic()
        shipped = images.ship_to_engine(target, log=print)
        ship_s = time.monotonic() - shipping
        assert {s.action for s in shipped} == {"shipped"}, shipped
        again = images.ship_to_engine(target, log=print)
        assert {s.action for s in again} == {"present"}, again

        # a labelled center there, its owner pid dead (a stale run), reached from this machine
        dead = subprocess.Popen(["true"])
        dead.wait()
        labels = {LABEL_MANAGED: "true", LABEL_RUN: f"remote-{os.getpid()}", LABEL_PID: str(dead.pid),
                  LABEL_HOST: socket.gethostname()}
        network = target.networks.create(f"startle-remote-{os.getpid()}", labels=labels, driver="bridge")
        center = target.containers.run("startle/center:latest", detach=True, name=f"startle-remote-{os.getpid()}",
                                       labels={**labels, LABEL_ROLE: "center"}, network=network.name,
                                       ports={"8080/tcp": (address.published_host, None)})
        center.reload()
        port = center.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        assert wait_healthy(CenterAdmin(f"http://{address.published_host}:{port}"), HEALTH_DEADLINE_S)
        assert leftovers(docker, {LABEL_RUN: labels[LABEL_RUN]}) == [], "it must not be on the first engine"

        doctor = subprocess.run([*STARTLE, "doctor"], env=env, capture_output=True, text=True, timeout=120)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert f"docker engine: {engine.url} (TLS)" in doctor.stdout and "this host: yes" in doctor.stdout
        assert "OK   target can run containers" in doctor.stdout, doctor.stdout

        clean = subprocess.run([*STARTLE, "clean"], env=env, capture_output=True, text=True, timeout=120)
        assert clean.returncode == 0, clean.stderr
        assert leftovers(target, {LABEL_RUN: labels[LABEL_RUN]}) == [], clean.stdout
        check = subprocess.run([*STARTLE, "clean", "--check"], env=env, capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout
        target.close()

        stopping = time.monotonic()
    stop_s = time.monotonic() - stopping
    assert engine.remains() == []
    assert first_engine_state() == first_engine and docker.ping()
    assert "-N DOCKER-USER" in subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    print(f"REMOTE second engine: start {start_s:.1f} s, images {ship_s:.1f} s "
          f"({sum(s.size_bytes for s in shipped) / 1e6:.0f} MB), stop {stop_s:.1f} s")
