"""Field failures, captured by the script from real misconfigured containers, made to happen here
again: `startle reproduce BUNDLE` → REPRODUCED with the same signature, the inferred fault named;
a failure startle cannot cause (the agent run with another program) → NOT REPRODUCED naming what
did not match; the padded three-cause node minimised to exactly its three causes.

Each field node is a reference-agent container run with ``docker run`` settings a node could have
(no startle world around it), on the default bridge or on a network of its own with a center of
its own; it carries the run's labels and is removed in ``finally``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import evidence
from harness.cli import main
from harness.config import LABEL_RUN, ROOT
from harness.runtime import Run, reap
from harness.skip import BinfmtLock, missing_requirement, qemu_state

AGENT = "startle/agent:amd64"
ENV = {"NODE_ID": "field-node", "CENTER_ENDPOINT": "http://10.9.9.9:18080"}
SHORT_DEADLINE = {"retry": {"deadline_s": 6}}
"""The node's own config: a registration deadline of 6 s (so a node that never registers gives up soon)."""


def node_config(tmp_path: Path, changes: dict | None = None, mode: int = 0o644) -> dict:
    """The node's config folder: the reference agent's, with ``changes`` merged into agent.json."""
    folder = tmp_path / "node-config"
    shutil.copytree(ROOT / "fixtures" / "agent" / "config", folder)
    path = folder / "agent.json"
    data = json.loads(path.read_text())
    for key, value in (changes or {}).items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    path.write_text(json.dumps(data, indent=2))
    path.chmod(mode)
    return {str(folder): {"bind": "/app/config", "mode": "ro"}}


def field_center(docker, run: Run, routes: list[dict]) -> tuple[str, dict]:
    """A network of the node's own with a center that answers ``routes``; waits for its health
    (Docker's events, with a deadline). Returns the center URL and the agent's run keywords."""
    network = docker.networks.create(f"startle-{run.run_id}-field", labels=run.labels())
    since = int(time.time()) - 1
    center = docker.containers.run("startle/center:latest", name=f"startle-{run.run_id}-field-center", detach=True,
                                   labels=run.labels(), network=network.name,
                                   environment={"CENTER_ROUTES": json.dumps(routes)})
    wait_healthy(docker, center, since, 30)
    return f"http://{center.name}:8080", {"network": network.name}


def wait_healthy(docker, container, since: int, deadline_s: float) -> None:
    """Until Docker's HEALTHCHECK says ``container`` is healthy (its events since ``since``)."""
    for event in docker.events(since=since, until=int(time.time() + deadline_s), decode=True,
                               filters={"container": container.id, "event": "health_status"}):
        if event.get("status", "").endswith("healthy") and "unhealthy" not in event["status"]:
            return
    raise AssertionError(f"{container.name} did not become healthy within {deadline_s} s")


def missing_config(docker, run, tmp_path):
    return {}


def unreadable_config(docker, run, tmp_path):
    return {"volumes": node_config(tmp_path, mode=0o600)}


def pids(docker, run, tmp_path):
    return {"volumes": node_config(tmp_path), "pids_limit": 6}


def oom(docker, run, tmp_path):
    return {"volumes": node_config(tmp_path), "mem_limit": "12m", "memswap_limit": "12m"}


def caps_dropped_device_needed(docker, run, tmp_path):
    return {"volumes": node_config(tmp_path, {"devices": ["/dev/ttyUSB0"]}), "cap_drop": ["ALL"]}


def network_none(docker, run, tmp_path):
    return {"volumes": node_config(tmp_path), "network_mode": "none"}


def dns(docker, run, tmp_path):
    return {"volumes": node_config(tmp_path), "dns": ["127.0.0.1"],
            "environment": {**ENV, "CENTER_ENDPOINT": "http://center.field.invalid:18080"}}


def center_refused(docker, run, tmp_path):
    return {"volumes": node_config(tmp_path, SHORT_DEADLINE), "environment": {**ENV, "CENTER_ENDPOINT": "http://127.0.0.1:9"}}


def center_503(docker, run, tmp_path):
    url, net = field_center(docker, run, [{"method": "POST", "path": "/v1/register", "status": 503}])
    return {"volumes": node_config(tmp_path, SHORT_DEADLINE), "environment": {**ENV, "CENTER_ENDPOINT": url}, **net}


def center_429(docker, run, tmp_path):
    url, net = field_center(docker, run, [{"method": "POST", "path": "/v1/register", "status": 429,
                                           "headers": {"Retry-After": "1"}}])
    return {"volumes": node_config(tmp_path, SHORT_DEADLINE), "environment": {**ENV, "CENTER_ENDPOINT": url}, **net}


def three_causes(docker, run, tmp_path):
    return {"pids_limit": 6, "mem_limit": "64m", "memswap_limit": "64m", "nano_cpus": 500_000_000}


