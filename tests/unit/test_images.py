"""harness/images.py without Docker: content hashes, build contexts, the docker-load archive."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from harness import images


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    _write(ctx / "Dockerfile", "ARG BASE\nFROM $BASE\nCOPY . /app/\n")
    _write(ctx / "agent.py", "print('hello')\n")
    _write(ctx / "config" / "agent.json", "{}\n")
    _write(ctx / "bin" / "run.sh", "#!/bin/sh\nexec python3 /app/agent.py\n", 0o755)
    return ctx


RECIPE = {"packages": ["python3", "python3-aiohttp"], "suite": "bookworm", "variant": "minbase"}


def test_hash_is_stable(context: Path) -> None:
    first = images.hash_inputs(RECIPE, context)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert images.hash_inputs(RECIPE, context) == first
    # key order of the recipe does not matter
    assert images.hash_inputs(dict(reversed(list(RECIPE.items()))), context) == first
    # nor does the files' mtime
    os.utime(context / "agent.py", (1, 1))
    assert images.hash_inputs(RECIPE, context) == first


def test_hash_is_the_same_for_a_copy_elsewhere(context: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "ctx"
    shutil.copytree(context, copy)
    assert images.hash_inputs(RECIPE, copy) == images.hash_inputs(RECIPE, context)


def test_hash_changes_when_a_context_file_changes(context: Path) -> None:
    before = images.hash_inputs(RECIPE, context)
    (context / "agent.py").write_text("print('bye')\n")
    changed = images.hash_inputs(RECIPE, context)
    assert changed != before
    _write(context / "config" / "extra.json", "{}\n")
    added = images.hash_inputs(RECIPE, context)
    assert added not in (before, changed)
    (context / "config" / "extra.json").rename(context / "config" / "renamed.json")
    assert images.hash_inputs(RECIPE, context) not in (before, changed, added)


def test_hash_changes_with_the_dockerfile_the_exec_bit_and_the_recipe(context: Path) -> None:
    before = images.hash_inputs(RECIPE, context)
    (context / "bin" / "run.sh").chmod(0o644)
    assert images.hash_inputs(RECIPE, context) != before
    (context / "bin" / "run.sh").chmod(0o755)
    assert images.hash_inputs(RECIPE, context) == before
    assert images.hash_inputs({**RECIPE, "packages": ["python3"]}, context) != before
    with open(context / "Dockerfile", "a") as stream:
        stream.write("ENV X=1\n")
    assert images.hash_inputs(RECIPE, context) != before


def test_hash_ignores_pycache_and_bytecode(context: Path) -> None:
    before = images.hash_inputs(RECIPE, context)
    _write(context / "__pycache__" / "agent.cpython-311.pyc", "junk")
    _write(context / "config" / "__pycache__" / "x.cpython-311.pyc", "junk")
    _write(context / "stray.pyc", "junk")
    _write(context / ".pytest_cache" / "v" / "cache", "junk")
    assert images.hash_inputs(RECIPE, context) == before
    paths = [e.path for e in images.context_files(context)]
    assert not [p for p in paths if "__pycache__" in p or p.endswith(".pyc")]


def test_context_tar_is_exactly_the_hashed_files_with_normalised_metadata(context: Path) -> None:
    _write(context / "__pycache__" / "agent.cpython-311.pyc", "junk")
    (context / "agent.py").chmod(0o600)  # an odd checkout mode does not leak into the image
    entries = images.context_files(context)
    with tarfile.open(fileobj=images.context_tar(context, entries)) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert sorted(members) == [e.path for e in entries]
        assert members["agent.py"].mode == 0o644
        assert members["bin/run.sh"].mode == 0o755
        assert members["config"].isdir()
        assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, 0)}
        assert archive.extractfile("agent.py").read() == b"print('hello')\n"


def test_dockerignore_is_applied_to_hash_and_context(context: Path) -> None:
    _write(context / ".dockerignore", "# only what the image needs\n*\n!agent.py\n!config/\n")
    paths = [e.path for e in images.context_files(context)]
    assert paths == [".dockerignore", "Dockerfile", "agent.py", "config", "config/agent.json"]
    before = images.hash_inputs(RECIPE, context)
    (context / "bin" / "run.sh").write_text("#!/bin/sh\necho excluded\n")
    _write(context / "NOTES.md", "not sent to Docker\n")
    assert images.hash_inputs(RECIPE, context) == before
    (context / "config" / "agent.json").write_text('{"retry": {}}\n')
    assert images.hash_inputs(RECIPE, context) != before
    with tarfile.open(fileobj=images.context_tar(context)) as archive:
        assert "NOTES.md" not in archive.getnames() and "agent.py" in archive.getnames()


def test_symlinks_are_hashed_as_links(context: Path) -> None:
    (context / "link.py").symlink_to("agent.py")
    entry = [e for e in images.context_files(context) if e.path == "link.py"][0]
    assert (entry.kind, entry.digest) == ("link", "agent.py")


def _fake_root(tmp_path: Path) -> tuple[Path, Path]:
    """A checkout with the real base recipe and toxiproxy fixture, stand-in Dockerfiles,
    one mutant, and stand-in toxiproxy binaries in a cache."""
    root, cache = tmp_path / "root", tmp_path / "cache"
    shutil.copytree(images.ROOT / "fixtures" / "base", root / "fixtures" / "base",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(images.ROOT / "fixtures" / "toxiproxy", root / "fixtures" / "toxiproxy",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("agent", "center"):
        _write(root / "fixtures" / name / "Dockerfile", "ARG BASE\nFROM $BASE\n")
    _write(root / "tests" / "mutants" / "no-backoff" / "Dockerfile", "ARG AGENT_IMAGE\nFROM $AGENT_IMAGE\n")
    _write(root / "tests" / "mutants" / "not-a-mutant" / "README", "no Dockerfile here\n")
    version = images.toxiproxy_version(root)
    for binary in ("toxiproxy-server", "toxiproxy-cli"):
        _write(images.toxiproxy_bin_dir(version, cache) / binary, f"fake {binary}\n", 0o755)
    return root, cache


def _tags(root: Path, cache: Path, mutants: bool = True) -> dict[str, str]:
    return {p.spec.name: p.tag for p in images.plan(images.image_specs(root, mutants, cache), root, cache)}


def test_plan_names_every_image_with_alias_and_hash_tag(tmp_path: Path) -> None:
    root, cache = _fake_root(tmp_path)
    tags = _tags(root, cache)
    assert list(tags) == ["base-amd64", "base-arm64", "agent-amd64", "agent-arm64", "center",
                          "toxiproxy", "mutant-no-backoff"]
    assert re.fullmatch(r"startle/agent:arm64-[0-9a-f]{12}", tags["agent-arm64"])
    assert re.fullmatch(r"startle/mutant-no-backoff:amd64-[0-9a-f]{12}", tags["mutant-no-backoff"])
    assert _tags(root, cache) == tags  # stable
    assert "mutant-no-backoff" not in _tags(root, cache, mutants=False)


def test_parent_hash_flows_into_children(tmp_path: Path) -> None:
    root, cache = _fake_root(tmp_path)
    before = _tags(root, cache)
    recipe = root / "fixtures" / "base" / "recipe.toml"
    recipe.write_text(recipe.read_text().replace("revision = 1", "revision = 2"))
    after = _tags(root, cache)
    for name in ("base-amd64", "base-arm64", "agent-amd64", "agent-arm64", "center", "mutant-no-backoff"):
        assert after[name] != before[name], name
    assert after["toxiproxy"] == before["toxiproxy"]
    # a change in the agent's context reaches the mutant, not the center
    _write(root / "fixtures" / "agent" / "agent.py", "pass\n")
    again = _tags(root, cache)
    assert again["mutant-no-backoff"] != after["mutant-no-backoff"]
    assert again["center"] == after["center"]


def test_comments_in_the_recipe_do_not_rebuild(tmp_path: Path) -> None:
    root, cache = _fake_root(tmp_path)
    before = _tags(root, cache)
    with open(root / "fixtures" / "base" / "recipe.toml", "a") as stream:
        stream.write("# a comment\n")
    _write(root / "fixtures" / "base" / "NOTES.md", "docs only\n")
    assert _tags(root, cache) == before


def test_toxiproxy_binary_change_rebuilds_toxiproxy(tmp_path: Path) -> None:
    root, cache = _fake_root(tmp_path)
    before = _tags(root, cache)
    server = images.toxiproxy_bin_dir(images.toxiproxy_version(root), cache) / "toxiproxy-server"
    server.write_text("another build\n")
    assert _tags(root, cache)["toxiproxy"] != before["toxiproxy"]


def test_missing_dockerfile_is_a_clear_error(tmp_path: Path) -> None:
    root, cache = _fake_root(tmp_path)
    (root / "fixtures" / "center" / "Dockerfile").unlink()
    with pytest.raises(images.ImageBuildError) as caught:
        _tags(root, cache)
    message = str(caught.value)
    assert "startle/center:latest" in message and "inputs" in message and "hint:" in message


def test_missing_toxiproxy_binary_points_at_setup(tmp_path: Path) -> None:
    root, cache = _fake_root(tmp_path)
    shutil.rmtree(cache / "toxiproxy")
    with pytest.raises(images.ImageBuildError, match="scripts/setup.sh"):
        _tags(root, cache)


def test_docker_archive_is_a_loadable_layout(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as archive:
        info = tarfile.TarInfo("./etc/hostname")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"edge\n"))
    diff_id = hashlib.sha256(layer.read_bytes()).hexdigest()
    config = json.dumps({"architecture": "arm64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]}}).encode()
    blob = b"".join(images.docker_archive(layer, config, "startle/base:arm64-0123456789ab", chunk_bytes=7))
    assert len(blob) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == ["startle/base:arm64-0123456789ab"]
        assert json.load(archive.extractfile(manifest[0]["Config"]))["architecture"] == "arm64"
        assert manifest[0]["Config"] == hashlib.sha256(config).hexdigest() + ".json"
        assert archive.extractfile(manifest[0]["Layers"][0]).read() == layer.read_bytes()


def test_the_real_recipe_and_version_pin() -> None:
    recipe = images.base_recipe()
    assert recipe["suite"] == "bookworm"
    assert recipe["arch"]["amd64"]["variant"] == "minbase"
    assert recipe["arch"]["arm64"]["variant"] == "extract"
    assert "python3-aiohttp" in recipe["arch"]["amd64"]["packages"]
    assert re.fullmatch(r"v2\.\d+\.\d+", images.toxiproxy_version())
    # no mirror host is ever written in the recipe: the host's apt sources are the mirror
    assert "://" not in (images.ROOT / "fixtures" / "base" / "recipe.toml").read_text()


# --- package images (fixtures/thirdparty/<name>/recipe.toml) ---------------------------------

PACKAGE_RECIPE = """suite = "bookworm"
revision = 1

