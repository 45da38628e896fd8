"""``startle doctor``: every host prerequisite, OK or FAIL, with the fix.

It knows the profile (``--profile``, else ``startle.yaml``'s, else the reference agent's): every
image that profile needs must be on the build engine — its agent image per architecture
(``images.<arch>``), its own center image (``center.image.image``), startle's center and Toxiproxy
— and a missing one is named with the profile field and the fix (``startle build NAME`` for an
image startle builds, ``docker build -t IMAGE ...`` for the user's own).

With ``DOCKER_HOST`` naming another engine (a board: docs/remote-engine.md), ``docker engine`` is
that engine (address, version, architecture, cgroup version, whether it is this host), this
machine's own engine is the ``build engine``, and the target is checked for what ``startle run``
needs there: its architecture, the images of that architecture, its clock against this machine's,
and a labelled network and container it can create, run and remove.
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from harness.config import ROOT
from harness.engine import docker_arch, engine_address, on_this_host, points_elsewhere

if TYPE_CHECKING:
    from harness.profile import Profile

BINFMT = Path("/proc/sys/fs/binfmt_misc")


@dataclass
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def line(self) -> str:
        mark = "OK  " if self.ok else ("FAIL" if self.required else "WARN")
        tail = f" (fix: {self.fix})" if not self.ok and self.fix else ""
        return f"{mark} {self.name}: {self.detail}{tail}"


def check_engine(local: bool = False) -> tuple[Finding, object | None]:
    """The target engine (``DOCKER_HOST``'s, else this machine's), or with ``local`` this machine's
    as ``build engine`` (a WARN when it is down: images already on the target still run)."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException
    from harness.engine import LOCAL_ENGINE, client_from_env
    address = engine_address({"DOCKER_HOST": LOCAL_ENGINE} if local else None)
    name = "build engine (this machine)" if local else "docker engine"
    try:
        client = client_from_env(10, local=local)  # not docker_client(): the doctor reports *why* it fails
        info = client.info()
        detail = (f"{address.describe()}: Docker {info.get('ServerVersion')}, "
                  f"{docker_arch(info.get('Architecture', '?'))}, {info.get('Driver')}, "
                  f"cgroup v{info.get('CgroupVersion', '?')}, {info.get('NCPU')} CPUs, "
                  f"this host: {'yes' if on_this_host(info) else 'no'}")
        return Finding(name, True, detail, required=not local), client
    except (DockerException, RequestException) as exc:
        text = str(exc)
        reason = next((why for key, why in (("No such file", "socket file missing"),
                                            ("Connection refused", "connection refused"),
                                            ("Permission denied", "permission denied"),
                                            ("certificate", "TLS certificate refused"),
                                            ("SSL", "TLS handshake failed"))
                       if key in text), text[:160] or type(exc).__name__)
        if address.scheme == "unix":
            fix = ("run `make setup` (installs docker.io if needed and starts dockerd in the background), "
                   "or start it yourself: `nohup dockerd >/var/log/dockerd.log 2>&1 &`")
        else:
            fix = ("check that the engine listens at that address; for tcp, DOCKER_TLS_VERIFY=1 and "
                   "DOCKER_CERT_PATH holding ca.pem, cert.pem, key.pem of its CA; for ssh, that `ssh HOST docker "
                   "version` works (docs/remote-engine.md)")
        return Finding(name, False, f"no engine answers at {address.describe()}: {reason}", fix,
                       required=not local), None


def check_binfmt() -> Finding:
    entry = BINFMT / "qemu-aarch64"
    if not (BINFMT / "status").exists():
        return Finding("qemu binfmt (arm64 emulation)", False, "binfmt_misc is not mounted",
                       "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; make setup", required=False)
    if not entry.exists():
        return Finding("qemu binfmt (arm64 emulation)", False, "qemu-aarch64 is not registered",
                       "apt-get install qemu-user-static binfmt-support; update-binfmts --enable qemu-aarch64",
                       required=False)
    state = entry.read_text().splitlines()[0].strip()
    return Finding("qemu binfmt (arm64 emulation)", state == "enabled", f"qemu-aarch64 {state}",
                   "update-binfmts --enable qemu-aarch64", required=False)


def check_tools() -> list[Finding]:
    found = []
    for tool, package in (("mmdebstrap", "mmdebstrap"), ("qemu-aarch64-static", "qemu-user-static")):
        path = shutil.which(tool)
        found.append(Finding(tool, path is not None, path or "not installed", f"apt-get install {package}"))
    return found


