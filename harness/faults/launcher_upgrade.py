"""Start the agent THROUGH its own launcher (the profile's ``launcher``), then upgrade it.

This fault changes how the lifecycle starts the agent (it has ``launch``): instead of creating
the container itself, the harness runs the launcher as a user would, with the calling convention
the profile declares (``launcher.args``: the scenario's network, startle's labels so Docker events
are collected and everything is reaped, a state file in the scenario's temp folder), in two steps:

1. ``install``: v1 = the agent image under test, version 1.0.0; the launcher records it as last
   known good.
2. ``upgrade`` (``to:``): v2 built on demand from ``fixtures/upgrades/<to>-v2/`` on top of v1,
   version 2.0.0. ``good`` is the same agent. The bad ones, which the launcher must roll back to v1:

   - ``bad`` exits at once with "v2 bug" (a restart loop);
   - ``hangs`` starts and then neither answers anything nor exits (a ``/bin/sh`` waiting on a
     child that stopped itself; SIGTERM ignored, as by any PID 1 without a handler);
   - ``never-ready`` is the agent's own program, unchanged: it runs, never exits, and answers
     whatever it answers without its center (the reference agent its startup probe — its
     liveness comes after readiness —, mosquitto its broker: live and the profile's ``ready``),
     but it never reaches its center: startle cuts the agent's link to the center (its Toxiproxy
     proxy) just before the upgrade and restores it when the v2 container's process ends (its
     Docker ``die`` event: the launcher removing or stopping it), so that v1, started again,
     reaches it. Whatever the agent's protocol, the center is never answered, so the launcher's
     readiness (the reference's: ``/ready`` = registered; mosquitto's: its bridge connected)
     never says yes. The cut is the fault's window on the timeline (``fault``/``applied`` and
     ``cleared``). An image cannot do this by itself (with ``/bin/sh`` as the other two): only
     the agent's own program answers its probes, and no unprivileged entrypoint can keep it from
     its center.

   ``bad`` and ``hangs`` run ``/bin/sh`` of the image: an image without one skips the scenario.

Every launcher output line is a ``launcher``/``line`` event, its exit a ``launcher``/``exit``
event (``step``, ``code``, ``took_s``), and after each step a ``launcher``/``state`` event
records the running container's image, the state file and the center's record of the node.
The launcher used is ``world.launcher`` (tests point it at a mutant launcher).
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import requests
from docker.errors import NotFound
from pydantic import Field, PrivateAttr

from harness.config import LABEL_ROLE, ROOT
from harness.errors import InfrastructureError
from harness.faults.base import Fault, register
from harness.reaper import die_with_parent
from harness.skip import ScenarioSkipped

UPGRADES = ROOT / "fixtures" / "upgrades"
V1_VERSION, V2_VERSION = "1.0.0", "2.0.0"
SHELL_V2 = ("bad", "hangs")
"""The v2 images whose entrypoint is the image's ``/bin/sh``."""
CENTER_PROXY = "center"
"""The Toxiproxy proxy in front of the center (harness/runtime.py), cut for the never-ready v2."""


def build_upgrade(client, base_image: str, kind: str) -> str:
    """Build (or reuse) the v2 image ``kind`` on top of ``base_image``, tagged
    ``startle/agent-upgrade-<kind>:<base image id>-<content hash of its folder>`` (no RUN: seconds)."""
    from harness.images import HASH_LEN, hash_inputs
    folder = UPGRADES / f"{kind}-v2"
    base_id = client.images.get(base_image).id.split(":")[-1][:12]
    tag = f"startle/agent-upgrade-{kind}:{base_id}-{hash_inputs({}, folder)[:HASH_LEN]}"
    try:
        client.images.get(tag)
        return tag
    except NotFound:
        pass
    try:
        client.images.build(path=str(folder), tag=tag, buildargs={"AGENT_IMAGE": base_image},
                            rm=True, forcerm=True, pull=False)
    except Exception as exc:  # noqa: BLE001
        raise InfrastructureError(f"could not build the {kind} v2 image on {base_image}: {exc}") from None
    return tag


def has_shell(world, image: str) -> bool:
    """Whether ``image`` holds ``/bin/sh`` (read from a created, never started, labelled container)."""
    container = world.client.containers.create(image, labels=world.labels, entrypoint=["/bin/sh"])
    try:
        container.get_archive("/bin/sh")
        return True
    except NotFound:
        return False
    finally:
        container.remove(force=True)


def read_state_file(path: Path) -> dict[str, str]:
    try:
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    except OSError:
        return {}


