"""The CLI on bad input without Docker: `startle init --image` of an image the engine lacks, `startle
build` of an unknown name, and the commands scripts/setup.sh and the Makefile call exist."""

import re
import shlex
from pathlib import Path

import pytest

from harness import cli

ROOT = Path(__file__).resolve().parents[2]


class NoSuchImages:
    """An engine that has no image at all."""

    class images:  # noqa: N801  (the SDK's attribute name)
        @staticmethod
        def get(ref):
            from docker.errors import ImageNotFound
            raise ImageNotFound(f"No such image: {ref}")


@pytest.mark.parametrize("argv", [["init", "--image", "acme/edge-agent:9"],
                                  ["profile", "init", "--image", "acme/edge-agent:9"]])
def test_an_image_the_engine_lacks_is_bad_input_naming_it_and_the_fix(argv, tmp_path, monkeypatch, capsys):
    import harness.runtime
    monkeypatch.setattr(harness.runtime, "docker_client", lambda *a, **k: NoSuchImages())
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "acme/edge-agent:9" in err and "--image" in err and "docker build -t acme/edge-agent:9" in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_build_of_an_unknown_name_is_bad_input(capsys):
    assert cli.main(["build", "agent-sparc"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "agent-sparc" in err and "agent-amd64" in err and "tp-mosquitto-amd64" in err
    assert cli.main(["build", "--tags", "center"]) == cli.EXIT_INPUT
    with pytest.raises(SystemExit):  # argparse: one mode at a time
        cli.parser().parse_args(["build", "--tags", "--prune"])


def startle_calls() -> list[list[str]]:
    """Every startle command line of the Makefile (``$(STARTLE) ...``) and of scripts/setup.sh
    (``... -m harness.cli ...``), variables and redirections cut off."""
    calls = [line.split("$(STARTLE)", 1)[1] for line in (ROOT / "Makefile").read_text().splitlines()
             if "$(STARTLE)" in line and not line.startswith("STARTLE")]
    calls += re.findall(r"-m harness\.cli ([^<|)]*)", (ROOT / "scripts" / "setup.sh").read_text())
    commands = [call.split("#")[0].split(";")[0].rstrip("\\ ") for call in calls]  # a shell loop's line
    return [[word if not word.startswith("$$") else "x"  # a shell variable of the recipe: some value
             for word in shlex.split(command) if "$" not in word or word.startswith("$$")] for command in commands]


def test_setup_and_the_makefile_call_only_startle_commands_that_exist():
    calls = startle_calls()
    assert ["build"] in calls and ["build", "--mutants"] in calls, calls
    for argv in calls:
        cli.parser().parse_args(argv)  # SystemExit on an unknown command or option
    assert "harness.images" not in (ROOT / "scripts" / "setup.sh").read_text() + (ROOT / "Makefile").read_text()
