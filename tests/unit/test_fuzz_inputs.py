"""Every file startle reads, fuzzed (hypothesis): each input either loads or ends in an
:class:`InputError` naming file, field and fix — through the CLI, exit 2 — never a traceback.

Readers: scenarios, profiles, resilience-score weights, ``startle.yaml``, run journals
(``results.json`` and the timelines beside it). Inputs: raw bytes (invalid UTF-8 included),
arbitrary YAML/JSON documents, the real files with one value replaced anywhere in them, and the
hand-made cases a fuzzer rarely finds (deep nesting, huge, symlink loops, folders, alias bombs,
path-escaping references). ``INPUTS`` counts what each reader was given (printed at the end).
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from harness import cli
from harness.config import PROFILES_DIR, SCENARIOS_DIR
from harness.errors import InputError
from harness.lifecycle import ScenarioResult
from harness.profile import load_profile
from harness.project import load_project
from harness.reports.build import run_data, write_journal
from harness.reports.journal import load_run
from harness.reports.score import DEFAULT_WEIGHTS, load_weights
from harness.scenario import load_scenario

EXAMPLES = int(os.environ.get("STARTLE_FUZZ_EXAMPLES", "150"))
"""Generated inputs per reader (the hand-made cases come on top); more: STARTLE_FUZZ_EXAMPLES=2000."""
INPUTS: collections.Counter = collections.Counter()
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def report_the_counts():
    """After the module: how many inputs each reader was given (for the figures, not a test)."""
    yield
    print("\nfuzzed inputs per reader: " + ", ".join(f"{k} {v}" for k, v in sorted(INPUTS.items())))


def loads_or_input_error(reader, path: Path, name: str) -> None:
    """``reader(path)`` either returns or raises InputError naming ``path``; anything else fails."""
    INPUTS[name] += 1
    try:
        reader(path)
    except InputError as exc:
        assert exc.path and exc.field and exc.fix, exc
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{name}: {type(exc).__name__}: {exc} on {path.read_bytes()[:300]!r}")


# --- strategies --------------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=40))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=25)


def mutated(document: dict) -> st.SearchStrategy:
    """``document`` with the value at one random path replaced by an arbitrary value (or removed)."""
    paths: list[tuple] = []

    def walk(node, prefix):
        paths.append(prefix)
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, prefix + (key,))
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, prefix + (i,))
    walk(document, ())

    def apply(path: tuple, value, remove: bool):
        out = json.loads(json.dumps(document))
        if not path:
            return value
        node = out
        for part in path[:-1]:
            node = node[part]
        if remove and isinstance(node, dict):
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
        return out
    return st.builds(apply, st.sampled_from(paths), values, st.booleans())


def write(path: Path, document) -> Path:
    """``document`` into ``path``: bytes as they are, anything else as YAML."""
    path.write_bytes(document if isinstance(document, bytes) else yaml.safe_dump(document, allow_unicode=True).encode())
    return path


def real(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


SCENARIO = real(SCENARIOS_DIR / "center-outage.yaml")
PROFILE = real(PROFILES_DIR / "tp-mosquitto.yaml")
WEIGHTS = real(DEFAULT_WEIGHTS)
PROJECT = {"profile": "agent-profile.yaml", "scenarios": ["baseline"], "jobs": 2}


def scenario_file(tmp: Path, document) -> Path:
    name = document.get("name") if isinstance(document, dict) and isinstance(document.get("name"), str) else "x"
    safe = "".join(c for c in name if c.isalnum() or c in "-_")[:40] or "x"
    return write(tmp / f"{safe}.yaml", document)


READERS = {
    "scenario": (load_scenario, SCENARIO, scenario_file),
    "profile": (load_profile, PROFILE, lambda tmp, doc: write(tmp / "profile.yaml", doc)),
    "weights": (load_weights, WEIGHTS, lambda tmp, doc: write(tmp / "weights.yaml", doc)),
    "startle.yaml": (load_project, PROJECT, lambda tmp, doc: write(tmp / "startle.yaml", doc)),
}


@pytest.mark.parametrize("name", list(READERS))
def test_yaml_readers_never_crash(name, tmp_path_factory):
    reader, document, make = READERS[name]

    @FUZZ
    @given(st.one_of(st.binary(max_size=400), values, mutated(document)))
    def fuzz(data):
        tmp = tmp_path_factory.mktemp(name.replace(".", "-"))
        loads_or_input_error(reader, make(tmp, data), name)

    fuzz()


def test_yaml_readers_refuse_the_hand_made_cases(tmp_path):
    cases = {
        "deep": "a: " + "[" * 5000 + "]" * 5000,
        "deep-map": "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 400)),
        "bomb": "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(8)),
        "latin-1": "name: caf\xe9\n".encode("latin-1"),
        "nul": b"name: a\x00b\n",
        "bom": "\ufeffname: x\n",
        "tabs": "name:\tx\n\tfamily: y\n",
        "empty": "",
        "list": "- a\n- b\n",
    }
    for name, (reader, _, make) in READERS.items():
        for case, text in cases.items():
            path = make(tmp_path, {})
            (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
            loads_or_input_error(reader, path, name)
        huge = make(tmp_path, {})
        with open(huge, "wb") as out:  # a sparse file larger than startle reads
            out.truncate(17 * 1024 * 1024)
        loads_or_input_error(reader, huge, name)
        loop = tmp_path / f"loop-{name}.yaml"
        if not loop.is_symlink():
            loop.symlink_to(loop)
        loads_or_input_error(reader, loop, name)
        folder = tmp_path / f"dir-{name}.yaml"
        folder.mkdir(exist_ok=True)
        loads_or_input_error(reader, folder, name)


def test_path_escaping_references_are_refused_or_resolved_never_a_crash(tmp_path):
    for field, value in (("config", {"source": "../" * 30 + "etc", "mount": "/etc/startle"}),
                         ("retry_module", "../" * 30 + "etc/passwd"),
                         ("launcher", {"script": "/" + "../" * 30 + "bin/sh"})):
        document = {**PROFILE, field: value}
        loads_or_input_error(load_profile, write(tmp_path / f"escape-{field}.yaml", document), "profile")


# --- journals ----------------------------------------------------------------------------------
def journal(tmp: Path) -> Path:
    """A real run folder: results.json and one timeline, written by startle's own writer."""
    result = ScenarioResult(name="baseline", family="baseline", status="pass", started=1000.0, finished=1010.0,
                            profile="reference", agent_started=1001.0,
                            verdicts=[{"check": "ready", "status": "pass", "message": "ok",
                                       "measured": {"ready_after_s": 1.2}}],
                            timeline=[{"source": "docker", "kind": "start", "t": 1001.0, "container": "agent",
                                       "fields": {}}], agent={"restart_count": 0})
    handle = SimpleNamespace(run_id="fuzz", started=999.0, dir=tmp / "fuzz")
    return write_journal(run_data(handle, [result], {"hostname": "fuzz"}, finished=1011.0))


