"""startle used from another repository: only the built wheel installed in a fresh virtualenv.

In a temporary folder outside the checkout: ``startle init``, a profile written there (a real
third-party agent's, from Debian's packages), ``startle setup`` (its cache in ~/.cache/startle; the
images the checkout built have the same content hashes and are not rebuilt), ``startle doctor``,
then ``startle run`` of a slice of the matrix taken from ``startle.yaml``; the profile names its
config templates and launcher in that folder; the reports land there. The whole matrix on that
agent is ``make bench-thirdparty``.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "fixtures" / "profiles" / "tp-mosquitto.yaml"
SCENARIOS = ["baseline", "center-outage-long", "config-malformed", "health-stages", "rollback-bad-upgrade"]


CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("STARTLE_REPORTS", "PYTHONPATH", "VIRTUAL_ENV")}
"""Nothing of the checkout's environment reaches the installed startle."""


def sh(args, cwd, timeout=600, env=None, ok=True):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**CLEAN_ENV, **(env or {})})
    if ok:
        assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_the_wheel_alone_runs_a_third_party_agent_from_another_folder(docker, tmp_path):
    source, dist, venv, project = tmp_path / "src", tmp_path / "dist", tmp_path / "venv", tmp_path / "agent-repo"
    listed = sh(["git", "ls-files", "-co", "--exclude-standard", "-z"], ROOT).stdout.split("\0")
    for name in filter(None, listed):  # a clean copy: no build/ or caches of earlier builds
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)], tmp_path)
    wheel = next(dist.glob("startle-*.whl"))
    sh([sys.executable, "-m", "venv", str(venv)], tmp_path)
    sh([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], tmp_path, timeout=900,
       env={"PIP_CACHE_DIR": str(ROOT / ".cache" / "pip"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    startle = str(venv / "bin" / "startle")
    project.mkdir()

    sh([startle, "init"], project)
    assert (project / "startle.yaml").exists() and (project / "agent-profile.yaml").exists()
    # the team's own files, beside its profile (not startle's copies of them: the paths differ)
    shutil.copytree(ROOT / "fixtures" / "thirdparty" / "mosquitto" / "config", project / "deploy" / "config")
    launcher = (ROOT / "fixtures" / "thirdparty" / "mosquitto" / "launcher.sh").read_text().split("\n", 1)
    (project / "deploy" / "start.sh").write_text(f"{launcher[0]}\necho 'the team launcher: deploy/start.sh'\n{launcher[1]}")
    (project / "deploy" / "start.sh").chmod(0o755)
    written = yaml.safe_load(PROFILE.read_text())
    written["config"]["source"], written["launcher"]["script"] = "deploy/config", "deploy/start.sh"
    (project / "agent-profile.yaml").write_text(yaml.safe_dump(written, sort_keys=False))
    settings = yaml.safe_load((project / "startle.yaml").read_text())
    settings.update(scenarios=SCENARIOS, jobs=2)
    (project / "startle.yaml").write_text(yaml.safe_dump(settings))

    setup = sh([startle, "setup"], project, timeout=900).stdout  # what a user does first (idempotent)
    rebuilt = [line for line in setup.splitlines() if " built (" in line]
    assert not [line for line in rebuilt if "startle/base:" in line or "startle/agent:" in line], rebuilt
    doctor = sh([startle, "doctor"], project).stdout  # it checks the profile startle.yaml names
    assert f"OK   profile: {written['name']}" in doctor, doctor
    assert f"(profile {written['name']}: center.image.image)" in doctor, doctor
    run = sh([startle, "run", "--no-pairs"], project, timeout=900, ok=False)
    assert run.returncode in (0, 1), f"exit {run.returncode}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    journal = json.loads((project / "reports" / "latest" / "results.json").read_text())
    statuses = {s["name"]: s["status"] for s in journal["scenarios"]}
    assert "error" not in statuses.values(), statuses
    assert statuses["baseline"] == "pass" and journal["scenarios"][0]["profile"] == written["name"]
    # its own launcher (deploy/start.sh in the team's repository) rolled back
    assert statuses["rollback-bad-upgrade"] == "pass", statuses
    # mosquitto backs off through 40 s without its center: decorrelated jitter (1–11 s gaps) varies
    # within its bounds; simulated on its bridge code, ~1 run in 800 keeps gaps that neither vary nor
    # are enough to call fixed: skipped then, never failed (tests/unit/test_checks.py). Its constant
    # mutant is flagged there (test_mutants.py).
    outage = next(s for s in journal["scenarios"] if s["name"] == "center-outage-long")
    verdicts = {v["check"]: v for v in outage["verdicts"]}
    assert verdicts["recovers"]["status"] == verdicts["ready"]["status"] == "pass", outage["verdicts"]
    grows = verdicts["gaps_grow"]
    assert grows["measured"]["source"] == "agent"  # its "Connecting bridge" lines
    assert grows["status"] == "pass" or (grows["status"] == "skip" and "too few to tell" in grows["message"]), grows
    timeline = (project / "reports" / "latest" / "timeline.csv").read_text()
    assert "the team launcher: deploy/start.sh" in timeline, "the launcher run was not the team's own"
    assert (project / "reports" / "latest" / "report.html").exists()
    assert not (ROOT / "reports" / journal["run_id"]).exists()  # written where the user is, not in the checkout
