"""``startle doctor``: every host prerequisite, OK or FAIL, with the fix."""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.config import ROOT

BINFMT = Path("/proc/sys/fs/binfmt_misc")
IMAGES = ("startle/base:amd64", "startle/base:arm64", "startle/agent:amd64", "startle/agent:arm64",
          "startle/center:latest", "startle/toxiproxy:latest")


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


def check_engine() -> tuple[Finding, object | None]:
    from docker.errors import DockerException
    import docker
    try:
        client = docker.from_env(timeout=10)  # not harness.engine: the doctor reports *why* it fails
        info = client.info()
        detail = (f"Docker {info.get('ServerVersion')}, {info.get('Driver')}, "
                  f"cgroup v{info.get('CgroupVersion', '?')}, {info.get('NCPU')} CPUs")
        return Finding("docker engine", True, detail), client
    except DockerException as exc:
        text = str(exc)
        reason = next((why for key, why in (("No such file", "socket file missing"),
                                            ("Connection refused", "connection refused"),
                                            ("Permission denied", "permission denied"))
                       if key in text), text[:160] or type(exc).__name__)
        fix = ("run `make setup` (installs docker.io if needed and starts dockerd in the background), "
               "or start it yourself: `nohup dockerd >/var/log/dockerd.log 2>&1 &`")
        return Finding("docker engine", False, f"no engine answers at the Docker socket: {reason}", fix), None


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


def check_images(client) -> list[Finding]:
    from docker.errors import NotFound
    found = []
    for image in IMAGES:
        try:
            attrs = client.images.get(image).attrs
            size = attrs.get("Size", 0) / 1e6
            found.append(Finding(f"image {image}", True, f"{attrs.get('Architecture')}, {size:.0f} MB"))
        except NotFound:
            found.append(Finding(f"image {image}", False, "not built", "make setup (builds every image locally)"))
    return found


def check_disk() -> Finding:
    usage = shutil.disk_usage(ROOT)
    free_gb = usage.free / 1e9
    return Finding("disk space", free_gb > 5, f"{free_gb:.1f} GB free under {ROOT}", "free some disk space")


def run_doctor() -> list[Finding]:
    engine, client = check_engine()
    findings = [engine, check_binfmt(), *check_tools(), check_disk()]
    if client is not None:
        findings.extend(check_images(client))
    return findings


def host_facts(findings: list[Finding] | None = None) -> dict:
    """Facts about the host for the journal (results.json)."""
    findings = findings if findings is not None else run_doctor()
    return {"hostname": platform.node(), "machine": platform.machine(), "kernel": platform.release(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "prerequisites": [asdict(f) for f in findings]}
