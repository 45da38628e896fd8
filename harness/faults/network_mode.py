"""Seed 2.3: the agent's network mode, DNS and advertised address.

``network_mode``:

* ``none`` (``--network none``): only loopback. The center is configured by IP literal (as many
  field configs are), so the agent's preflight gets past DNS and its route check finds no route.
* ``isolated``: a bridge network of the agent's own (labelled, removed with the scenario) where
  only ``peers`` (roles, e.g. ``toxiproxy``) also have a leg. With no peers and ``dns: [127.0.0.1]``
  the center's name cannot resolve and no query leaves the machine: Docker's embedded DNS
  forwards names it does not know to 127.0.0.1:53 *inside the agent's namespace*, where nothing
  listens. With ``peers: [toxiproxy]`` the agent reaches the center through Toxiproxy, but its own
  bridge address is not on any network the center can reach (a NATed node).
* ``host`` (``--network host``): the agent reaches the center through Toxiproxy's port published
  on 127.0.0.1, serves health on a free host port (the profile's ``knobs.health_port``),
  advertises ``127.0.0.1:<that port>`` (``knobs.advertise_addr``, when declared), and the harness
  probes its health there. No name is resolved (IP literals only), and the health server binds
  127.0.0.1 only (``knobs.health_bind``, when declared).

The center's address is rewritten in every env value that holds it (``toxiproxy:<port>``); an
address inside a config file is left as it is (such an agent cannot be moved to these modes).

``advertise``: the center checks that it can connect back to the advertised address
(``check_advertise``); with ``forward`` Toxiproxy also forwards ``toxiproxy:18081`` to the agent's
first health port (a port forward on the NAT) and the agent is told to advertise
``toxiproxy:18081`` (``knobs.advertise_addr``).
"""

from __future__ import annotations

import socket
import urllib.parse
from typing import ClassVar, Literal

from pydantic import Field, PrivateAttr

from harness.containers import CENTER_PROXY_PORT
from harness.faults import _agentwatch
from harness.faults.base import Fault, register

FORWARD_PORT = 18081


def _center_values(spec) -> list[str]:
    """The env variables whose value is a URL of the center (as the agent sees it, through Toxiproxy)."""
    return [k for k, v in spec.env.items() if urllib.parse.urlsplit(v).hostname == "toxiproxy"]


def center_in_config(profile) -> bool:
    """Whether one of the profile's config templates holds the center's address."""
    source = profile.config_source()
    if source is None or not source.is_dir():
        return False
    marks = ("{center_url}", "{center_host}", "{center_port}", "{metadata_url}")
    for path in source.rglob("*"):
        try:
            if path.is_file() and any(m in path.read_text(encoding="utf-8", errors="ignore") for m in marks):
                return True
        except OSError:
            continue
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rehost(url: str, host: str, port: str | int | None = None) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = f"{host}:{port if port is not None else parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@register
class NetworkMode(Fault):
    family = "network-mode"

    type: Literal["network_mode"] = "network_mode"
    mode: Literal["none", "host", "isolated"]
    peers: list[str] = Field([], description="isolated: roles that also join the agent's network")
    dns: list[str] = Field([], description="--dns servers (loopback only: nothing may leave the machine)")
    dns_options: list[str] = Field([], description="--dns-option, e.g. timeout:1 (seconds per try), attempts:1")
    _health_port: int | None = PrivateAttr(None)

    def missing(self, profile) -> list[str]:
        lacking = ["knobs.health_port"] if self.mode == "host" and profile.health.ports() and \
            profile.lacks("knobs.health_port") else []
        if self.mode in ("host", "none") and center_in_config(profile):
            lacking.append("env (the center's address is in a config template, which this fault cannot move: "
                           "give it through env)")
        return lacking

    def local_only(self) -> str | None:
        return ("network_mode(host): the agent's free health port is picked on this machine and probed on its "
                "127.0.0.1, which are the engine host's") if self.mode == "host" else None

    def on_create(self, spec) -> None:
        if any(not s.startswith("127.") for s in self.dns):
            raise ValueError("dns: only loopback resolvers (e.g. 127.0.0.1): no query may leave the machine")
        spec.network_mode = self.mode
        spec.dns = list(self.dns)
        spec.dns_options = list(self.dns_options)
        if self.mode == "none":
            for key in _center_values(spec):
                spec.env[key] = _rehost(spec.env[key], "{ip:toxiproxy}")
        elif self.mode == "isolated":
            spec.isolated_peers = list(self.peers)
        elif self.mode == "host":
            for key in _center_values(spec):
                spec.env[key] = _rehost(spec.env[key], "127.0.0.1", f"{{hostport:toxiproxy:{CENTER_PROXY_PORT}}}")
            if spec.ports:
                self._health_port = _free_port()
                spec.host_ports = {port: self._health_port for port in spec.ports}
                spec.set_knob("health_port", str(self._health_port))
                if "advertise_addr" in spec.knobs:
                    spec.set_knob("advertise_addr", f"127.0.0.1:{self._health_port}")
                if "health_bind" in spec.knobs:  # on the host's network: loopback only, never every interface
                    spec.set_knob("health_bind", "127.0.0.1")

    def apply(self, world) -> None:
        _agentwatch.watch(world)


@register
class Advertise(Fault):
    family = "network-mode"

    type: Literal["advertise"] = "advertise"
    check_advertise: bool = Field(True, description="the center connects back to the advertised address")
    forward: bool = Field(False, description="Toxiproxy forwards toxiproxy:18081 to the agent's health port")
    profile_needs: ClassVar[tuple[str, ...]] = ("knobs.advertise_addr", "health", "center.register")

    def on_create(self, spec) -> None:
        if self.forward:
            spec.set_knob("advertise_addr", f"toxiproxy:{FORWARD_PORT}")

    def apply(self, world) -> None:
        world.center.behaviour(check_advertise=self.check_advertise)
        if self.forward:
            world.toxiproxy.create_proxy("agent-health", f"0.0.0.0:{FORWARD_PORT}",
                                         f"agent:{world.profile.health.ports()[0]}")

    def clear(self, world) -> None:
        world.center.behaviour(check_advertise=False)
