"""`startle storm --worker-netns`: locust workers in network namespaces of their own, talking to the
master and to the center (a container on the host network) over veth links from their own
addresses; every namespace and link removed on pass and on Ctrl-C, a stale one reaped."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys

from harness.config import ROOT
from harness.runtime import leftovers
from harness.storm import cli, netns

AGENTS = 300


def storm_leftovers(docker, run_id: str) -> list:
    """Containers of the run, and namespaces / links of any storm of this run id."""
    owner = f"{netns.OWNER_PREFIX}{run_id}-"
    return (leftovers(docker, {"startle.run": run_id})
            + [n for n in netns.namespaces() if n.startswith(owner)]
            + [link for link, alias in netns.owned_links().items() if alias.startswith(owner)])


def test_workers_in_namespaces_reach_master_and_center_from_their_own_addresses(docker, tmp_path, capsys):
    out = tmp_path / "storm.json"
    code = cli.main(["--mode", "boot", "--agents", str(AGENTS), "--policy", "full-jitter", "--workers", "2",
                     "--worker-netns", "--seed", "2", "--deadline-s", "30", "--reports", str(tmp_path),
                     "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    data = json.loads(out.read_text())
    assert data["worker_netns"] is True
    (row,) = data["summary"]
    assert row["registered"] == AGENTS and row["complete"]
    run_id = data["run_id"]
    assert storm_leftovers(docker, run_id) == []
    addresses = printed.split("workers on ", 1)[1].splitlines()[0].split(", ")
    assert len(addresses) == 2 and all(ipaddress.ip_address(a) in netns.SUPERNET for a in addresses)
    # the center saw the agents from the two workers' addresses, never from the root namespace's loopback
    assert set(row["center_sources"].split()) == set(addresses), row["center_sources"]


def test_ctrl_c_removes_namespaces_and_a_stale_one_is_reaped(docker, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = netns.WorkerNetwork("stale-test-0000", 1, pid=dead.pid).__enter__()  # as if its storm was killed
    assert stale.leftovers()
    proc = subprocess.Popen([sys.executable, "-m", "harness.storm.cli", "--mode", "boot", "--agents", "50",
                             "--policy", "full-jitter", "--workers", "2", "--worker-netns", "--seed", "1",
                             "--reports", str(tmp_path)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    run_id = None
    for line in proc.stdout:
        if line.startswith("startle storm: run "):
            run_id = line.split()[3].rstrip(",")
        if "worker namespaces" in line:  # created: interrupt while they are in use
            assert stale.leftovers() == []  # the new storm reaped the dead one's first
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == cli.EXIT_INTERRUPTED, rest
    assert run_id and storm_leftovers(docker, run_id) == []
