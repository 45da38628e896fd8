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
            state_file: Path | None = None) -> Path:
    """Run the capture script against ``container`` on the engine ``docker`` reaches; returns the
    bundle's path. ``since``: how far back Docker's events go (``docker events --since``)."""
    args = ["sh", str(SCRIPT), "-s", since]
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
    """The bundle's files by name (text). An InputError names the file and the fix when it is not a
    bundle this startle reads."""
    import json
    try:
        with tarfile.open(path, "r:gz") as tar:
            files = {}
            for member in tar.getmembers():
                if member.isfile():
                    handle = tar.extractfile(member)
                    files[Path(member.name).name] = handle.read().decode("utf-8", "replace") if handle else ""
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
