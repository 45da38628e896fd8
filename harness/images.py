"""Build every image startle runs, locally and offline, with content-hash tags.

Nothing is ever pulled: the machines that run startle (edge CI, air-gapped labs) have no container
registry. The images, in build order:

==================  ===========================  ==================================================
logical name        alias tag                    built from
==================  ===========================  ==================================================
``base-amd64``      ``startle/base:amd64``       mmdebstrap minbase (fixtures/base/recipe.toml)
``base-arm64``      ``startle/base:arm64``       mmdebstrap extract --arch=arm64 (same recipe)
``agent-amd64``     ``startle/agent:amd64``      fixtures/agent/Dockerfile, ``BASE=`` base-amd64
``agent-arm64``     ``startle/agent:arm64``      fixtures/agent/Dockerfile, ``BASE=`` base-arm64
``center``          ``startle/center:latest``    fixtures/center/Dockerfile, ``BASE=`` base-amd64
``toxiproxy``       ``startle/toxiproxy:latest`` fixtures/toxiproxy/Dockerfile (FROM scratch) +
                    (+ ``:<version>``)           the static binaries scripts/setup.sh built
``tp-<n>-rootfs-``  ``startle/tp-<n>-rootfs:``   a *package image*: mmdebstrap of Debian packages
``<arch>``          ``<arch>``                   (fixtures/thirdparty/<n>/recipe.toml, same format
                                                 as the base recipe: suite, revision, per-arch
                                                 variant/packages/extract_hooks/dpkgopts (dpkg's
                                                 ``path-exclude=...``), image config)
``<image>-<arch>``  ``startle/<image>:<arch>``   one per ``[[image]]`` of that recipe:
                                                 fixtures/thirdparty/<n>/<context>/Dockerfile,
                                                 ``BASE=`` the package rootfs (tp-mosquitto,
                                                 tp-mosquitto-center, tp-prometheus)
``mutant-<name>``   ``startle/mutant-<name>:amd64``  tests/mutants/<name>/Dockerfile,
                                                 ``AGENT_IMAGE=`` agent-amd64 (agent-arm64 and tag
                                                 ``:arm64`` with ``arch: arm64``), or the amd64 image
                                                 of the profile its mutant.yaml names (``profile:``)
                                                 (only on request)
==================  ===========================  ==================================================

Third-party agents (real software from Debian, fixtures/thirdparty/) use ONE mechanism, the
package image: their recipe lists the Debian packages of a rootfs built and loaded exactly like the
base, and the small Dockerfiles that add config and entrypoint on top of it. Only the architectures
their recipe has a section for are built (amd64 for both agents today).

Each image is tagged ``<repo>:<alias>-<hash12>`` where ``hash12`` is the first 12 hex digits of a
sha256 over every input (:func:`hash_inputs`): the recipe (packages, suite, variant, hooks, image
config), the Dockerfile and every file of its build context, the build arguments (so the parent's
hash tag), and :data:`HASH_FORMAT`. When that tag already exists the build is skipped and only the
alias is re-pointed, so a warm ``build_all()`` takes about a second.

The build context sent to Docker is exactly the set of files that is hashed (``__pycache__``,
``*.pyc`` and editor droppings are left out of both), with normalised metadata: owner root, mode
0644 (0755 for directories and files with an executable bit), mtime 0. ``.dockerignore`` is not read.

Base images are not made with ``docker import``: on Docker 20.10 its ``--platform`` is ignored and
the image always says the host's architecture. Instead the mmdebstrap tarball becomes the single
layer of a ``docker load`` archive whose image config this module writes (architecture ``arm64``,
variant ``v8`` for the arm64 base); images built ``FROM`` it inherit that architecture.

Every image carries the labels ``startle.image=<logical name>`` and ``startle.hash=<hash12>``.
Build logs go to ``.cache/logs/images/<name>-<hash12>.log``.

Images are always built on this machine's engine (:data:`harness.engine.LOCAL_ENGINE`). When
``DOCKER_HOST`` names another engine (a board, a second engine: :func:`harness.engine.points_elsewhere`),
``startle build`` and ``startle run`` then stream the images a profile needs there
(:func:`engine_image_set`) with :func:`ship_to_engine`: ``docker save`` here piped into ``docker
load`` there, chunk by chunk, only the images built for the engine's architecture, and none the
engine already has (same image id).

The command line is ``startle build`` (harness/cli.py): ``startle build [NAME ...] [--mutants]
[--json]`` builds, ``--tags`` lists what is present, ``--hash`` the tags the inputs give (no
Docker), ``--prune`` untags superseded hash tags.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from harness.errors import InfrastructureError

from harness.config import CHECKOUT, ROOT  # noqa: E402  (ROOT: the checkout, or the wheel's package data)

CACHE_DIR = Path(os.environ.get("STARTLE_CACHE_DIR") or (ROOT / ".cache" if ROOT == CHECKOUT
                                                         else Path.home() / ".cache" / "startle"))
"""Everything this module writes outside the image store (gitignored in the checkout; in the
user's cache folder when startle runs from a wheel)."""

HASH_FORMAT = 1
"""Part of every hash: bump it when the way images are built changes, to rebuild them all."""

HASH_LEN = 12
"""Hex digits of the content hash that go into a tag."""

LABEL_IMAGE = "startle.image"
"""Image label: the logical name (``agent-arm64``, ``center``, ``mutant-no-backoff``...)."""
LABEL_HASH = "startle.hash"
"""Image label: the 12-hex-digit content hash that is also in the hash tag."""

TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"

APT_SOURCES_CANDIDATES = (
    Path("/etc/apt/sources.list.d/debian.sources"),
    Path("/etc/apt/sources.list"),
)
"""The host's apt sources, passed to mmdebstrap as its mirror argument (override:
``STARTLE_APT_SOURCES``). No mirror host name is ever written in this project."""

MMDEBSTRAP_TIMEOUT_S = 1200.0
"""Seconds one mmdebstrap run may take before it is killed (cold amd64 base: ~21 s here)."""

DOCKER_TIMEOUT_S = 900
"""Seconds the Docker SDK waits on one API read (a build step, loading a 213 MB layer)."""

TAIL_LINES = 25
"""Lines of build output quoted in an :class:`ImageBuildError`."""

_IGNORED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git"})
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")
_IGNORED_NAMES = frozenset({".DS_Store"})


# --------------------------------------------------------------------------------------------
# errors


class ImageBuildError(InfrastructureError):
    """An image could not be built: which image, which step, the last lines of output, a hint."""

    def __init__(self, image: str, step: str, problem: str, *, tail: Iterable[str] = (),
                 hint: str = "", log_path: Path | None = None) -> None:
        self.image, self.step, self.problem = image, step, problem
        self.tail = [line.rstrip("\n") for line in tail]
        self.hint, self.log_path = hint, log_path
        lines = [f"image {image}: step {step!r} failed: {problem}"]
        if self.tail:
            lines.append(f"--- last {len(self.tail)} lines of output ---")
            lines.extend(self.tail)
            lines.append("---")
        if log_path is not None:
            lines.append(f"full log: {log_path}")
        if hint:
            lines.append(f"hint: {hint}")
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------------------------
# content hash (no Docker needed)


@dataclass(frozen=True, order=True)
class ContextEntry:
    """One member of a build context, as hashed and as sent to Docker.

    ``kind`` is ``dir``, ``file``, ``exec`` (a file with any executable bit) or ``link``;
    ``digest`` is the sha256 hex of a file's bytes, a link's target, or ``""`` for a directory.
    """

    path: str
    kind: str
    digest: str


def _ignored(name: str, is_dir: bool) -> bool:
    if is_dir:
        return name in _IGNORED_DIRS
    return name in _IGNORED_NAMES or name.endswith(_IGNORED_SUFFIXES)


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """sha256 hex digest of a file, read in chunks of ``chunk_bytes`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def dockerignore_patterns(context: Path) -> list[str] | None:
    """The patterns of ``context/.dockerignore`` (comments and blank lines dropped), or None."""
    path = Path(context) / ".dockerignore"
    if not path.is_file():
        return None
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(context: Path, dockerfile: str = "Dockerfile") -> list[ContextEntry]:
    """Every member of the build context ``context`` (a directory), sorted by path.

    Applies ``.dockerignore`` the way the Docker CLI and SDK do (the Dockerfile and
    ``.dockerignore`` themselves are always kept), and always leaves out ``__pycache__``/``.git``/
    tool cache directories and ``*.pyc``/``*.pyo``/``*~``/``*.swp`` files. Symlinks are kept as
    links (never followed).
    """
    context = Path(context)
    if not context.is_dir():
        raise FileNotFoundError(f"build context {context} is not a directory")
    patterns = dockerignore_patterns(context)
    entries = _walk_context(context)
    if patterns is None:
        return entries
    from docker.utils.build import exclude_paths  # the SDK's .dockerignore semantics

    kept = {Path(p).as_posix() for p in exclude_paths(str(context.resolve()), list(patterns), dockerfile)}
    kept |= {dockerfile, ".dockerignore"}
    return [e for e in entries if e.path in kept]


def _walk_context(context: Path) -> list[ContextEntry]:
    entries: list[ContextEntry] = []
    for dirpath, dirnames, filenames in os.walk(context, followlinks=False):
        base = Path(dirpath)
        kept_dirs = []
        for name in sorted(dirnames):
            full = base / name
            rel = full.relative_to(context).as_posix()
            if full.is_symlink():
                entries.append(ContextEntry(rel, "link", os.readlink(full)))
            elif not _ignored(name, True):
                entries.append(ContextEntry(rel, "dir", ""))
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            full = base / name
            if _ignored(name, False):
                continue
            rel = full.relative_to(context).as_posix()
            if full.is_symlink():
                entries.append(ContextEntry(rel, "link", os.readlink(full)))
            elif full.is_file():
                kind = "exec" if os.stat(full).st_mode & 0o111 else "file"
                entries.append(ContextEntry(rel, kind, file_sha256(full)))
    return sorted(entries)


def hash_inputs(recipe: Mapping[str, Any], context: Path | None = None) -> str:
    """sha256 hex (64 digits) over ``recipe`` (canonical JSON) and the build context's files.

    ``recipe`` holds everything that is not a file of the context: packages, suite, variant,
    hooks, build arguments (so the parent's hash tag), labels... Key order does not matter;
    file paths, kinds and contents do; ignored files (see :func:`context_files`) do not.
    """
    document = {
        "format": HASH_FORMAT,
        "recipe": recipe,
        "files": [[e.path, e.kind, e.digest] for e in context_files(context)] if context else [],
    }
    blob = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def context_tar(context: Path, entries: list[ContextEntry] | None = None) -> io.BytesIO:
    """The build context as an uncompressed tar in memory, with normalised metadata."""
    context = Path(context)
    entries = context_files(context) if entries is None else entries
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if entry.kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            elif entry.kind == "link":
                info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.digest
                archive.addfile(info)
            else:
                info.mode = 0o755 if entry.kind == "exec" else 0o644
                info.size = (context / entry.path).stat().st_size
                with open(context / entry.path, "rb") as stream:
                    archive.addfile(info, stream)
    buffer.seek(0)
    return buffer


# --------------------------------------------------------------------------------------------
# what to build


@dataclass(frozen=True)
class ImageSpec:
    """One image to build.

    ``kind`` is ``rootfs`` (mmdebstrap + docker load) or ``dockerfile`` (classic builder).
    ``parent`` is the logical name of the image passed as build argument ``parent_arg``.
    """

    name: str
    repo: str
    alias: str
    kind: str
    arch: str = "amd64"
    context: Path | None = None
    dockerfile: str = "Dockerfile"
    parent: str | None = None
    parent_arg: str | None = None
    recipe: Mapping[str, Any] = field(default_factory=dict)
    extra_aliases: tuple[str, ...] = ()
    hint: str = ""
    origin: str = "fixtures/base/recipe.toml"
    """Where a rootfs recipe comes from (the image history's comment; not hashed)."""

    @property
    def alias_tag(self) -> str:
        return f"{self.repo}:{self.alias}"

    def hash_tag(self, content_hash: str) -> str:
        return f"{self.repo}:{self.alias}-{content_hash[:HASH_LEN]}"


def base_recipe(root: Path = ROOT) -> dict[str, Any]:
    """fixtures/base/recipe.toml, parsed."""
    path = root / "fixtures" / "base" / "recipe.toml"
    with open(path, "rb") as stream:
        return tomllib.load(stream)


def toxiproxy_version(root: Path = ROOT) -> str:
    """The pinned Toxiproxy module version (``v2.12.0``), from fixtures/toxiproxy/VERSION."""
    return (root / "fixtures" / "toxiproxy" / "VERSION").read_text().strip()


def toxiproxy_bin_dir(version: str | None = None, cache: Path = CACHE_DIR) -> Path:
    """Where scripts/setup.sh installs toxiproxy-server and toxiproxy-cli for ``version``."""
    return cache / "toxiproxy" / (version or toxiproxy_version())


THIRDPARTY_DIR = Path("fixtures") / "thirdparty"
"""Folders of third-party agents, each with a ``recipe.toml`` (relative to the checkout)."""


def package_recipes(root: Path = ROOT) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, parsed recipe) of every fixtures/thirdparty/<name>/recipe.toml, sorted by name."""
    base = root / THIRDPARTY_DIR
    if not base.is_dir():
        return []
    out = []
    for path in sorted(base.glob("*/recipe.toml")):
        with open(path, "rb") as stream:
            out.append((path.parent, tomllib.load(stream)))
    return out


def rootfs_spec(name: str, repo: str, arch: str, recipe: Mapping[str, Any], origin: str, hint: str) -> ImageSpec:
    """A ``rootfs`` image (mmdebstrap + docker load) of ``recipe``'s section for ``arch``."""
    section = recipe["arch"][arch]
    return ImageSpec(
        name=name, repo=repo, alias=arch, kind="rootfs", arch=arch, origin=origin, hint=hint,
        recipe={
            "suite": recipe["suite"],
            "revision": recipe.get("revision", 0),
            "variant": section["variant"],
            "arch": arch,
            "packages": sorted(section["packages"]),
            "extract_hooks": list(section.get("extract_hooks", [])),
            "config": recipe.get("config", {}),
            # only when given, so that the hashes of recipes without them do not change
            **({"dpkgopts": list(section["dpkgopts"])} if section.get("dpkgopts") else {}),
        },
    )


def package_specs(root: Path = ROOT) -> list[ImageSpec]:
    """The package images of fixtures/thirdparty/: per recipe and architecture, its rootfs
    (``tp-<name>-rootfs-<arch>``), then one image per ``[[image]]`` built FROM it (only for the
    architectures its optional ``arch`` list names)."""
    specs: list[ImageSpec] = []
    for folder, recipe in package_recipes(root):
        origin = (folder / "recipe.toml").relative_to(root).as_posix()
        for arch in ("amd64", "arm64"):
            if arch not in recipe.get("arch", {}):
                continue
            rootfs = f"tp-{folder.name}-rootfs-{arch}"
            specs.append(rootfs_spec(
                rootfs, f"startle/tp-{folder.name}-rootfs", arch, recipe, origin,
                hint=f"check the host's apt sources (apt-get update) and {origin}"))
            for image in recipe.get("image", []):
                if arch not in image.get("arch", ("amd64", "arm64")):
                    continue  # e.g. a center image only the native engine runs
                repo, context = image["repo"], folder / image["context"]
                if not repo.startswith("startle/"):
                    raise ImageBuildError(repo, "inputs", f"{origin}: an image's repo must start with startle/",
                                          hint='e.g. repo = "startle/tp-mosquitto"')
                specs.append(ImageSpec(
                    name=f"{repo.split('/', 1)[1]}-{arch}", repo=repo, alias=arch, kind="dockerfile",
                    arch=arch, context=context, parent=rootfs, parent_arg="BASE",
                    hint=f"{context.relative_to(root)}/Dockerfile takes --build-arg BASE=<{rootfs} tag>"))
    return specs


def mutant_declared(path: Path) -> dict[str, Any]:
    """What a mutant's ``mutant.yaml`` (or a variant's ``variant.yaml``) declares ({} without one)."""
    import yaml

    for name in ("mutant.yaml", "variant.yaml"):
        if (path / name).is_file():
            return yaml.safe_load((path / name).read_text()) or {}
    return {}


def mutant_parent(path: Path, specs: list[ImageSpec], root: Path = ROOT) -> str:
    """The logical name of the image a mutant is built FROM: ``agent-amd64`` (``agent-arm64`` when
    its ``mutant.yaml`` says ``arch: arm64``), or the amd64 image of the profile its ``mutant.yaml``
    (or ``variant.yaml``) names with ``profile:``."""
    import yaml

    declared = mutant_declared(path)
    profile = declared.get("profile")
    if not profile:
        return f"agent-{declared.get('arch', 'amd64')}"
    profile_path = Path(profile) if Path(profile).suffix else Path("fixtures") / "profiles" / f"{profile}.yaml"
    profile_path = profile_path if profile_path.is_absolute() else root / profile_path
    try:
        image = (yaml.safe_load(profile_path.read_text()) or {})["images"]["amd64"]
    except (OSError, KeyError, TypeError) as exc:
        raise ImageBuildError(f"startle/mutant-{path.name}", "inputs",
                              f"profile {profile!r} of {path.name}/mutant.yaml gives no amd64 image ({exc})",
                              hint="name a profile of fixtures/profiles/ that has images.amd64") from None
    for spec in specs:
        if spec.alias_tag == image:
            return spec.name
    raise ImageBuildError(f"startle/mutant-{path.name}", "inputs",
                          f"profile {profile!r} names image {image}, which this module does not build",
                          hint="a mutant is built FROM one of startle's own images")


def mutant_dirs(root: Path = ROOT) -> list[Path]:
    """tests/mutants/<name>/ directories that have a Dockerfile, sorted by name."""
    base = root / "tests" / "mutants"
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and (p / "Dockerfile").is_file())


def image_specs(root: Path = ROOT, mutants: bool = False, cache: Path = CACHE_DIR) -> list[ImageSpec]:
    """Every image, parents before children."""
    recipe = base_recipe(root)
    specs: list[ImageSpec] = []
    for arch in ("amd64", "arm64"):
        specs.append(rootfs_spec(
            f"base-{arch}", "startle/base", arch, recipe, "fixtures/base/recipe.toml",
            hint="check the host's apt sources (apt-get update) and fixtures/base/recipe.toml"))
    agent_hint = ("fixtures/agent/Dockerfile takes --build-arg BASE=<base tag>; on arm64 only "
                  "COPY/ENV/USER/HEALTHCHECK work without QEMU (no RUN)")
    for arch in ("amd64", "arm64"):
        specs.append(ImageSpec(
            name=f"agent-{arch}", repo="startle/agent", alias=arch, kind="dockerfile", arch=arch,
            context=root / "fixtures" / "agent", parent=f"base-{arch}", parent_arg="BASE",
            hint=agent_hint,
        ))
    specs.append(ImageSpec(
        name="center", repo="startle/center", alias="latest", kind="dockerfile",
        context=root / "fixtures" / "center", parent="base-amd64", parent_arg="BASE",
        hint="fixtures/center/Dockerfile takes --build-arg BASE=<startle/base:amd64 tag>",
    ))
    version = toxiproxy_version(root)
    specs.append(ImageSpec(
        name="toxiproxy", repo="startle/toxiproxy", alias="latest", kind="dockerfile",
        context=cache / "build" / "toxiproxy",
        recipe={"module": TOXIPROXY_MODULE, "version": version},
        extra_aliases=(version.lstrip("v"),),
        hint="the binaries come from scripts/setup.sh (step toxiproxy)",
    ))
    specs.extend(package_specs(root))
    if mutants:
        for path in mutant_dirs(root):
            parent = mutant_parent(path, specs, root)
            arch = str(mutant_declared(path).get("arch", "amd64"))
            specs.append(ImageSpec(
                name=f"mutant-{path.name}", repo=f"startle/mutant-{path.name}", alias=arch, arch=arch,
                kind="dockerfile", context=path, parent=parent, parent_arg="AGENT_IMAGE",
                hint=f"{path.relative_to(root)}/Dockerfile takes --build-arg AGENT_IMAGE=<{parent} tag>",
            ))
    return specs


def _select(specs: list[ImageSpec], names: Iterable[str] | None) -> list[ImageSpec]:
    """``specs`` restricted to ``names`` and their parents (order kept)."""
    if not names:
        return specs
    by_name = {s.name: s for s in specs}
    wanted: set[str] = set()
    for name in names:
        if name not in by_name:
            raise ImageBuildError(name, "select", "no such image",
                                  hint=f"known: {', '.join(by_name)} (mutants need --mutants)")
        while name:
            wanted.add(name)
            name = by_name[name].parent or ""
    return [s for s in specs if s.name in wanted]


def _stage_toxiproxy(spec: ImageSpec, root: Path, cache: Path) -> None:
    """Copy the Dockerfile and the two static binaries into the toxiproxy build context."""
    version = spec.recipe["version"]
    bin_dir = toxiproxy_bin_dir(version, cache)
    assert spec.context is not None
    spec.context.mkdir(parents=True, exist_ok=True)
    sources = {
        "Dockerfile": root / "fixtures" / "toxiproxy" / "Dockerfile",
        "toxiproxy-server": bin_dir / "toxiproxy-server",
        "toxiproxy-cli": bin_dir / "toxiproxy-cli",
    }
    for name, source in sources.items():
        if not source.is_file():
            raise ImageBuildError(
                spec.alias_tag, "stage toxiproxy", f"{source} is missing",
                hint="run `bash scripts/setup.sh` (it runs CGO_ENABLED=0 go install "
                     f"{TOXIPROXY_MODULE}/cmd/server@{version} and cmd/cli into {bin_dir})")
        target = spec.context / name
        if not target.is_file() or file_sha256(target) != file_sha256(source):
            shutil.copyfile(source, target)
        target.chmod(0o755 if name != "Dockerfile" else 0o644)
    for stale in spec.context.iterdir():
        if stale.name not in sources:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()


@dataclass
class Planned:
    """A spec with its content hash resolved."""

    spec: ImageSpec
    content_hash: str
    buildargs: dict[str, str]
    entries: list[ContextEntry]

    @property
    def tag(self) -> str:
        return self.spec.hash_tag(self.content_hash)

    @property
    def short(self) -> str:
        return self.content_hash[:HASH_LEN]


def plan(specs: list[ImageSpec], root: Path = ROOT, cache: Path = CACHE_DIR) -> list[Planned]:
    """Resolve every spec's content hash (parents first). Needs no Docker."""
    done: dict[str, Planned] = {}
    out: list[Planned] = []
    for spec in specs:
        if spec.name == "toxiproxy":
            _stage_toxiproxy(spec, root, cache)
        entries: list[ContextEntry] = []
        if spec.context is not None:
            if not (spec.context / spec.dockerfile).is_file():
                raise ImageBuildError(
                    spec.alias_tag, "inputs", f"{spec.context / spec.dockerfile} is missing",
                    hint=spec.hint)
            entries = context_files(spec.context, spec.dockerfile)
        buildargs: dict[str, str] = {}
        if spec.parent:
            parent = done.get(spec.parent)
            if parent is None:
                raise ImageBuildError(spec.alias_tag, "inputs", f"parent {spec.parent} not planned")
            buildargs[spec.parent_arg or "BASE"] = parent.tag
        recipe = {
            "name": spec.name, "kind": spec.kind, "arch": spec.arch,
            "dockerfile": spec.dockerfile, "buildargs": buildargs, "recipe": dict(spec.recipe),
        }
        # the files are hashed from ``entries`` so that what is hashed is what is sent
        document = {"recipe": recipe, "files": [[e.path, e.kind, e.digest] for e in entries]}
        content_hash = hash_inputs(document)
        planned = Planned(spec, content_hash, buildargs, entries)
        done[spec.name] = planned
        out.append(planned)
    return out


def expected_tags(mutants: bool = False, root: Path = ROOT) -> dict[str, str]:
    """Logical name -> the hash tag the current inputs give (nothing is built; no Docker)."""
    return {p.spec.name: p.tag for p in plan(image_specs(root, mutants), root)}


# --------------------------------------------------------------------------------------------
# building


@dataclass
class BuildResult:
    """What :func:`build` did for one image. ``seconds`` is wall time; ``size_bytes`` as Docker
    reports it (uncompressed, parents included)."""

    name: str
    tag: str
    aliases: list[str]
    status: str  # "built" or "cached"
    seconds: float
    size_bytes: int
    architecture: str

    def line(self) -> str:
        what = f"built ({self.seconds:.1f}s)" if self.status == "built" else "cached"
        return (f"images: {self.aliases[0]:<30} {self.tag:<46} {what:<14} "
                f"{self.size_bytes / 1e6:7.1f} MB  {self.architecture}")


def docker_client(timeout_s: int = DOCKER_TIMEOUT_S, *, local: bool = True):
    """A client of the build engine (``local``), else of the target engine (harness/engine.py);
    an ImageBuildError naming the fix when it is down."""
    from harness.engine import docker_client as engine_client  # here: the hash functions need no Docker SDK
    from harness.errors import InfrastructureError

    try:
        return engine_client(timeout_s, local=local)
    except InfrastructureError as exc:
        raise ImageBuildError("(all)", "connect to Docker", str(exc),
                              hint="bash scripts/setup.sh starts dockerd; or check DOCKER_HOST") from None


def apt_sources_file() -> Path:
    """The host's apt sources file (``STARTLE_APT_SOURCES`` overrides)."""
    override = os.environ.get("STARTLE_APT_SOURCES")
    candidates = [Path(override)] if override else list(APT_SOURCES_CANDIDATES)
    for path in candidates:
        if path.is_file() and path.stat().st_size > 0:
            return path
    raise ImageBuildError("startle/base", "find apt sources", f"none of {candidates} exists",
                          hint="set STARTLE_APT_SOURCES to a sources.list or deb822 .sources file")


def _tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        with open(path, errors="replace") as stream:
            return list(collections.deque(stream, maxlen=lines))
    except OSError:
        return []


def _image(client, ref: str):
    import docker

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def _tar_header(name: str, size: int, mode: int = 0o644) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 0
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> bytes:
    return b"\0" * ((512 - size % 512) % 512)


def docker_archive(layer: Path, config: bytes, repo_tag: str, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """A ``docker load`` archive (one layer, ``config`` as image config), streamed in chunks."""
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = "layer/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [repo_tag],
                            "Layers": [layer_name]}]).encode()
    yield _tar_header(config_name, len(config)) + config + _padding(len(config))
    size = layer.stat().st_size
    yield _tar_header(layer_name, size)
    with open(layer, "rb") as stream:
        while block := stream.read(chunk_bytes):
            yield block
    yield _padding(size)
    yield _tar_header("manifest.json", len(manifest)) + manifest + _padding(len(manifest))
    yield b"\0" * 1024


