"""Seed 2.4: the config volume is missing, empty, unreadable, malformed, or appears late.

``config_mount`` changes the scenario's config copy (or its mount) before the agent starts:

* ``missing``     no bind mount of the config folder at all
* ``empty``       the folder is mounted with nothing in it
* ``unreadable``  every file is ``root:root 0600``: a non-root agent cannot read them
* ``malformed``   the main file (``config.file``) holds text its format's parser refuses
* ``late``        mounted empty; the files appear (each atomically) ``at_s`` seconds after the agent
  started. The agent is told to wait for them up to ``wait_s`` (the profile's ``knobs.config_wait_s``)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, PrivateAttr

from harness.faults._config import MALFORMED
from harness.faults.base import Fault, register

NEEDS = {"missing": ("config",), "empty": ("config",), "unreadable": ("config",),
         "malformed": ("config.file",), "late": ("config", "knobs.config_wait_s")}


@register
class ConfigMount(Fault):
    family = "mounts"
    profile_needs: ClassVar[tuple[str, ...]] = ("config",)

    type: Literal["config_mount"] = "config_mount"
    state: Literal["missing", "empty", "unreadable", "malformed", "late"]
    content: str | None = Field(None, description="malformed: the file's text (default: one its format refuses)")
    wait_s: float = Field(30, gt=0, description="late: seconds the agent is told to wait for its config")
    _saved: Path | None = PrivateAttr(None)
    _folder: Path | None = PrivateAttr(None)

    def missing(self, profile) -> list[str]:
        lacking = [f for f in NEEDS[self.state] if profile.lacks(f)]
        config = profile.config
        if self.state == "malformed" and config is not None and config.file and config.file_format is None:
            lacking.append("config.format")
        return lacking

    def on_create(self, spec) -> None:
        copy = spec.config
        folder = copy.folder
        self._folder = folder
        files = [p for p in folder.rglob("*") if p.is_file()]
        if self.state == "missing":
            del spec.volumes[copy.source]
        elif self.state in ("empty", "late"):
            self._saved = folder.parent / "config.saved"
            shutil.copytree(folder, self._saved)
            for path in files:
                path.unlink()
            if self.state == "late":
                spec.set_knob("config_wait_s", f"{self.wait_s:g}")
        elif self.state == "unreadable":
            for path in files:
                os.chown(path, 0, 0)
                path.chmod(0o600)
        elif self.state == "malformed":
            copy.main.write_text(self.content if self.content is not None else MALFORMED[copy.format])

    def apply(self, world) -> None:
        if self.state != "late" or self._saved is None or self._folder is None:
            return
        for source in sorted(p for p in self._saved.rglob("*") if p.is_file()):
            target = self._folder / source.relative_to(self._saved)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(source, tmp)
            tmp.chmod(0o644)
            os.replace(tmp, target)
        if world is not None:
            world.config_changed(self._folder)  # a remote engine's config volume gets them too

    def describe(self) -> str:
        where = f" at {self.at_s:g} s" if self.state == "late" else ""
        return f"config_mount({self.state}{where})"