KINDS = {  # kind → (the node's docker run keywords, what reproduce must infer)
    "missing-config": (missing_config, "config_mount: nothing is mounted"),
    "unreadable-config": (unreadable_config, "config_mount: agent.json on the node"),
    "pids": (pids, "pids_limit"),
    "oom": (oom, "memory_limit"),
    "caps-dropped-device-needed": (caps_dropped_device_needed, "config_override: agent.json: devices"),
    "network-none": (network_none, "network_mode: --network none"),
    "dns": (dns, "network_mode: --dns 127.0.0.1"),
    "center-refused": (center_refused, "proxy_down"),
    "center-503": (center_503, "center_failure: "),
    "center-429": (center_429, "center_failure: "),
    "three-causes": (three_causes, "pids_limit"),
}


def field_bundle(docker, run: Run, name: str, tmp_path, image: str = AGENT, **kwargs) -> Path:
    """A container that failed as on a node (Docker's wait: no polling), captured by the script."""
    kwargs.setdefault("environment", ENV)
    container = docker.containers.run(image, name=f"startle-{run.run_id}-{name}", detach=True,
                                      labels=run.labels(), **kwargs)
    container.wait(timeout=60)
    return evidence.capture(container.name, tmp_path / f"{name}.tar.gz", since="10m")


def reproduce(bundle: Path, tmp_path, capsys, *options: str) -> tuple[int, str, float]:
    started = time.monotonic()
    code = main(["reproduce", str(bundle), "--out", str(tmp_path / "field"), *options])
    out = capsys.readouterr().out
    took = time.monotonic() - started
    print(f"REPRODUCE {bundle.name} {took:.1f} s\n{out}")
    return code, out, took


@pytest.mark.docker
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_captured_failure_is_reproduced(docker, tmp_path, capsys, kind):
    settings, inferred = KINDS[kind]
    run = Run()
    try:
        bundle = field_bundle(docker, run, kind, tmp_path, **settings(docker, run, tmp_path))
        code, out, _ = reproduce(bundle, tmp_path, capsys)
        assert code == 0 and "reproduce: REPRODUCED" in out, out
        assert inferred in out.splitlines()[0], out
        written = list((tmp_path / "field").glob("field-*.yaml"))
        assert len(written) == 1 and "signature:" in written[0].read_text()
    finally:
        reap(docker, {LABEL_RUN: run.run_id})


@pytest.mark.docker
def test_a_wrong_architecture_image_with_binfmt_off_is_reproduced(docker, tmp_path, capsys):
    """The node runs the arm64 image while QEMU's binfmt entry is off (toggled here under the
    host-wide binfmt lock, and turned back on before reproducing)."""
    if missing_requirement("binfmt-control") or qemu_state() != "enabled":
        pytest.skip(f"binfmt cannot be toggled here: {missing_requirement('binfmt-control') or qemu_state()}")
    from harness.faults.binfmt_off import _update_binfmts
    run, lock = Run(), BinfmtLock()
    try:
        lock.acquire(exclusive=True)
        try:
            _update_binfmts("disable")
            bundle = field_bundle(docker, run, "wrong-arch", tmp_path, image="startle/agent:arm64",
                                  volumes=node_config(tmp_path))
        finally:
            _update_binfmts("enable")
            lock.release()
        binfmt = evidence.read_bundle(bundle)["binfmt.txt"]  # update-binfmts --disable unregisters the entry
        assert "[qemu-aarch64]\nenabled" not in binfmt, binfmt
        code, out, _ = reproduce(bundle, tmp_path, capsys)
        assert code == 0 and "reproduce: REPRODUCED" in out and "binfmt_off" in out, out
    finally:
        reap(docker, {LABEL_RUN: run.run_id})


@pytest.mark.docker
def test_a_failure_startle_cannot_cause_is_never_reproduced(docker, tmp_path, capsys):
    """The node ran another program in the agent's image (a corrupted agent): it exits 42 there."""
    run = Run()
    try:
        bundle = field_bundle(docker, run, "corrupted", tmp_path, volumes=node_config(tmp_path),
                              entrypoint=["python3", "-c", "raise SystemExit(42)"])
        code, out, _ = reproduce(bundle, tmp_path, capsys)
        assert code == 1 and "reproduce: NOT REPRODUCED" in out and "exit_code: field 42" in out, out
        assert "cannot reproduce Entrypoint" in out
    finally:
        reap(docker, {LABEL_RUN: run.run_id})


def minimised(out: str) -> tuple[list[str], str, int]:
    """The minimal faults, the irrelevant ones (as printed) and the number of runs."""
    minimal = re.search(r"reproduce: minimal: (.*)", out).group(1)
    irrelevant = re.search(r"reproduce: irrelevant: (.*)", out).group(1)
    return sorted(minimal.split(", ")), irrelevant, int(re.search(r"MINIMISED in (\d+) runs", out).group(1))