def _build_rootfs(client, item: Planned, labels: dict[str, str], log_path: Path, cache: Path) -> None:
    spec, recipe = item.spec, item.spec.recipe
    sources = apt_sources_file()
    tmp = cache / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / f"{spec.name}-{item.short}.tar"
    args = ["--quiet", f"--variant={recipe['variant']}", f"--arch={recipe['arch']}",
            f"--include={','.join(recipe['packages'])}"]
    args += [f"--extract-hook={hook}" for hook in recipe["extract_hooks"]]
    args += [f"--dpkgopt={option}" for option in recipe.get("dpkgopts", [])]
    command = ["mmdebstrap", *args, recipe["suite"], str(out), str(sources)]
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildError(spec.alias_tag, "mmdebstrap", "mmdebstrap is not installed",
                              hint="bash scripts/setup.sh (apt-get install mmdebstrap)")
    try:
        with open(log_path, "a") as log:
            log.write("$ " + " ".join(command) + "\n")
            log.flush()
            subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                           check=True, timeout=MMDEBSTRAP_TIMEOUT_S)
        diff_id = file_sha256(out)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        config_section = dict(recipe.get("config", {}))
        config_section["Labels"] = labels
        image_config: dict[str, Any] = {
            "architecture": spec.arch,
            "os": "linux",
            "created": now,
            "author": "startle harness/images.py",
            "config": config_section,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
            "history": [{"created": now, "created_by": "mmdebstrap " + " ".join(args) + " "
                         + recipe["suite"] + " - <host apt sources>",
                         "comment": f"startle {spec.name} ({spec.origin})"}],
        }
        if spec.arch == "arm64":
            image_config["variant"] = "v8"
        blob = json.dumps(image_config, sort_keys=True).encode()
        step = "docker load"
        with open(log_path, "a") as log:
            log.write(f"$ docker load  # layer {out.name} sha256:{diff_id} ({out.stat().st_size} bytes)\n")
            for chunk in client.api.load_image(docker_archive(out, blob, item.tag)):
                if "error" in chunk:
                    log.write(chunk["error"] + "\n")
                    raise ImageBuildError(spec.alias_tag, step, chunk["error"], tail=_tail(log_path),
                                          log_path=log_path, hint="is there disk space? (docker system df)")
                log.write(str(chunk.get("stream", chunk)).rstrip("\n") + "\n")
    except subprocess.CalledProcessError as exc:
        raise ImageBuildError(spec.alias_tag, "mmdebstrap", f"exit code {exc.returncode}",
                              tail=_tail(log_path), log_path=log_path, hint=spec.hint) from exc
    except subprocess.TimeoutExpired as exc:
        raise ImageBuildError(spec.alias_tag, "mmdebstrap", f"timed out after {exc.timeout:.0f} s",
                              tail=_tail(log_path), log_path=log_path, hint=spec.hint) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()