[arch.amd64]
variant = "minbase"
packages = ["mosquitto"]

[[image]]
repo = "startle/tp-demo"
context = "image"

[[image]]
repo = "startle/tp-demo-center"
context = "center"
"""


def _package_root(tmp_path: Path) -> tuple[Path, Path]:
    root, cache = _fake_root(tmp_path)
    demo = root / "fixtures" / "thirdparty" / "demo"
    _write(demo / "recipe.toml", PACKAGE_RECIPE)
    _write(demo / "image" / "Dockerfile", "ARG BASE\nFROM $BASE\nCMD [\"mosquitto\"]\n")
    _write(demo / "center" / "Dockerfile", "ARG BASE\nFROM $BASE\n")
    _write(root / "fixtures" / "profiles" / "demo.yaml", "name: demo\nimages: {amd64: startle/tp-demo:amd64}\n")
    _write(root / "tests" / "mutants" / "demo-broken" / "Dockerfile", "ARG AGENT_IMAGE\nFROM $AGENT_IMAGE\n")
    _write(root / "tests" / "mutants" / "demo-broken" / "mutant.yaml",
           "description: x\nprofile: demo\nscenario: baseline\ncheck: ready\n")
    return root, cache


def test_a_package_recipe_gives_its_rootfs_then_one_image_per_entry(tmp_path: Path) -> None:
    root, cache = _package_root(tmp_path)
    specs = {s.name: s for s in images.image_specs(root, True, cache)}
    rootfs = specs["tp-demo-rootfs-amd64"]
    assert (rootfs.kind, rootfs.alias_tag, rootfs.origin) == (
        "rootfs", "startle/tp-demo-rootfs:amd64", "fixtures/thirdparty/demo/recipe.toml")
    assert rootfs.recipe["packages"] == ["mosquitto"] and rootfs.recipe["variant"] == "minbase"
    for name, alias in (("tp-demo-amd64", "startle/tp-demo:amd64"),
                        ("tp-demo-center-amd64", "startle/tp-demo-center:amd64")):
        assert (specs[name].alias_tag, specs[name].parent, specs[name].parent_arg) == (
            alias, "tp-demo-rootfs-amd64", "BASE")
    assert not any(name.endswith("arm64") and name.startswith("tp-") for name in specs)  # no [arch.arm64]
    tags = _tags(root, cache)
    assert list(tags).index("tp-demo-rootfs-amd64") < list(tags).index("tp-demo-amd64")


def test_a_mutant_naming_a_profile_is_built_from_that_profiles_image(tmp_path: Path) -> None:
    root, cache = _package_root(tmp_path)
    specs = {s.name: s for s in images.image_specs(root, True, cache)}
    assert specs["mutant-demo-broken"].parent == "tp-demo-amd64"
    assert specs["mutant-no-backoff"].parent == "agent-amd64"  # no mutant.yaml profile: the reference
    before = _tags(root, cache)
    _write(root / "fixtures" / "thirdparty" / "demo" / "image" / "entrypoint.sh", "#!/bin/sh\n", 0o755)
    after = _tags(root, cache)
    assert after["mutant-demo-broken"] != before["mutant-demo-broken"]
    assert after["mutant-no-backoff"] == before["mutant-no-backoff"]
    assert after["tp-demo-rootfs-amd64"] == before["tp-demo-rootfs-amd64"]


def test_package_recipe_changes_rebuild_only_that_package(tmp_path: Path) -> None:
    root, cache = _package_root(tmp_path)
    before = _tags(root, cache)
    recipe = root / "fixtures" / "thirdparty" / "demo" / "recipe.toml"
    recipe.write_text(recipe.read_text().replace('["mosquitto"]', '["mosquitto", "mosquitto-clients"]'))
    after = _tags(root, cache)
    for name in ("tp-demo-rootfs-amd64", "tp-demo-amd64", "tp-demo-center-amd64", "mutant-demo-broken"):
        assert after[name] != before[name], name
    for name in ("base-amd64", "agent-amd64", "center", "toxiproxy"):
        assert after[name] == before[name], name


def test_a_mutant_naming_an_unknown_image_is_a_clear_error(tmp_path: Path) -> None:
    root, cache = _package_root(tmp_path)
    _write(root / "fixtures" / "profiles" / "demo.yaml", "name: demo\nimages: {amd64: someone/else:1}\n")
    with pytest.raises(images.ImageBuildError, match="does not build"):
        images.image_specs(root, True, cache)


def test_the_real_package_recipes() -> None:
    found = {folder.name: recipe for folder, recipe in images.package_recipes()}
    assert {"mosquitto", "prometheus"} <= set(found)
    for name, recipe in found.items():
        assert recipe["suite"] == "bookworm", name
        assert "://" not in (images.ROOT / "fixtures" / "thirdparty" / name / "recipe.toml").read_text()
    assert "mosquitto" in found["mosquitto"]["arch"]["amd64"]["packages"]
    assert "prometheus" in found["prometheus"]["arch"]["amd64"]["packages"]
    tags = images.expected_tags(mutants=True)
    for name in ("tp-mosquitto-amd64", "tp-mosquitto-center-amd64", "tp-prometheus-amd64",
                 "mutant-tp-mosquitto-constant", "mutant-tp-prometheus-no-backoff"):
        assert name in tags, name