def test_journals_never_crash(tmp_path_factory):
    base = journal(tmp_path_factory.mktemp("base"))
    results = json.loads((base / "results.json").read_text())
    timeline = (base / "baseline" / "timeline.jsonl").read_text()

    @FUZZ
    @given(st.one_of(st.binary(max_size=400), values, mutated(results)), st.booleans())
    def fuzz_results(data, as_json):
        folder = journal(tmp_path_factory.mktemp("j"))
        path = folder / "results.json"
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(json.dumps(data) if as_json else yaml.safe_dump(data))
        loads_or_input_error(load_run, folder, "results.json")

    @FUZZ
    @given(st.one_of(st.binary(max_size=400), st.text(max_size=400), st.lists(values, max_size=4)))
    def fuzz_timeline(data):
        folder = journal(tmp_path_factory.mktemp("t"))
        path = folder / "baseline" / "timeline.jsonl"
        if isinstance(data, bytes):
            path.write_bytes(data)
        elif isinstance(data, str):
            path.write_text(timeline + data)
        else:
            path.write_text("\n".join(json.dumps(v) for v in data))
        loads_or_input_error(load_run, folder, "timeline.jsonl")

    fuzz_results()
    fuzz_timeline()
    deep = journal(tmp_path_factory.mktemp("deep"))
    (deep / "results.json").write_text("[" * 100000 + "]" * 100000)
    loads_or_input_error(load_run, deep, "results.json")


