"""Small storms end to end without Docker: the mock center as a local process on 127.0.0.1,
locust as a master with two workers (and as one local process), the CLI, the report files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import ROOT
from harness.profile import load_profile
from harness.storm import cli, modes, runner
from harness.storm.policies import make_policies


@pytest.fixture
def center_url():
    """fixtures/center/center.py on a free loopback port; ready when it prints center_listening."""
    port = runner.free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "fixtures" / "center" / "center.py")],
                            env={**os.environ, "CENTER_HOST": "127.0.0.1", "CENTER_PORT": str(port)},
                            stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:  # ends at EOF if the center dies
        if "center_listening" in line:
            break
    else:
        pytest.fail("the center did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()


def test_contention_storm_distributed_through_the_cli(center_url, tmp_path, capsys):
    out = tmp_path / "storm.json"
    code = cli.main(["--center-url", center_url, "--mode", "contention", "--agents", "40", "--policy", "none",
                     "--policy", "full-jitter", "--workers", "2", "--deadline-s", "20", "--seed", "5",
                     "--reports", str(tmp_path), "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "ranked by total work (attempts):" in printed and "ranked by time to 100 % registered:" in printed
    data = json.loads(out.read_text())
    rows = {r["policy"]: r for r in data["summary"]}
    assert set(rows) == {"none", "full-jitter"}
    for row in rows.values():
        assert row["registered"] == 40 and row["never_registered"] == 0 and row["complete"]
        assert row["t100_s"] is not None and row["t100_s"] > 0
        # every request reached the center: the center's own log agrees with the agents' records
        assert row["center_requests"] == row["requests"] == 2 * row["attempts"]  # read + write each
        assert row["status_409"] == row["wasted"]
    assert rows["full-jitter"]["attempts"] < rows["none"]["attempts"]
    folder = Path(data["folder"])
    for name in ("storm.csv", "timeseries.csv", "records.parquet", "storm.html", "storm.json",
                 "registered.svg", "registered.png", "center_rps.svg", "center_rps.png"):
        assert (folder / name).stat().st_size > 0, name
    assert "<svg" in (folder / "storm.html").read_text()


def test_outage_storm_local_process_center_down_switch(center_url, tmp_path):
    profile = load_profile("reference")
    settings = runner.StormSettings(modes.ModeParams("outage", outage_s=1.0),
                                    make_policies(["profile"], base_ms=100, cap_ms=1000, factor=2,
                                                  deadline_s=20, profile=profile),
                                    agents=[30], workers=0, seed=1)
    world = runner.ExternalWorld(modes.Endpoints(center=center_url, target=center_url))
    result = runner.run_storm(settings, world, tmp_path, progress=lambda line: None)
    for run in result.runs:
        s = run.summary()
        events = run.meta["events"]
        assert events["center_up"] - events["go"] >= 1.0
        assert run.t_ref == events["center_up"]
        assert s["registered"] == 30 and s["no_answer"] > 0  # the center closed connections while down
        assert s["t100_s"] > 0  # nobody registered before the center came back
        series = run.timeseries()
        assert series["t"].min() < 0 and series.loc[series["t"] < 0, "registrations"].sum() == 0


def test_a_third_party_http_agent_is_stormed_on_its_own_route(center_url, tmp_path, capsys):
    """tp-prometheus: its writes (POST /api/v1/write, answered 204 as its profile declares) are the
    registrations, the center's capacity applies to that route, and its 429s' Retry-After is honoured."""
    out = tmp_path / "storm.json"
    code = cli.main(["--center-url", center_url, "--profile", "tp-prometheus", "--mode", "capacity",
                     "--capacity-per-s", "10", "--agents", "20", "--policy", "profile", "--workers", "0",
                     "--deadline-s", "20", "--seed", "2", "--reports", str(tmp_path), "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    (row,) = json.loads(out.read_text())["summary"]
    assert row["registered"] == 20 and row["center_ok"] == 20 and row["complete"], row
    assert row["status_429"] > 0  # over capacity on its own route, not on the reference's
    assert row["attempts"] == 20 + row["status_429"] and row["center_requests"] == row["attempts"]
