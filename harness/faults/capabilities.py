"""Seed 2.1 / 3.3: the agent needs a serial device (and maybe the Docker socket), runs non-root
with every capability dropped, and is never ``--privileged``.

``device``: the agent's config lists ``device_path`` (default ``/dev/ttyUSB0``; the profile's
``config.keys.devices`` says where), so its preflight opens it. There is no serial adapter on these machines, so the device is made for real: a
character node ``c 1:3`` (the numbers of ``/dev/null``: opening it touches no hardware) created
with mknod in the scenario's temp folder, owned ``root:dialout`` (gid 20) with mode 0660 — what
udev gives a USB serial adapter. ``mapped`` passes it with ``--device NODE:/dev/ttyUSB0:rwm``
(Docker copies the node's owner and mode into the container and allows it in the device cgroup);
``group`` adds that one supplementary group (``--group-add dialout``). Not mapped, the node is
simply absent in the container.

``docker_socket``: the config says the agent needs the Docker socket (``config.keys.docker_socket``).
Never the real daemon's socket: with ``mounted`` the harness listens on a Unix socket of its own
in the scenario's temp folder (it accepts and closes connections: the agent's preflight only
connects) owned ``root:<socket_gid>`` 0660, bind-mounted at ``/var/run/docker.sock``; with
``group_add`` the agent also gets that gid. Not mounted → ``not mounted``; mounted without the
group → ``permission denied for uid 1000 (socket group G)`` with the hint ``--group-add G``.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from typing import ClassVar, Literal

from pydantic import Field, PrivateAttr

from harness.faults import _agentwatch
from harness.faults._config import set_setting
from harness.faults.base import Fault, register

DIALOUT_GID = 20
NULL_MAJOR, NULL_MINOR = 1, 3


@register
class Device(Fault):
    family = "capabilities"

    type: Literal["device"] = "device"
    device_path: str = "/dev/ttyUSB0"
    mapped: bool = Field(False, description="pass the node with --device")
    group: str | None = Field(None, description="supplementary group to add (--group-add), e.g. dialout")
    node_mode: str = Field("0660", description="octal mode of the node on the host")
    profile_needs: ClassVar[tuple[str, ...]] = ("config.keys.devices",)

    def local_only(self) -> str | None:
        return ("device(mapped): the fake serial node is made with mknod on this machine and mapped with "
                "--device, which names a node of the engine's host") if self.mapped else None

    def on_create(self, spec) -> None:
        set_setting(spec, "devices", [self.device_path])
        if self.mapped:
            node = spec.scratch_dir / f"dev-{os.path.basename(self.device_path)}"
            if node.exists():
                node.unlink()
            os.mknod(node, stat.S_IFCHR | int(self.node_mode, 8), os.makedev(NULL_MAJOR, NULL_MINOR))
            os.chown(node, 0, DIALOUT_GID)
            os.chmod(node, int(self.node_mode, 8))
            spec.devices.append(f"{node}:{self.device_path}:rwm")
        if self.group:
            spec.group_add.append(self.group)

    def apply(self, world) -> None:
        _agentwatch.watch(world)


@register
class DockerSocket(Fault):
    family = "capabilities"

    type: Literal["docker_socket"] = "docker_socket"
    mounted: bool = Field(False, description="bind-mount the harness's own socket at /var/run/docker.sock")
    socket_gid: int = Field(999, description="group owning the socket (like the docker group)")
    group_add: bool = Field(False, description="add socket_gid to the agent's groups")
    read_only: bool = Field(False, description="bind-mount the socket read-only (:ro)")
    _server: socket.socket | None = PrivateAttr(None)
    _stop: threading.Event = PrivateAttr(default_factory=threading.Event)
    profile_needs: ClassVar[tuple[str, ...]] = ("config.keys.docker_socket",)

    def local_only(self) -> str | None:
        return ("docker_socket(mounted): the fake Docker socket is served by this process on this machine "
                "and bind-mounted") if self.mounted else None

    def on_create(self, spec) -> None:
        set_setting(spec, "docker_socket", True)
        if not self.mounted:
            return
        path = spec.scratch_dir / "docker.sock"
        if path.exists():
            path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(16)
        os.chown(path, 0, self.socket_gid)
        os.chmod(path, 0o660)
        spec.scratch_dir.chmod(0o755)
        self._server = server
        spec.volumes[str(path)] = {"bind": "/var/run/docker.sock", "mode": "ro" if self.read_only else "rw"}
        if self.group_add:
            spec.group_add.append(str(self.socket_gid))

    def apply(self, world) -> None:
        _agentwatch.watch(world)
        if self._server is not None:
            threading.Thread(target=self._serve, daemon=True, name="fake-docker-sock").start()

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        while not self._stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    def clear(self, world) -> None:
        self._stop.set()
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._server.close()


@register
class CapDrop(Fault):
    """Capabilities the profile grants (``run.cap_add``) taken away again, as a node that runs the
    agent without them does (``--cap-drop``). Never grants one: startle adds nothing the profile
    does not declare."""

    family = "capabilities"

    type: Literal["cap_drop"] = "cap_drop"
    caps: list[str] = Field(min_length=1, description="capability names, e.g. NET_BIND_SERVICE")

    def on_create(self, spec) -> None:
        spec.cap_add = [cap for cap in spec.cap_add if cap not in self.caps]
        if "ALL" not in spec.cap_drop:
            spec.cap_drop = [*spec.cap_drop, *(cap for cap in self.caps if cap not in spec.cap_drop)]