def needed_images(profile: "Profile") -> dict[str, str]:
    """Image → what needs it (the profile field that names it, or startle's world) for a run of
    ``profile`` on this machine's engine: its agent image per architecture, its own center image,
    startle's center and Toxiproxy."""
    from harness.runtime import CENTER_IMAGE, TOXIPROXY_IMAGE
    needed = {image: f"profile {profile.name}: images.{arch}" for arch, image in sorted(profile.images.items())}
    if profile.center.image is not None:
        needed.setdefault(profile.center.image.image, f"profile {profile.name}: center.image.image")
    needed.setdefault(CENTER_IMAGE, "startle's center")
    needed.setdefault(TOXIPROXY_IMAGE, "startle's Toxiproxy")
    return needed


def build_fix(image: str, needed_by: str, startle_images: dict[str, str]) -> str:
    """How to get ``image``: ``startle build NAME`` when startle builds it (``startle_images``: alias
    tag → logical name), else the user builds or loads it, or names another in the profile field
    ``needed_by`` says."""
    if image in startle_images:
        return f"startle build {startle_images[image]}"
    field = needed_by.split(": ", 1)[-1]
    return f"docker build -t {image} <its build folder> (or docker load it), or name an image you have in {field}"


def startle_image_names() -> dict[str, str]:
    """Alias tag → logical name of every image ``startle build`` builds (mutants excluded; no Docker)."""
    from harness.images import image_specs
    return {f"{spec.repo}:{alias}": spec.name for spec in image_specs()
            for alias in (spec.alias, *spec.extra_aliases)}


def check_images(client, profile: "Profile") -> list[Finding]:
    """Every image of :func:`needed_images` on the engine of ``client`` (this machine's)."""
    from docker.errors import NotFound
    found = []
    startle_images = startle_image_names()
    for image, needed_by in needed_images(profile).items():
        try:
            attrs = client.images.get(image).attrs
        except NotFound:
            found.append(Finding(f"image {image} ({needed_by})", False, "not on this engine",
                                 build_fix(image, needed_by, startle_images)))
            continue
        size = attrs.get("Size", 0) / 1e6
        found.append(Finding(f"image {image} ({needed_by})", True, f"{attrs.get('Architecture')}, {size:.0f} MB"))
    return found


def check_disk() -> Finding:
    usage = shutil.disk_usage(ROOT)
    free_gb = usage.free / 1e9
    return Finding("disk space", free_gb > 5, f"{free_gb:.1f} GB free under {ROOT}", "free some disk space")


BUILD_HINT = ("`startle build` (or `startle run`) with DOCKER_HOST set: it streams the images of the profile built or "
              "loaded on this machine (docs/remote-engine.md)")


def check_target(client, probe: bool = True, profile: "Profile | None" = None) -> list[Finding]:
    """What ``startle run`` of ``profile`` (None: the reference agent's) needs on an engine that is
    not this machine's: an architecture startle builds images for, the profile's images of that
    architecture and startle's (:func:`harness.images.engine_image_set`), a clock close to this
    machine's, and (``probe``) the rights to create, run and remove a labelled network and container."""
    from docker.errors import NotFound
    from harness.images import engine_image_set
    from harness.runtime import CENTER_IMAGE
    machine = client.info().get("Architecture", "?")
    arch = docker_arch(machine)
    known = arch in ("amd64", "arm64")
    found = [Finding("target architecture", known, f"{arch} ({machine})" + ("" if known else ": startle builds "
                     "images for amd64 and arm64 only"), "use a profile whose images are built for it")]
    if profile is not None and not profile.images.get(arch):
        found.append(Finding(f"target agent image (profile {profile.name})", False,
                             f"the profile names no image for {arch} (images.{arch})",
                             f"add images.{arch}: an image of the agent built for {arch}"))
    usable = None
    for ref in engine_image_set(arch, [profile] if profile else ()):
        try:
            attrs = client.images.get(ref).attrs
        except NotFound:
            found.append(Finding(f"target image {ref}", False, "not on that engine", BUILD_HINT))
            continue
        image_arch = attrs.get("Architecture", "?")
        if image_arch != arch:
            found.append(Finding(f"target image {ref}", False, f"{image_arch} on an {arch} engine",
                                 "build it for that architecture (docs/remote-engine.md)"))
            continue
        found.append(Finding(f"target image {ref}", True, f"{image_arch}, {attrs.get('Size', 0) / 1e6:.0f} MB"))
        if ref == CENTER_IMAGE:  # startle's own, with `true` in it (Toxiproxy's is FROM scratch; an agent's may be too)
            usable = ref
    found.append(check_target_clock(client))
    if probe:
        found.append(check_target_lifecycle(client, usable))
    return found


