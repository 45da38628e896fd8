"""The capture script as shipped, and the bundle reader's refusals (no Docker)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest

from harness import evidence
from harness.cli import main
from harness.errors import InputError


def test_the_printed_script_is_the_one_startle_runs_and_is_valid_posix_sh(capsys, tmp_path):
    assert main(["capture", "--script"]) == 0
    printed = capsys.readouterr().out
    assert printed == evidence.SCRIPT.read_text() and printed.startswith("#!/bin/sh")
    script = tmp_path / "capture.sh"
    script.write_text(printed)
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    usage = subprocess.run(["sh", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: capture.sh" in usage.stderr


def bundle(tmp_path, manifest) -> str:
    path = tmp_path / "b.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = (manifest if isinstance(manifest, str) else json.dumps(manifest)).encode()
        info = tarfile.TarInfo("./manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_a_bundle_of_this_version_is_read(tmp_path):
    assert "manifest.json" in evidence.read_bundle(bundle(tmp_path, {"startle_evidence": 1}))


@pytest.mark.parametrize("manifest, field", [("not json", "manifest.json"), ({"startle_evidence": 9}, "startle_evidence"),
                                             ([1, 2], "startle_evidence")])
def test_a_wrong_manifest_names_the_field_and_the_fix(tmp_path, manifest, field):
    with pytest.raises(InputError) as err:
        evidence.read_bundle(bundle(tmp_path, manifest))
    assert field in str(err.value) and "fix:" in str(err.value)


def test_a_file_that_is_not_a_bundle_is_an_input_error(tmp_path):
    path = tmp_path / "x.tar.gz"
    path.write_bytes(b"\xff\x00 not gzip")
    with pytest.raises(InputError, match="not a readable .tar.gz"):
        evidence.read_bundle(path)


def test_capture_without_a_container_is_exit_2(capsys):
    assert main(["capture"]) == 2
    assert "CONTAINER" in capsys.readouterr().err
