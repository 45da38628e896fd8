"""A user's project: ``startle.yaml`` in the working directory of the agent's own repository.

``startle init`` writes it (and a starter profile beside it); ``startle run`` takes its defaults
from it, so that CI runs ``startle run`` with no argument::

    profile: agent-profile.yaml     # a path (relative to this file) or a built-in profile name
    scenarios: [network, center, mounts, my-scenarios/]   # built-in families or names, or folders
    jobs: 2                         # scenarios at once
    image: null                     # test this image instead of the profile's
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.config import PROJECT_FILE
from harness.errors import InputError
from harness.yamlfile import read_yaml, validate

STARTER = """\
# startle settings of this repository (`startle run` with no argument uses them; docs: startle's
# README, "Testing your own agent").
profile: {profile}                # your agent's profile (a path, or a built-in name)
scenarios: []                     # built-in families or names, or folders of your own; [] = every built-in
jobs: 2                           # scenarios at once (each on its own network)
image: null                       # an image to test instead of the profile's (e.g. the CI build)
"""


class ProjectSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: str | None = Field(None, description="profile path (relative to startle.yaml) or built-in name")
    scenarios: list[str] = Field([], description="built-in families or names, or scenario files/folders")
    jobs: Annotated[int, Field(ge=1, le=32)] | Literal["auto"] = Field(
        1, description="scenarios at once (1–32), or auto (from this host's cores and memory)")
    image: str | None = None
    path: Path | None = Field(None, exclude=True)

    def profile_ref(self) -> str | None:
        """The profile as ``load_profile`` takes it (a path made relative to this file's folder)."""
        if self.profile is None or self.path is None:
            return self.profile
        local = self.path.parent / self.profile
        return str(local) if Path(self.profile).suffix else self.profile


def load_project(path: Path = PROJECT_FILE) -> ProjectSettings | None:
    """The working directory's ``startle.yaml``, or None when there is none."""
    if not path.exists():
        return None
    settings = validate(ProjectSettings, read_yaml(path), path)
    settings.path = path.resolve()
    return settings


DEFAULT_PROFILE = "reference"
"""The profile of a command that works with one profile (``doctor``, ``build``), when neither
``--profile`` nor ``startle.yaml`` names one: the built-in scenarios' own."""


def chosen_profile(explicit: str | None) -> tuple[str, str]:
    """(the profile as ``load_profile`` takes it, where that choice came from) for a command with
    ``--profile``: ``explicit``, else this directory's ``startle.yaml``'s, else
    :data:`DEFAULT_PROFILE` — as ``startle run`` picks it (whose scenarios default to that one)."""
    if explicit:
        return explicit, "--profile"
    project = load_project()
    if project is not None and project.profile:
        return str(project.profile_ref()), f"{PROJECT_FILE}"
    return DEFAULT_PROFILE, "default"


def write_new(path: Path, text: str) -> Path:
    """Write ``text`` to a new file; never over an existing one (nothing the user wrote is lost)."""
    if path.exists():
        raise InputError(path, "(file)", "already exists", "remove it first, or run `startle init` elsewhere")
    path.write_text(text)
    return path