CLOCK_TOLERANCE_S = 0.5
"""Seconds the target engine's clock may differ from this machine's before the doctor warns: a
timeline mixes both (Docker's event and log times, startle's own probes)."""


def check_target_clock(client) -> Finding:
    """The target engine's clock against this machine's, from ``info()["SystemTime"]`` (± half the
    round trip of that call)."""
    from harness.collectors import split_docker_timestamp
    before = time.time()
    system_time = client.info().get("SystemTime", "")
    after = time.time()
    engine_time, _ = split_docker_timestamp(f"{system_time} -", float("nan"))
    offset = engine_time - (before + after) / 2
    if offset != offset:  # NaN: no readable SystemTime
        return Finding("target clock", False, f"unreadable engine time {system_time!r}", required=False)
    return Finding("target clock", abs(offset) <= CLOCK_TOLERANCE_S,
                   f"{offset:+.3f} s from this machine's (±{(after - before) / 2:.3f} s)",
                   "synchronise the board's clock (NTP): timelines mix its times and this machine's",
                   required=False)


def check_target_lifecycle(client, image: str | None) -> Finding:
    """Create a labelled network and a container on it, run ``true`` there, remove both."""
    from docker.errors import DockerException
    from harness.config import LABEL_ROLE, LABEL_RUN
    from harness.runtime import Run, reap
    name = "target can run containers"
    if image is None:
        return Finding(name, False, "no startle image there to try with", BUILD_HINT)
    run = Run(run_id=f"doctor-{os.getpid()}")
    labels = run.labels(**{LABEL_ROLE: "doctor"})
    started = time.monotonic()
    try:
        network = client.networks.create(f"startle-{run.run_id}", labels=labels, driver="bridge")
        container = client.containers.create(image, entrypoint=["true"], command=[], labels=labels,
                                             name=f"startle-{run.run_id}", network=network.name)
        container.start()
        code = container.wait(timeout=60).get("StatusCode")
        if code != 0:
            return Finding(name, False, f"`true` in {image} exited with {code}",
                           "see `docker logs` on that engine; exec format error: wrong architecture")
        return Finding(name, True, f"labelled network and container created, `true` ran in {image}, "
                       f"removed ({time.monotonic() - started:.1f} s)")
    except DockerException as exc:
        return Finding(name, False, f"{type(exc).__name__}: {str(exc)[:160]}",
                       "the engine must let this client create networks and containers")
    finally:
        reap(client, {LABEL_RUN: run.run_id})


def run_doctor(probe_target: bool = True, profile: "Profile | None" = None,
               profile_source: str = "default") -> list[Finding]:
    """Every finding for a run of ``profile`` (None: the reference agent's; ``profile_source``: where
    that choice came from, for its line); with ``DOCKER_HOST`` elsewhere, the target's too
    (``probe_target``: also run a container there)."""
    from harness.profile import load_profile
    from harness.project import DEFAULT_PROFILE
    profile = profile or load_profile(DEFAULT_PROFILE)
    engine, client = check_engine()
    findings = [engine, Finding("profile", True, f"{profile.name} ({profile.path}; from {profile_source})")]
    build_client = client
    elsewhere = points_elsewhere()
    if elsewhere:
        build, build_client = check_engine(local=True)
        findings.append(build)
    findings += [check_binfmt(), *check_tools(), check_disk()]
    if build_client is not None:
        findings.extend(check_images(build_client, profile))
    if elsewhere and client is not None:
        findings.extend(check_target(client, probe=probe_target, profile=profile))
    return findings


def host_facts(findings: list[Finding] | None = None, profile: "Profile | None" = None) -> dict:
    """Facts about the host for the journal (results.json): :func:`run_doctor`'s findings for
    ``profile`` (None: the reference agent's)."""
    findings = findings if findings is not None else run_doctor(probe_target=False, profile=profile)
    return {"hostname": platform.node(), "machine": platform.machine(), "kernel": platform.release(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "prerequisites": [asdict(f) for f in findings]}
