"""Field failures, captured by the script from real misconfigured containers, made to happen here
again: `startle reproduce BUNDLE` → REPRODUCED with the same signature; a failure startle cannot
cause (the agent run with another program) → NOT REPRODUCED naming what did not match.
"""

from __future__ import annotations

import time

import pytest

from harness import evidence
from harness.cli import main
from harness.config import LABEL_RUN, ROOT
from harness.runtime import Run, reap

AGENT = "startle/agent:amd64"
ENV = {"NODE_ID": "field-node", "CENTER_ENDPOINT": "http://10.9.9.9:18080"}
CONFIG = {str(ROOT / "fixtures" / "agent" / "config"): {"bind": "/app/config", "mode": "ro"}}
KINDS = {
    "missing-config": dict(),
    "pids": dict(volumes=CONFIG, pids_limit=6),
    "oom": dict(volumes=CONFIG, mem_limit="12m", memswap_limit="12m"),
    "network-none": dict(volumes=CONFIG, network_mode="none"),
    "three-causes": dict(pids_limit=6, mem_limit="64m", memswap_limit="64m", nano_cpus=500_000_000),
}
"""How each field node was misconfigured (``docker run`` keywords; ``three-causes`` also has no config)."""


def field_bundle(docker, run: Run, kind: str, tmp_path, **kwargs):
    """A container that failed as on a node (Docker's wait: no polling), captured by the script."""
    container = docker.containers.run(kwargs.pop("image", AGENT), name=f"startle-{run.run_id}-{kind}", detach=True,
                                      labels=run.labels(), environment=ENV, **kwargs)
    container.wait(timeout=60)
    return evidence.capture(container.name, tmp_path / f"{kind}.tar.gz", since="10m")


@pytest.mark.docker
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_captured_failure_is_reproduced(docker, tmp_path, capsys, kind):
    run = Run()
    try:
        bundle = field_bundle(docker, run, kind, tmp_path, **KINDS[kind])
        started = time.monotonic()
        code = main(["reproduce", str(bundle), "--out", str(tmp_path / "field")])
        out = capsys.readouterr().out
        print(f"REPRODUCE {kind} {time.monotonic() - started:.1f} s\n{out}")
        assert code == 0 and "reproduce: REPRODUCED" in out, out
        assert len(list((tmp_path / "field").glob("field-*.yaml"))) == 1
    finally:
        reap(docker, {LABEL_RUN: run.run_id})


@pytest.mark.docker
def test_a_failure_startle_cannot_cause_is_never_reproduced(docker, tmp_path, capsys):
    """The node ran another program in the agent's image (a corrupted agent): it exits 42 there."""
    run = Run()
    try:
        bundle = field_bundle(docker, run, "corrupted", tmp_path, volumes=CONFIG,
                              entrypoint=["python3", "-c", "raise SystemExit(42)"])
        code = main(["reproduce", str(bundle), "--out", str(tmp_path / "field")])
        out = capsys.readouterr().out
        assert code == 1 and "reproduce: NOT REPRODUCED" in out and "exit_code: field 42" in out, out
        assert "cannot reproduce Entrypoint" in out
    finally:
        reap(docker, {LABEL_RUN: run.run_id})