# --- the CLI ------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["report", "compare"])
def test_cli_on_broken_journals_exits_2(command, tmp_path_factory, capsys):
    @FUZZ
    @given(st.one_of(st.binary(max_size=300), values))
    def fuzz(data):
        folder = journal(tmp_path_factory.mktemp("cli"))
        path = folder / "results.json"
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(json.dumps(data))
        good = journal(tmp_path_factory.mktemp("good"))
        argv = ["report", str(folder)] if command == "report" else ["compare", str(good), str(folder)]
        INPUTS[f"cli {command}"] += 1
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
        assert code in (0, 2), f"{argv} exited {code} on {path.read_bytes()[:200]!r}"

    fuzz()


def test_cli_on_broken_scenarios_and_profiles_exits_2(tmp_path_factory, monkeypatch):
    @FUZZ
    @given(st.one_of(st.binary(max_size=300), values, mutated(SCENARIO), mutated(PROFILE)), st.booleans())
    def fuzz(data, as_profile):
        tmp = tmp_path_factory.mktemp("run")
        monkeypatch.chdir(tmp)
        path = write(tmp / "p.yaml", data) if as_profile else scenario_file(tmp, data)
        try:  # a file that loads would start a run: not this test's business
            (load_profile if as_profile else load_scenario)(path)
            assume(False)
        except InputError:
            pass
        argv = ["run", "baseline", "--profile", str(path)] if as_profile else ["run", str(path)]
        INPUTS["cli run"] += 1
        code = cli.main(argv)
        assert code == 2, f"{argv} exited {code}"

    fuzz()


# --- evidence bundles (startle capture → startle reproduce) ------------------------------------
def evidence_bundle(path: Path, members: dict[str, bytes]) -> Path:
    import io
    import tarfile
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


INSPECT = [{"State": {"Status": "exited", "ExitCode": 11, "OOMKilled": False}, "RestartCount": 0,
            "HostConfig": {"Memory": 12582912, "PidsLimit": 6, "NetworkMode": "none"}, "Mounts": [],
            "Config": {"Env": ["NODE_ID=n", "SITE=x"], "Entrypoint": ["a"], "Cmd": None}}]


def test_evidence_bundles_never_crash(tmp_path_factory):
    from harness.evidence import read_bundle
    from harness.evidence.reproduce import read_evidence
    from harness.profile import load_profile
    profile = load_profile("reference")

    def reader(path: Path):
        read_evidence(read_bundle(path), profile, path)

    @FUZZ
    @given(st.one_of(st.binary(max_size=300).map(lambda b: {"raw": b}), st.fixed_dictionaries({
        "container.json": st.one_of(values, mutated(INSPECT)), "image.json": st.one_of(values, mutated([{"Architecture": "arm64"}])),
        "events.jsonl": st.one_of(st.text(max_size=200), st.lists(values, max_size=3)),
        "host.txt": st.text(max_size=60), "mounts.tsv": st.text(max_size=80)})))
    def fuzz(members):
        path = tmp_path_factory.mktemp("ev") / "b.tar.gz"
        if "raw" in members:
            path.write_bytes(members["raw"])
        else:
            encoded = {"manifest.json": b'{"startle_evidence": 1}'}
            for name, value in members.items():
                if name == "events.jsonl" and isinstance(value, list):
                    value = "\n".join(json.dumps(v) for v in value)
                encoded[name] = (value if isinstance(value, str) else json.dumps(value)).encode()
            evidence_bundle(path, encoded)
        loads_or_input_error(reader, path, "evidence bundle")

    fuzz()