@register
class LauncherUpgrade(Fault):
    family: ClassVar[str] = "rollback"

    type: Literal["launcher_upgrade"] = "launcher_upgrade"
    profile_needs: ClassVar[tuple[str, ...]] = ("launcher",)
    to: Literal["good", "bad", "hangs", "never-ready", "none"] = "bad"
    """the v2 the launcher upgrades to (``none``: install v1 only); see the module's docstring"""
    ready_timeout_s: int = Field(12, ge=1, description="the launcher's --ready-timeout, seconds")
    _thread: threading.Thread | None = PrivateAttr(None)
    _proc: subprocess.Popen | None = PrivateAttr(None)
    _stopping: threading.Event = PrivateAttr(default_factory=threading.Event)
    _node_id: str = PrivateAttr("")
    _cut: threading.Thread | None = PrivateAttr(None)
    """Restores the center link once the never-ready v2 is gone (None: the link was not cut)."""
    _timeline: Any = PrivateAttr(None)
    """The scenario's timeline (woken on stop: the restoring thread waits on it)."""

    def local_only(self) -> str | None:
        return ("launcher_upgrade: the host launcher bind-mounts a config folder of this machine (-v) and "
                "keeps its state file here")

    # ---- the lifecycle's start hook -------------------------------------------------------
    def launch(self, world, spec, node_id: str) -> None:
        """Start the install/upgrade sequence in the background (returns at once)."""
        images = {"v1": spec.image}
        self._stopping.clear()  # a scenario object run again reuses its faults
        self._timeline, self._cut = world.timeline, None
        if self.to in SHELL_V2 and not has_shell(world, spec.image):
            raise ScenarioSkipped(f"the {self.to} v2 is built on {spec.image} with /bin/sh as its entrypoint, and "
                                  "that image has no /bin/sh")
        if self.to == "never-ready" and world.toxiproxy is None:
            raise InfrastructureError("the never-ready v2 needs the center behind Toxiproxy (a world with via_proxy)")
        if self.to != "none":
            images["v2"] = build_upgrade(world.client, spec.image, self.to)
        self._thread = threading.Thread(target=self._sequence, args=(world, spec, node_id, images),
                                        name="launcher", daemon=True)
        self._thread.start()

    def stop_launch(self) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._cut is not None:
            self._timeline.wake()  # its wait re-reads _stopping
            self._cut.join(timeout=10)

    def describe(self) -> str:
        return f"launcher_upgrade(v1 → {self.to} v2, ready_timeout_s={self.ready_timeout_s})"

    # ---- the never-ready v2's center link ----------------------------------------------------
    def _cut_center_link(self, world, v2_image: str) -> None:
        """Disable the center's proxy now; a thread enables it again when a container of
        ``v2_image`` dies (the launcher removing or stopping it: it never exits by itself), or
        when the scenario stops."""
        tl = world.timeline
        world.toxiproxy.set_enabled(CENTER_PROXY, False)
        tl.record("fault", "applied", fault=self.type, description=f"center link cut: the {self.to} v2 cannot reach it")

        def v2_ended() -> bool:
            return tl.first("docker", "die", lambda e: e.container == "agent" and e.get("image") == v2_image) \
                is not None

        def restore_when_v2_ends() -> None:
            tl.wait(lambda: v2_ended() or self._stopping.is_set() or tl.closed, float("inf"))
            try:
                world.toxiproxy.set_enabled(CENTER_PROXY, True)
                tl.record("fault", "cleared", fault=self.type)
            except Exception as exc:  # noqa: BLE001  (the world is going: a pooled one is reset anyway)
                tl.record("harness", "launcher_error", error=f"restoring the center link: {exc!r}")

        self._cut = threading.Thread(target=restore_when_v2_ends, name="center-link", daemon=True)
        self._cut.start()

    # ---- the sequence ------------------------------------------------------------------------
    def _args(self, world, spec, node_id: str, image: str, version: str) -> list[str]:
        """The launcher's command line, from the profile's calling convention."""
        launcher = world.profile.launcher
        values = {"image": image, "version": version, "name": f"{world.prefix}-agent", "network": world.network.name,
                  "center_url": world.center_url, "node_id": node_id, "config_dir": str(world.tempdir / "config"),
                  "state_file": str(self.state_file(world)), "ready_timeout_s": str(self.ready_timeout_s)}
        args = [*launcher.interpreter, str(world.launcher)] + [a.format(**values) for a in launcher.args]
        for key, value in {**world.labels, LABEL_ROLE: "agent"}.items():
            args += [a.replace("{label}", f"{key}={value}") for a in launcher.each_label]
        for key, value in spec.env.items():
            args += [a.replace("{env}", f"{key}={value}") for a in launcher.each_env]
        return args

    @staticmethod
    def state_file(world) -> Path:
        return world.tempdir / "last_known_good"

    def _run_step(self, world, step: str, args: list[str], image: str, version: str) -> int | None:
        tl = world.timeline
        tl.record("launcher", "invoke", step=step, image=image, version=version)
        t0 = time.time()
        self._proc = proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, text=True, bufsize=1,
                                             preexec_fn=die_with_parent)
        assert proc.stdout is not None
        for line in proc.stdout:
            tl.record("launcher", "line", step=step, line=line.rstrip("\n"))
        code = proc.wait()
        if self._stopping.is_set():
            return None
        tl.record("launcher", "exit", step=step, code=code, took_s=round(time.time() - t0, 3))
        tl.record("launcher", "state", step=step, **self._observe(world))
        return code

    def _observe(self, world) -> dict[str, Any]:
        running = None
        try:
            container = world.client.containers.get(f"{world.prefix}-agent")
            running = {"image": container.attrs["Config"]["Image"], "status": container.status,
                       "id": container.id[:12]}
        except NotFound:
            pass
        node = None
        try:  # the built-in center's record of the node (reference protocol only: else None)
            node = world.center.nodes().get(self._node_id)
        except (requests.RequestException, ValueError, AttributeError):
            pass
        return {"running": running, "state_file": read_state_file(self.state_file(world)), "center_node": node}

    def _sequence(self, world, spec, node_id: str, images: dict[str, str]) -> None:
        self._node_id = node_id
        try:
            code = self._run_step(world, "install", self._args(world, spec, node_id, images["v1"], V1_VERSION),
                                  images["v1"], V1_VERSION)
            if code == 0 and "v2" in images and not self._stopping.is_set():
                if self.to == "never-ready":
                    self._cut_center_link(world, images["v2"])
                self._run_step(world, "upgrade", self._args(world, spec, node_id, images["v2"], V2_VERSION),
                               images["v2"], V2_VERSION)
        except Exception as exc:  # noqa: BLE001
            world.timeline.record("harness", "launcher_error", error=repr(exc))
        finally:
            world.timeline.record("launcher", "done", v1=images["v1"], v2=images.get("v2"))
