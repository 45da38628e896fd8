"""Seed 2.4: the config volume is missing, empty, unreadable, malformed, or appears late.

``config_mount`` changes the scenario's config copy (or its mount) before the agent starts:

* ``missing``     no ``-v ...:/app/config`` at all (the image has no such directory)
* ``empty``       the directory is mounted without ``agent.json``
* ``unreadable``  ``agent.json`` is ``root:root 0600``: the agent's uid 1000 cannot read it
* ``malformed``   ``agent.json`` holds ``content`` (default: a trailing comma, invalid JSON)
* ``late``        mounted empty; ``agent.json`` is written (atomically) ``at_s`` seconds after the
  agent started. The agent is told to wait for it up to ``wait_s`` (``CONFIG_WAIT_S``, CONTRACT.md)
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, PrivateAttr

from harness.faults._agentconfig import CONFIG_FILE, CONFIG_MOUNT, config_dir
from harness.faults.base import Fault, register

MALFORMED = '{\n  "retry": {"base_ms": 100, "cap_ms": 4000,},\n  "heartbeat_interval_s": 2\n}\n'


@register
class ConfigMount(Fault):
    family = "mounts"

    type: Literal["config_mount"] = "config_mount"
    state: Literal["missing", "empty", "unreadable", "malformed", "late"]
    content: str = Field(MALFORMED, description="malformed: the file's text")
    wait_s: float = Field(30, gt=0, description="late: CONFIG_WAIT_S given to the agent, seconds")
    _saved: bytes | None = PrivateAttr(None)
    _dir: str | None = PrivateAttr(None)

    def on_create(self, spec) -> None:
        folder = config_dir(spec)
        path = folder / CONFIG_FILE
        self._dir = str(folder)
        if self.state == "missing":
            del spec.volumes[str(folder)]
        elif self.state in ("empty", "late"):
            self._saved = path.read_bytes()
            path.unlink()
            if self.state == "late":
                spec.env["CONFIG_WAIT_S"] = f"{self.wait_s:g}"
        elif self.state == "unreadable":
            os.chown(path, 0, 0)
            path.chmod(0o600)
        elif self.state == "malformed":
            path.write_text(self.content)

    def apply(self, world) -> None:
        if self.state != "late" or self._saved is None or self._dir is None:
            return
        tmp = os.path.join(self._dir, f".{CONFIG_FILE}.tmp")
        with open(tmp, "wb") as f:
            f.write(self._saved)
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(self._dir, CONFIG_FILE))

    def describe(self) -> str:
        where = f" at {self.at_s:g} s" if self.state == "late" else ""
        return f"config_mount({self.state}{where} → {CONFIG_MOUNT})"