def _build_dockerfile(client, item: Planned, labels: dict[str, str], log_path: Path) -> None:
    spec = item.spec
    assert spec.context is not None
    context = context_tar(spec.context, item.entries)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    args = " ".join(f"--build-arg {k}={v}" for k, v in item.buildargs.items())
    with open(log_path, "a") as log:
        log.write(f"$ docker build --pull=false {args} -t {item.tag} {spec.context}\n")
        try:
            stream = client.api.build(
                fileobj=context, custom_context=True, dockerfile=spec.dockerfile, tag=item.tag,
                buildargs=item.buildargs, labels=labels, pull=False, rm=True, forcerm=True,
                decode=True)
            for chunk in stream:
                text = chunk.get("stream") or chunk.get("status") or ""
                if text:
                    log.write(text)
                    tail.extend(line for line in text.splitlines() if line.strip())
                if "error" in chunk:
                    log.write(chunk["error"] + "\n")
                    raise ImageBuildError(spec.alias_tag, "docker build", chunk["error"].strip(),
                                          tail=tail, log_path=log_path,
                                          hint=f"{spec.hint}; build args: {args or 'none'}")
        except ImageBuildError:
            raise
        except Exception as exc:  # docker.errors.APIError, connection errors
            raise ImageBuildError(spec.alias_tag, "docker build", str(exc), tail=tail,
                                  log_path=log_path, hint=spec.hint) from exc


