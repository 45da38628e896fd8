"""The agent's config folder on an engine that cannot see this machine's files (a board).

On this machine's engine the scenario's rendered config folder is bind-mounted. A remote engine
would mount *its own* path of that name, so there the folder travels as a tar archive instead:
a labelled volume (``<prefix>-config``) filled with ``put_archive`` through a helper container
(the center image, root, no network) that is created and never started — unless the config
changes while the agent runs (``config_mount: late``): then the helper is started once and each
file is copied next to its target and renamed over it, atomically as on this machine.

The host folder stays the one copy faults edit (harness/faults/); this module only mirrors it.
File modes and owners travel in the archive (an ``unreadable`` file stays ``root:root 0600``).
Volume and helper carry the scenario's labels: they are removed with it, reaped like the rest.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import docker

from harness.config import LABEL_ROLE

MOUNT = "/config"
"""Where the helper mounts the volume."""
STAGING = "staging"
"""The helper's own folder (not in the volume) that files are staged in before their rename."""
ROLE = "config"

SWAP_IN = (
    'cd /staging && find . -type f | while read -r f; do '
    'd="/config/$(dirname "$f")"; mkdir -p "$d" && '
    'cp -p "$f" "$d/.$(basename "$f").tmp" && mv -f "$d/.$(basename "$f").tmp" "$d/$(basename "$f")" || exit 1; '
    'done'
)
"""Each staged file copied beside its target, then renamed over it (one rename per file)."""


def archive(folder: Path, under: str = ".") -> bytes:
    """A tar of ``folder``'s tree (modes and owners as on disk) with its entries under ``under``."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(str(folder), arcname=under)
    return data.getvalue()


class ConfigVolume:
    """A labelled volume holding one scenario's config folder, and its helper container."""

    def __init__(self, client: docker.DockerClient, prefix: str, labels: dict[str, str], image: str) -> None:
        self.volume = client.volumes.create(name=f"{prefix}-config", labels=labels)
        self.helper = client.containers.create(
            image, name=f"{prefix}-config", labels={**labels, LABEL_ROLE: ROLE}, user="0:0",
            entrypoint=["tail", "-f", "/dev/null"], network_mode="none",
            volumes={self.volume.name: {"bind": MOUNT, "mode": "rw"}})
        self.filled = False
        """Whether :meth:`fill` ran (later changes go through :meth:`update`)."""

    @property
    def name(self) -> str:
        """The volume's name (what the agent's spec mounts)."""
        return self.volume.name

    def fill(self, folder: Path) -> None:
        """Copy ``folder``'s tree into the volume (before the agent starts)."""
        if not self.helper.put_archive(MOUNT, archive(folder)):
            raise OSError(f"the engine refused the config archive for volume {self.name}")
        self.filled = True

    def update(self, folder: Path) -> None:
        """Put every file of ``folder`` into the volume while the agent runs, each atomically."""
        self.helper.reload()
        if self.helper.status != "running":
            self.helper.start()
        if not self.helper.put_archive("/", archive(folder, STAGING)):
            raise OSError(f"the engine refused the config archive for volume {self.name}")
        code, output = self.helper.exec_run(["sh", "-c", SWAP_IN], user="0")
        if code != 0:
            raise OSError(f"copying the config into volume {self.name} failed (exit {code}): "
                          f"{output.decode(errors='replace').strip()[-300:]}")
