"""The real-container cross-check: 30 agent containers restarted together during a center outage,
beside the simulation of their declared policy at the same N (`startle storm --containers 30`).

The reference agent must agree with its simulation; the ``fixed-interval`` mutant (retries every
0.5 s while its profile declares full-jitter exponential backoff) must be flagged; a third-party
agent (Prometheus, whose writes name no node and are answered 204) is counted on its own route.
Nothing may be left behind.
"""

from __future__ import annotations

import json

import pytest
import yaml

from harness.config import LABEL_RUN
from harness.profile import PROFILES_DIR
from harness.runtime import leftovers
from harness.storm import cli, fleet

FLEET = ["--mode", "outage", "--outage-s", "12", "--containers", "30", "--seed", "3"]


def storm(tmp_path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "storm.json"
    code = cli.main([*FLEET, "--reports", str(tmp_path / "reports"), "--json", str(out), *extra])
    return code, json.loads(out.read_text()) if out.exists() else {}


def no_leftovers(docker, data: dict) -> None:
    assert data, "the storm wrote no JSON"
    assert leftovers(docker, {LABEL_RUN: data["run_id"]}) == []


@pytest.mark.docker
def test_reference_fleet_agrees_with_its_simulation(docker, tmp_path):
    code, data = storm(tmp_path)
    no_leftovers(docker, data)
    rows = {row["policy"]: row for row in data["summary"]}
    assert set(rows) == {"profile", fleet.POLICY_NAME}
    real = rows[fleet.POLICY_NAME]
    assert real["registered"] == 30 and real["agents"] == 30
    assert real["attempts"] > 30  # every agent retried through the outage
    check = data["cross_check"]
    assert check["agrees"], check["reasons"]
    assert code == cli.EXIT_OK


@pytest.mark.docker
def test_a_prometheus_fleet_registers_every_container_on_its_own_route(docker, tmp_path):
    """tp-prometheus: remote_write to POST /api/v1/write (answered 204), no node id sent (2.42 never
    sends the header its profile declares): the containers are told apart by their addresses. The
    fleet alone (the simulation beside it and the CLI are the reference tests' and the unit tests')."""
    from harness.profile import load_profile
    from harness.runtime import Run
    from harness.storm.modes import ModeParams
    from harness.storm.policies import make_policies
    profile = load_profile("tp-prometheus")
    (policy,) = make_policies(["profile"], base_ms=100, cap_ms=2000, factor=2, deadline_s=60, profile=profile)
    run = Run(reports_root=tmp_path)
    try:
        result = fleet.cross_check(run, profile, 3, ModeParams("outage", outage_s=2.0), policy, client=docker)
    finally:
        assert leftovers(docker, {LABEL_RUN: run.run_id}) == []
    s = result.summary()
    assert s["registered"] == 3 and s["center_ok"] == 3 and result.meta["complete"], s
    assert s["attempts"] > 3  # writes into the outage before the one accepted, none counted after it
    assert set(result.records["agent"]) == {fleet.node_id(i) for i in range(3)}
    assert len(result.meta["config"]["mode"]["start_offsets_s"]) == 3


@pytest.mark.docker
def test_fleet_of_fixed_interval_mutants_disagrees_with_the_declared_policy(docker, tmp_path):
    image = "startle/mutant-fixed-interval:amd64"
    docker.images.get(image)  # built by `make mutants`: missing is an error, not a skip
    profile = yaml.safe_load((PROFILES_DIR / "reference.yaml").read_text())
    profile["name"] = "fixed-interval-mutant"
    profile["images"] = {"amd64": image}
    path = tmp_path / "mutant-profile.yaml"
    path.write_text(yaml.safe_dump(profile))
    code, data = storm(tmp_path, "--profile", str(path))
    no_leftovers(docker, data)
    check = data["cross_check"]
    assert not check["agrees"]
    assert any("retry gaps differ" in reason for reason in check["reasons"]), check["reasons"]
    assert code == cli.EXIT_DISAGREES


@pytest.mark.docker
def test_ctrl_c_while_the_fleet_starts_removes_everything(docker, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from harness.config import LABEL_SCENARIO, ROOT
    since = int(time.time())
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "storm", *FLEET, "--reports", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = proc.stdout.readline()  # "startle storm: run <id>, ..."
        run_id = first.split("run ", 1)[1].split(",", 1)[0]
        events = docker.events(since=since, until=since + 120, decode=True,  # ends by itself: a deadline
                               filters={"type": "container", "event": "start",
                                        "label": [f"{LABEL_RUN}={run_id}", f"{LABEL_SCENARIO}={fleet.FLEET_SCENARIO}"]})
        started = 0
        for _event in events:  # the center, Toxiproxy, then agents: interrupt among the agents' starts
            started += 1
            if started >= 6:
                break
        events.close()
        assert started >= 6, f"the fleet never started its agents:\n{first}{proc.stdout.read() if proc.poll() is not None else ''}"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == cli.EXIT_INTERRUPTED, first + out
    assert "removed" in out
    assert leftovers(docker, {LABEL_RUN: run_id}) == []