def _prune_superseded(client, spec: ImageSpec, keep: str, log_path: Path) -> None:
    """Untag older ``<alias>-<hash>`` tags of this repo (an image still in use stays)."""
    pattern = re.compile(rf"^{re.escape(spec.repo)}:{re.escape(spec.alias)}-[0-9a-f]{{{HASH_LEN}}}$")
    for image in client.images.list(name=spec.repo):
        for tag in image.tags:
            if tag != keep and pattern.match(tag):
                try:
                    client.api.remove_image(tag, noprune=False)
                    with open(log_path, "a") as log:
                        log.write(f"untagged superseded {tag}\n")
                except Exception:  # in use by a container, or raced: harmless
                    pass


@contextlib.contextmanager
def _lock(cache: Path) -> Iterator[None]:
    """One build at a time per checkout (pytest-xdist workers may all ask)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "images.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(mutants: bool = False, names: Iterable[str] | None = None, log: Callable[[str], Any] = print,
          root: Path = ROOT, cache: Path = CACHE_DIR, client=None, prune: bool = True) -> list[BuildResult]:
    """Build (or reuse) the images, parents first; one :meth:`BuildResult.line` per image to ``log``.

    ``names`` restricts to those logical names and their parents. Raises :class:`ImageBuildError`.
    """
    with _lock(cache):
        specs = _select(image_specs(root, mutants, cache), names)
        planned = plan(specs, root, cache)
        client = client or docker_client()
        logs = cache / "logs" / "images"
        logs.mkdir(parents=True, exist_ok=True)
        results: list[BuildResult] = []
        for item in planned:
            spec = item.spec
            started = time.monotonic()
            status = "cached"
            image = _image(client, item.tag)
            log_path = logs / f"{spec.name}-{item.short}.log"
            if image is None:
                status = "built"
                labels = {LABEL_IMAGE: spec.name, LABEL_HASH: item.short}
                with open(log_path, "w") as handle:
                    handle.write(f"# {spec.name} -> {item.tag} ({datetime.now(timezone.utc).isoformat()})\n")
                if spec.kind == "rootfs":
                    _build_rootfs(client, item, labels, log_path, cache)
                else:
                    _build_dockerfile(client, item, labels, log_path)
                image = _image(client, item.tag)
                if image is None:
                    raise ImageBuildError(spec.alias_tag, "tag", f"{item.tag} absent after the build",
                                          tail=_tail(log_path), log_path=log_path)
            architecture = image.attrs.get("Architecture", "")
            if architecture != spec.arch:
                raise ImageBuildError(
                    spec.alias_tag, "check architecture",
                    f"{item.tag} says {architecture!r}, expected {spec.arch!r}",
                    hint=f"remove it (docker rmi {item.tag}) and build again")
            aliases = [spec.alias_tag] + [f"{spec.repo}:{a}" for a in spec.extra_aliases]
            for alias in aliases:
                if alias not in image.tags:
                    repo, tag = alias.rsplit(":", 1)
                    client.api.tag(image.id, repo, tag, force=True)
            if prune and status == "built":
                _prune_superseded(client, spec, item.tag, log_path)
            result = BuildResult(spec.name, item.tag, aliases, status,
                                 time.monotonic() - started, int(image.attrs.get("Size", 0)), architecture)
            results.append(result)
            log(result.line())
        return results


def build_all(mutants: bool = False, log: Callable[[str], Any] = print) -> dict[str, str]:
    """Build (or reuse) every image; logical name -> hash tag. Mutants only if ``mutants``."""
    return {r.name: r.tag for r in build(mutants=mutants, log=log)}


def build_mutants(log: Callable[[str], Any] = print) -> dict[str, str]:
    """Build (or reuse) the agent chain and every tests/mutants/<name>/ image;
    ``mutant-<name>`` -> hash tag (mutants only)."""
    names = [f"mutant-{p.name}" for p in mutant_dirs()]
    if not names:
        return {}
    return {r.name: r.tag for r in build(mutants=True, names=names, log=log) if r.name.startswith("mutant-")}


# --------------------------------------------------------------------------------------------
# another engine: built here, streamed there

SHIP_CHUNK_BYTES = 2 << 20
"""Bytes per chunk of an image streamed from the build engine to the target engine."""


def engine_image_set(arch: str, profiles: Iterable[Any] = (), agent: bool = True) -> list[str]:
    """The images ``startle run`` needs on an engine of architecture ``arch`` (``amd64``, ``arm64``)
    to run ``profiles`` (:class:`harness.profile.Profile`; none: the reference agent's): each
    profile's agent image for ``arch`` (``images.<arch>``; left out with ``agent=False``, when an
    image under test replaces it), its own center image (``center.image.image``), then startle's
    center (the recording center, and the helper that fills config volumes there) and Toxiproxy.
    In that order, without repeats. Not the rollback family's v2 images: ``launcher_upgrade`` runs a
    launcher on this machine and is skipped on another engine (docs/remote-engine.md)."""
    from harness.profile import load_profile  # here: the hash functions need no profile
    from harness.runtime import CENTER_IMAGE, TOXIPROXY_IMAGE

    refs: list[str] = []
    for profile in list(profiles) or [load_profile("reference")]:
        if agent and profile.images.get(arch):
            refs.append(profile.images[arch])
        if profile.center.image is not None:
            refs.append(profile.center.image.image)
    refs += [CENTER_IMAGE, TOXIPROXY_IMAGE]
    return list(dict.fromkeys(refs))


@dataclass
class Shipped:
    """What :func:`ship_to_engine` did with one image.

    ``action``: ``shipped`` (streamed), ``present`` (the engine had the same image id: only the tag
    was checked), ``wrong-arch`` (built here for another architecture: not sent), ``not-built``."""

    ref: str
    action: str
    image_id: str = ""
    arch: str = ""
    seconds: float = 0.0
    size_bytes: int = 0
    """Bytes of the ``docker save`` stream sent (0 unless shipped)."""

    def line(self, target: str) -> str:
        if self.action == "shipped":
            rate = self.size_bytes / 1e6 / self.seconds if self.seconds else 0.0
            what = f"shipped {self.size_bytes / 1e6:.1f} MB in {self.seconds:.1f} s ({rate:.0f} MB/s)"
        elif self.action == "present":
            what = "already there (same image id)"
        elif self.action == "wrong-arch":
            what = f"not sent: built here for {self.arch} only (docs/remote-engine.md)"
        else:
            what = "not sent: not built here (make setup)"
        return f"images: {self.ref:<30} -> {target}: {what}"


def transfer_plan(local: Mapping[str, tuple[str, str] | None], present_ids: set[str],
                  target_arch: str) -> dict[str, str]:
    """ref -> action (see :class:`Shipped`) for images built here (``local``: ref -> (image id,
    architecture), None when not built) toward an engine of ``target_arch`` that already holds the
    image ids ``present_ids``. Needs no Docker."""
    plan: dict[str, str] = {}
    for ref, built in local.items():
        if built is None:
            plan[ref] = "not-built"
        elif built[1] != target_arch:
            plan[ref] = "wrong-arch"
        elif built[0] in present_ids:
            plan[ref] = "present"
        else:
            plan[ref] = "shipped"
    return plan


def _counted(chunks: Iterable[bytes], sent: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        sent[0] += len(chunk)
        yield chunk


def ship_to_engine(target, refs: Iterable[str] | None = None, source=None,
                   log: Callable[[str], Any] = print, profiles: Iterable[Any] = ()) -> list[Shipped]:
    """Make images built on the build engine (``source``, default this machine's) available on the
    engine of ``target`` (a Docker client): each one whose architecture is the target's and whose
    image id the target lacks is streamed (``docker save`` → ``docker load``, in chunks of
    :data:`SHIP_CHUNK_BYTES`, no temporary file); each one present or shipped is tagged ``ref``
    there. ``refs`` default: :func:`engine_image_set` of the target's architecture for
    ``profiles`` (none: the reference agent's). One :meth:`Shipped.line` per image to ``log``.
    Raises ImageBuildError when a load fails."""
    from harness.engine import docker_arch

    source = source or docker_client(local=True)
    target_arch = docker_arch(target.info().get("Architecture", ""))
    refs = list(refs) if refs is not None else engine_image_set(target_arch, profiles)
    images = {ref: _image(source, ref) for ref in refs}
    local = {ref: (image.id, image.attrs.get("Architecture", "")) if image else None for ref, image in images.items()}
    present = {built[0] for built in local.values() if built and _image(target, built[0]) is not None}
    where = target.api.base_url
    results = []
    for ref, action in transfer_plan(local, present, target_arch).items():
        image = images[ref]
        result = Shipped(ref, action, image.id if image else "", local[ref][1] if local[ref] else "")
        if action == "shipped":
            started, sent = time.monotonic(), [0]
            for chunk in target.api.load_image(_counted(image.save(chunk_size=SHIP_CHUNK_BYTES, named=ref), sent)):
                if "error" in chunk:
                    raise ImageBuildError(ref, f"docker load on {where}", chunk["error"],
                                          hint="is there disk space on that engine? (docker system df)")
            result.seconds, result.size_bytes = time.monotonic() - started, sent[0]
        if action in ("shipped", "present"):
            there = _image(target, image.id)
            if there is None:
                raise ImageBuildError(ref, f"docker load on {where}", f"image {image.id} absent after the load")
            if ref not in there.tags:
                repo, tag = ref.rsplit(":", 1)
                target.api.tag(image.id, repo, tag, force=True)
        results.append(result)
        log(result.line(where))
    return results


def image_tags(client=None) -> dict[str, list[str]]:
    """Startle images present in the local store: logical name (label ``startle.image``) ->
    sorted tags (aliases and hash tags) of every image with that label."""
    client = client or docker_client(timeout_s=60)
    present: dict[str, list[str]] = {}
    for image in client.images.list(filters={"label": LABEL_IMAGE}):
        name = (image.labels or {}).get(LABEL_IMAGE, "?")
        tags = [t for t in image.tags if t.startswith("startle/")]
        if tags:
            present.setdefault(name, []).extend(tags)
    return {name: sorted(tags) for name, tags in sorted(present.items())}


def prune(client=None, root: Path = ROOT, log: Callable[[str], Any] = print) -> list[str]:
    """Untag every ``<alias>-<hash>`` tag that the current inputs no longer give (mutants
    included); images in use by a container are left. Returns the tags removed."""
    client = client or docker_client(timeout_s=120)
    keep = set(expected_tags(mutants=True, root=root).values())
    pattern = re.compile(rf"^startle/[a-z0-9._-]+:[a-z0-9._-]+-[0-9a-f]{{{HASH_LEN}}}$")
    removed = []
    for image in client.images.list(filters={"label": LABEL_IMAGE}):
        for tag in image.tags:
            if pattern.match(tag) and tag not in keep:
                try:
                    client.api.remove_image(tag, noprune=False)
                    removed.append(tag)
                    log(f"images: untagged {tag}")
                except Exception as exc:
                    log(f"images: kept {tag} ({exc})")
    return removed