@pytest.mark.docker
def test_minimise_keeps_the_causes_and_names_the_irrelevant_settings(docker, tmp_path, capsys):
    """make test's slice: a node without its config mount, left down by --restart no, with two
    settings that do not matter (--cpus 1.5, SITE=plant-4); one run per candidate."""
    run = Run()
    try:
        bundle = field_bundle(docker, run, "two-causes", tmp_path, nano_cpus=1_500_000_000,
                              environment={**ENV, "SITE": "plant-4"})
        code, out, took = reproduce(bundle, tmp_path, capsys, "--minimise", "-k", "1")
        assert code == 0 and "MINIMISED" in out, out
        minimal, irrelevant, runs = minimised(out)
        assert minimal == ["config_mount(state=missing)", "restart_policy(name=no)"], out
        assert "cpu_limit" in irrelevant and "SITE" in irrelevant, out
        assert "minimised:" in (tmp_path / "field").joinpath(next(
            p.name for p in (tmp_path / "field").glob("*-minimal.yaml"))).read_text()
        print(f"MINIMISE two causes: {runs} runs, {took:.0f} s")
    finally:
        reap(docker, {LABEL_RUN: run.run_id})


PADDED = dict(mem_limit="48m", memswap_limit="48m",  # the three causes: a memory cap below the init
              # working set the node's config asks for, and --restart no (it stays down) ...
              nano_cpus=1_500_000_000, pids_limit=500)  # ... and three settings that do not matter
"""The padded three-cause node of ``--minimise`` (with SITE=plant-4 in its env, the third padding)."""


@pytest.mark.docker
@pytest.mark.skipif(not os.environ.get("STARTLE_BENCH"), reason="a benchmark (~3 min): make bench-reproduce")
def test_the_padded_three_cause_node_minimises_to_exactly_its_three_causes(docker, tmp_path, capsys):
    run = Run()
    try:
        bundle = field_bundle(docker, run, "padded", tmp_path, volumes=node_config(tmp_path, {"init_buffer_mb": 96}),
                              environment={**ENV, "SITE": "plant-4"}, **PADDED)
        code, out, took = reproduce(bundle, tmp_path, capsys, "--minimise")
        assert code == 0 and "MINIMISED" in out, out
        minimal, irrelevant, runs = minimised(out)
        assert minimal == ["config_override(init_buffer_mb=96)", "memory_limit(memory_mb=48)",
                           "restart_policy(name=no)"], out
        assert all(word in irrelevant for word in ("cpu_limit", "pids_limit", "SITE")), out
        assert re.search(r"memory_limit.memory_mb: fails up to \d+, not at \d+", out), out
        print(f"MINIMISE three causes, padded: {runs} runs, {took:.0f} s")
    finally:
        reap(docker, {LABEL_RUN: run.run_id})


@pytest.mark.docker
def test_a_reproduced_regression_test_fails_on_the_buggy_build_and_passes_on_the_fixed_one(docker, tmp_path, capsys):
    """The whole loop of a field bug. A node runs a build whose Retry-After parser raises
    (tests/mutants/crashes-on-retry-after) behind a center that rate-limits its first two
    registrations: it dies on each 429, Docker restarts it, then it registers. Captured, the failure
    is REPRODUCED here with the node's build (``--image``); ``--fixed`` writes the regression test,
    an ordinary scenario file that pytest collects: it fails on the buggy build and passes on the
    fixed one (the reference agent)."""
    from harness.clients import CenterAdmin
    buggy = "startle/mutant-crashes-on-retry-after:amd64"
    run = Run()
    try:
        url, net = field_center(docker, run, [])
        center = docker.containers.get(f"startle-{run.run_id}-field-center")
        address = center.attrs["NetworkSettings"]["Networks"][net["network"]]["IPAddress"]
        admin = CenterAdmin(f"http://{address}:8080")
        admin.behaviour(status=429, retry_after_s=1, fail_next=2)
        since = int(time.time()) - 1
        node = docker.containers.run(buggy, name=f"startle-{run.run_id}-rate-limited", detach=True,
                                     labels=run.labels(), environment={**ENV, "CENTER_ENDPOINT": url},
                                     volumes=node_config(tmp_path), restart_policy={"Name": "on-failure"}, **net)
        wait_healthy(docker, node, since, 60)  # on its third life: registered, ready
        node.reload()
        assert node.attrs["RestartCount"] == 2, node.attrs["RestartCount"]
        bundle = evidence.capture(f"startle-{run.run_id}-rate-limited", tmp_path / "rate-limited.tar.gz", since="10m")

        code, out, _ = reproduce(bundle, tmp_path, capsys, "--image", buggy)
        assert code == 0 and "reproduce: REPRODUCED" in out and "center_failure: " in out, out
        field = tmp_path / "agent-repo" / "scenarios" / "field"  # where pytest collects scenarios
        assert main(["reproduce", str(bundle), "--fixed", "--out", str(field)]) == 0
        (regression,) = field.glob("*-fixed.yaml")
        assert "signature:" in regression.read_text()
        env = {**os.environ, "STARTLE_REPORTS": str(tmp_path / "reports")}
        on_buggy = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--image", buggy, str(regression)], env=env,
                                  capture_output=True, text=True, timeout=180)
        assert on_buggy.returncode == 1 and "no_restart" in on_buggy.stdout, on_buggy.stdout[-3000:]
        on_fixed = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(regression)],
                                  env=env, capture_output=True, text=True, timeout=180, cwd=ROOT)
        assert on_fixed.returncode == 0 and "1 passed" in on_fixed.stdout, on_fixed.stdout[-3000:]
    finally:
        reap(docker, {LABEL_RUN: run.run_id})
