"""A field node's evidence about one agent container (issue 12): capture it, read it back.

The capture itself is ``capture.sh`` — a POSIX shell script that needs only ``docker``, ``tar``
and a base system, so it runs on a node without startle (``startle capture --script`` prints
it) and is the very code ``startle capture`` runs here: one implementation. What a bundle holds
and how secrets are redacted: the script's header, and docs/capture.md.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from harness.errors import InfrastructureError, InputError

SCRIPT = Path(__file__).with_name("capture.sh")
BUNDLE_VERSION = 1
"""The ``startle_evidence`` version of manifest.json this startle reads."""
EXIT_USAGE, EXIT_DOCKER = 2, 3
"""The script's exit codes: bad usage or no such container; docker or tar failed."""


def script_text() -> str:
    """The capture script, to copy to a node (``startle capture --script > capture.sh``)."""
    return SCRIPT.read_text()


def capture(container: str, out: Path | None = None, since: str = "30m", redact: tuple[str, ...] = (),
            state_file: Path | None = None, files: bool = True) -> Path:
    """Run the capture script against ``container`` on the engine ``docker`` reaches; returns the
    bundle's path. ``since``: how far back Docker's events go (``docker events --since``);
    ``files``: keep the bind-mounted text files (the agent's config), redacted."""
    args = ["sh", str(SCRIPT), "-s", since] + ([] if files else ["-n"])
    for name in redact:
        args += ["-r", name]
    if state_file is not None:
        args += ["-l", str(state_file)]
    if out is not None:
        args += ["-o", str(out)]
    done = subprocess.run([*args, container], capture_output=True, text=True)
    if done.returncode == EXIT_USAGE:
        raise InputError("startle capture", "CONTAINER", done.stderr.strip() or "bad usage",
                         "name a container that `docker ps -a` lists")
    if done.returncode != 0:
        raise InfrastructureError(f"capture failed (exit {done.returncode}): {done.stderr.strip()}")
    line = done.stdout.strip().splitlines()[-1]
    return Path(line.removeprefix("capture: ").split(" (", 1)[0])


def read_bundle(path: Path) -> dict[str, str]:
    """The bundle's files by name (text); the bind-mounted files as ``mountfiles/<path in the
    container>``. An InputError names the file and the fix when it is not a
    bundle this startle reads."""
    import json
    try:
        with tarfile.open(path, "r:gz") as tar:
            files = {}
            for member in tar.getmembers():
                if member.isfile():
                    handle = tar.extractfile(member)
                    name = member.name.removeprefix("./")  # mountfiles/<path in the container> keep their path
                    files[name] = handle.read().decode("utf-8", "replace") if handle else ""
    except (OSError, tarfile.TarError) as exc:
        raise InputError(path, "(archive)", f"not a readable .tar.gz ({exc})",
                         "pass the file `startle capture` wrote") from None
    try:
        manifest = json.loads(files.get("manifest.json", ""))
    except ValueError:
        raise InputError(path, "manifest.json", "missing or not JSON", "capture the bundle again") from None
    if not isinstance(manifest, dict) or manifest.get("startle_evidence") != BUNDLE_VERSION:
        raise InputError(path, "manifest.json: startle_evidence",
                         f"version {manifest.get('startle_evidence') if isinstance(manifest, dict) else '?'} "
                         f"is not {BUNDLE_VERSION}", "capture it with this startle's script (startle capture --script)")
    return files


def is_bundle(path: Path) -> bool:
    """Whether ``path`` is a (gzipped) tar archive, as opposed to a JSON file."""
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        raise InputError(path, "(file)", "cannot be read", "pass a bundle from startle capture, or a docker "
                         "inspect JSON file") from None


def read_inspect(path: Path, logs: Path | None = None) -> dict[str, str]:
    """``docker inspect CONTAINER`` output (and its ``docker logs --timestamps``) as a bundle's files:
    what a support ticket often holds instead of a bundle. Without the image's inspect, the image's
    architecture is unknown (reproduce says so)."""
    import json
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise InputError(path, "(file)", f"neither a bundle nor JSON ({type(exc).__name__})",
                         "pass a .tar.gz from startle capture, or the output of `docker inspect CONTAINER`") from None
    container = data[0] if isinstance(data, list) and data else data
    if not isinstance(container, dict) or "State" not in container or "HostConfig" not in container:
        raise InputError(path, "State / HostConfig", "not a container's `docker inspect` output",
                         "run `docker inspect CONTAINER > inspect.json` on the node")
    files = {"container.json": text, "manifest.json": json.dumps(
        {"startle_evidence": BUNDLE_VERSION, "container": str(container.get("Name") or "agent").lstrip("/")})}
    if logs is not None:
        try:
            files["logs.txt"] = logs.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise InputError(logs, "(file)", f"cannot be read ({exc.strerror})", "pass the agent's docker logs") from None
    return files
