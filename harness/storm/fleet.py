"""The real-container cross-check: N agent containers of a profile restarted together after a center outage.

What the simulation claims, checked against the agent itself. :func:`cross_check`:

1. the world: a scenario network, the mock center, N agent containers from the profile (node ids
   ``fleet-0001`` ...), all labelled with the run (``startle.scenario=storm-fleet``) and removed
   in ``finally`` (Ctrl-C included). The agents live on Docker's default ``bridge`` network (the
   center joins it too and is named to them by ``extra_hosts``), never on the run's own network:
   N containers restarted together while their restart policy also restarts them leave Docker
   20.10 with a wrong endpoint count on their network, which then cannot be removed until dockerd
   restarts (moby#43286; reproduced here 4 runs in 4) — the default bridge is never removed, so
   the count does not matter there. The agents reach the center directly (no proxy: the
   simulation's ``--outage-switch center``) — or, with a hop delay (``--hop-delay-ms``), through
   Toxiproxy whose ``latency`` toxics delay each request and answer (the center's ``down`` is
   still the outage). Each agent's env is the profile's with its node id filled in (and its config
   copy too when the config names the node); when the profile declares a region variable
   (``knobs.region``) it is set and the variables holding ``{metadata_url}`` are dropped (no
   metadata fetch). Docker's health check is off (N containers × one ``exec`` every 2 s would cost
   these two cores more than the agents do);
2. the fleet comes up and registers (a 2xx on the profile's ``center.register`` route, waited on
   in the center's log; who sent each request: :class:`Senders`);
3. the center goes down (its ``down`` behaviour: it reads each request, records it and closes the
   connection unanswered) and every agent is restarted at once (``docker restart`` from a pool
   of threads: "at once" is as fast as the engine restarts containers, the spread is reported);
   from here on only what each agent sent after its restart counts;
4. when every agent has knocked at least once after its restart (the center's log), and
   ``outage_s`` after the center went down, the center comes back (``center_up``, the reference
   time, as in the simulation's outage mode);
5. the center's log until every agent has registered again (or the profile's deadline) gives the
   figures, through :func:`harness.storm.metrics.records_from_center_log` — the same functions
   as the simulation's, so the two rows of a report compare like for like.

The engine restarts containers one after another (~0.35 s each here: 100 take ~33 s), so the
fleet does not restart at one instant. The run's mode in ``meta`` carries what was measured —
the outage's real length and each agent's first knock after the center went down
(``start_offsets_s``) — and the simulation beside it replays exactly that (cli.py runs the fleet
first). :func:`agreement` then judges the fleet against the simulation of its declared policy.

The figures count registration attempts: each agent's requests on the register route up to its
first 2xx (:func:`until_registered`); the agents' other requests (heartbeats, log shipping, writes
after registering) are counted apart (``meta["other_requests"]``). A profile the storm cannot
count (no HTTP register route, an own center image) is refused (harness/storm/target.py).
"""

from __future__ import annotations

import copy
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Callable

import numpy as np

from harness.errors import InfrastructureError
from harness.storm import metrics
from harness.storm.delay import HopDelay
from harness.storm.modes import ModeParams
from harness.storm.policies import PolicySpec
from harness.storm.target import StormTarget, target_of
from harness.view import accepted

FLEET_SCENARIO = "storm-fleet"
POLICY_NAME = "containers"
"""The name of the real fleet's row in the storm's tables (its policy is the profile's)."""
RESTART_THREADS = 16
"""Concurrent ``docker restart`` / ``start`` calls (the engine serialises much of the work anyway)."""
TEMPLATE_ID = "fleet-template-node"
DEFAULT_BRIDGE = "bridge"
"""Docker's own network, where the fleet's agents live (see the module's docstring, step 1)."""


def node_id(i: int) -> str:
    return f"fleet-{i + 1:04d}"


class FleetWorld:
    """Network, center (a :class:`harness.runtime.World` without Toxiproxy) and N agents.

    A context manager: everything is removed on exit. ``world.center`` is the center's admin
    client; ``agents`` the started containers (docker SDK objects).
    """

    def __init__(self, run, profile, agents: int, client=None, hop_delay: HopDelay | None = None) -> None:
        from harness.runtime import World
        from harness.timeline import Timeline
        self.hop_delay = hop_delay
        self.world = World(run, FLEET_SCENARIO, profile, Timeline(), client=client, via_proxy=hop_delay is not None)
        self.size = agents
        self.agents: list[Any] = []
        self.senders = Senders([node_id(i) for i in range(agents)])
        self.center_hosts: dict[str, str] = {}
        """``extra_hosts`` of every agent: the center's host name → its address on the default bridge."""

    @property
    def center(self):
        return self.world.center

    def __enter__(self) -> "FleetWorld":
        try:
            self.world.start_infrastructure()
            self.center_hosts = self._center_on_default_bridge()
            if self.hop_delay is not None:
                self._delay_hops()
        except BaseException:
            self.world.remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        """Stop every agent first (``docker stop``: their restart policy stays quiet, the removal
        does not race the engine's restart monitor), then remove the world."""
        try:
            _in_parallel(lambda container: container.stop(timeout=2), self.agents)
        except Exception:  # noqa: BLE001  (the removal below forces what did not stop)
            pass
        finally:
            self.world.remove()

    def _specs(self) -> list:
        """One spec per agent: the profile's, node id filled in; one shared read-only config copy,
        or one per agent when the rendered config names the node."""
        from harness.faults.env import holding
        template = self.world.agent_spec(TEMPLATE_ID)
        if "region" in template.knobs:  # its region from the env: no metadata fetch by N agents at once
            for name in holding(self.world.profile.env, "metadata_url"):
                template.env.pop(name, None)
            template.set_knob("region", "fleet")
        template.publish_health = False
        template.extra["healthcheck"] = {"test": ["NONE"]}
        template.network_mode = "bridge"
        template.extra["extra_hosts"] = self.center_hosts
        per_agent_config = template.config is not None and _names(template.config.folder, TEMPLATE_ID)
        specs = []
        for i in range(self.size):
            spec = copy.deepcopy(template)
            spec.env = {key: value.replace(TEMPLATE_ID, node_id(i)) for key, value in template.env.items()}
            if per_agent_config:
                _own_config(spec, node_id(i))
            specs.append(spec)
        return specs

    def _center_on_default_bridge(self) -> dict[str, str]:
        """Connect what the agents reach (the center, or Toxiproxy in front of it with a hop delay) to
        Docker's default bridge; ``{its host name: its address there}``. Called before anyone reads
        the admin clients: connecting publishes the container's ports anew, on other host ports."""
        front = self.world.toxiproxy_container if self.world.via_proxy else self.world.center_container
        wrapped = front.get_wrapped_container()
        self.world.client.networks.get(DEFAULT_BRIDGE).connect(wrapped)
        wrapped.reload()
        infra = self.world.infra
        if infra.center is not None:
            infra.center = infra.center_container.admin()
        if infra.toxiproxy is not None:
            infra.toxiproxy = infra.toxiproxy_container.admin()
        host, _port = self.world.center_address
        return {host: wrapped.attrs["NetworkSettings"]["Networks"][DEFAULT_BRIDGE]["IPAddress"]}

    def _delay_hops(self) -> None:
        """Toxiproxy ``latency`` toxics on the proxy in front of the center, one per direction:
        each request and each answer delayed as :meth:`HopDelay.toxic` says."""
        for stream in ("upstream", "downstream"):
            self.world.toxiproxy.add_toxic("center", "latency", f"hop-delay-{stream}", stream=stream,
                                           **self.hop_delay.toxic())

    def start_agents(self) -> float:
        """Create and start every agent container (in parallel); returns the seconds it took."""
        from harness.containers import AgentContainer
        started = time.monotonic()
        specs = self._specs()
        self.world.require_image(specs[0].image)

        def start(i: int):
            agent = AgentContainer(specs[i], f"{self.world.prefix}-agent-{i + 1:04d}", self.world.labels,
                                   self.world.network)
            agent.start()
            container = agent.get_wrapped_container()
            self.senders.record_start(node_id(i), container)
            return container

        self.agents = _in_parallel(start, range(self.size))
        return time.monotonic() - started

    def restart_agents(self, stop_timeout_s: int = 5) -> tuple[float, float]:
        """``docker restart`` every agent at once; returns (first, last) return time, Unix s."""
        def restart(i: int) -> float:
            self.agents[i].restart(timeout=stop_timeout_s)
            returned = time.time()
            self.senders.record_start(node_id(i), self.agents[i])
            return returned

        done = _in_parallel(restart, range(len(self.agents)))
        return min(done), max(done)


def _names(folder, text: str) -> bool:
    """Whether any text file under ``folder`` holds ``text``."""
    for path in folder.rglob("*"):
        try:
            if path.is_file() and text in path.read_text(encoding="utf-8"):
                return True
        except (UnicodeDecodeError, OSError):
            continue
    return False


def _own_config(spec, node: str) -> None:
    """Give ``spec`` a config copy of its own, :data:`TEMPLATE_ID` replaced by ``node`` (bind mount)."""
    shared = spec.config
    folder = shared.folder.with_name(f"config-{node}")
    shutil.copytree(shared.folder, folder)
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                path.write_text(path.read_text(encoding="utf-8").replace(TEMPLATE_ID, node), encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
    bind = spec.volumes.pop(shared.source)
    spec.volumes[str(folder)] = bind
    spec.config = replace(shared, folder=folder, source=str(folder))


def _in_parallel(fn: Callable[[Any], Any], items) -> list:
    """``[fn(item) ...]`` from :data:`RESTART_THREADS` threads, in order. On an error or Ctrl-C the
    calls not yet begun are cancelled (the world is removed right after)."""
    pool = ThreadPoolExecutor(RESTART_THREADS)
    try:
        return list(pool.map(fn, items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class Senders:
    """Which fleet agent sent each request of the center's log.

    The node id the request names (its JSON body, ``?node_id=`` or the route's ``node_id_header``)
    when it is one of the fleet's; else the agent container that had the request's source address
    on the default bridge at that time (an agent that names no node — Prometheus 2.42 never sends
    the header its profile declares — is still told apart: each container has its own address,
    recorded after every start, since the engine may hand a restarted container another one). A
    request through Toxiproxy (``--hop-delay-ms``) comes from Toxiproxy's address: only its node
    id can name its sender. Per agent, :meth:`started` is the engine's ``StartedAt`` of its
    latest recorded start (Unix s): its requests before that belong to the previous process."""

    def __init__(self, node_ids: list[str]) -> None:
        self.known = set(node_ids)
        self.leases: dict[str, list[tuple[float, str]]] = {}
        self.starts: dict[str, float] = {}
        self.lock = threading.Lock()

    def record_start(self, node: str, container) -> None:
        """After a (re)start: the container's ``StartedAt`` and its address on the default bridge."""
        container.reload()
        started = datetime.fromisoformat(container.attrs["State"]["StartedAt"].replace("Z", "+00:00")).timestamp()
        address = (container.attrs["NetworkSettings"]["Networks"].get(DEFAULT_BRIDGE) or {}).get("IPAddress")
        with self.lock:
            self.starts[node] = started
            if address:
                self.leases.setdefault(address, []).append((started, node))
                self.leases[address].sort()

    def started(self, node: str) -> float:
        return self.starts.get(node, 0.0)

    def of(self, record: dict[str, Any]) -> str | None:
        """The sender's node id, None when no fleet agent can be named."""
        named = record.get("node_id")
        if named in self.known:
            return named
        holder = None
        for since, node in self.leases.get(str(record.get("remote")), []):
            if since <= record["ts"]:
                holder = node
        return holder

    def attributed(self, records: list[dict[str, Any]], since_start: bool = False) -> list[dict[str, Any]]:
        """The records a fleet agent sent, each with ``node_id`` = that agent; ``since_start``: only
        those of each agent's latest recorded start on."""
        out = []
        for record in records:
            node = self.of(record)
            if node is not None and (not since_start or record["ts"] >= self.started(node)):
                out.append({**record, "node_id": node})
        return out


def _knocked(records: list[dict[str, Any]], target: StormTarget) -> set[str]:
    return {r["node_id"] for r in records if target.on_register(r)}


def _registered(records: list[dict[str, Any]], target: StormTarget) -> set[str]:
    return {r["node_id"] for r in records if target.on_register(r) and accepted(r.get("status"))}


def until_registered(records: list[dict[str, Any]], target: StormTarget) -> list[dict[str, Any]]:
    """Each agent's requests on the register route up to its first accepted one: its registration
    attempts (an agent that goes on writing on that route after registering, like Prometheus'
    remote_write, is not retrying)."""
    done: set[str] = set()
    out = []
    for r in sorted(records, key=lambda r: r["ts"]):
        if r["node_id"] in done or not target.on_register(r):
            continue
        out.append(r)
        if accepted(r.get("status")):
            done.add(r["node_id"])
    return out


def _wait(log, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float, what: str,
          senders: Senders, target: StormTarget) -> None:
    """Follow the center's log until ``done``; an InfrastructureError saying what was missing."""
    if log.wait_for(done, timeout_s):
        return
    on_route = [r for r in log.records if target.on_register(r)]
    unnamed = sum(senders.of(r) is None for r in on_route)
    hint = (f"; {unnamed} of the {len(on_route)} requests on {target.register} came from no agent of the fleet "
            "(they name no node id and came from an address that is no agent's: through Toxiproxy with "
            "--hop-delay-ms only a node id names the sender)" if unnamed else
            f"; {len(on_route)} requests on {target.register} seen" if on_route else
            f"; none on {target.register} (does the agent send there? the profile's center.register)")
    raise InfrastructureError(f"storm fleet: {what} within {timeout_s:g} s{hint}")


def cross_check(run, profile, agents: int, mode: ModeParams, policy: PolicySpec,
                progress: Callable[[str], Any] = print, client=None, start_timeout_s: float | None = None,
                hop_delay: HopDelay | None = None):
    """Run N real agent containers through an outage (module docstring); returns a
    :class:`harness.storm.runner.PolicyRun` named :data:`POLICY_NAME` (its records are the
    center's log). ``policy``: the profile's policy, as the simulation ran it (for the report).
    ``hop_delay``: the network's delay on each hop, as Toxiproxy latency toxics in front of the center.
    A profile the storm cannot count (:func:`harness.storm.target.target_of`): InputError."""
    from harness.storm.runner import PolicyRun
    if mode.mode != "outage":
        raise ValueError("the container fleet runs in outage mode only (agents restarted during a center outage)")
    target = target_of(profile)
    deadline_s = policy.deadline_s
    start_timeout_s = start_timeout_s or 60.0 + agents * 1.0
    wall = time.monotonic()
    with FleetWorld(run, profile, agents, client=client, hop_delay=hop_delay) as fleet:
        senders = fleet.senders
        log = fleet.center.request_log(0, keep=True)
        took = fleet.start_agents()
        progress(f"storm: fleet: {agents} agent containers started in {took:.1f} s; waiting for them to register "
                 f"(a 2xx on {target.register})")
        _wait(log, lambda recs: len(_registered(senders.attributed(recs), target)) >= agents, start_timeout_s,
              f"not every one of {agents} agent containers registered", senders, target)
        fleet.center.behaviour(down=True)
        t_down = time.time()
        log = fleet.center.request_log(log.next, keep=True)
        first, last = fleet.restart_agents()
        progress(f"storm: fleet: center down; {agents} agents restarted within {last - t_down:.1f} s "
                 f"(restart calls returned {first - t_down:.1f}–{last - t_down:.1f} s after the center went down)")
        _wait(log, lambda recs: len(_knocked(senders.attributed(recs, since_start=True), target)) >= agents,
              start_timeout_s, "not every restarted agent tried to register", senders, target)
        window_left_s = t_down + mode.outage_s - time.time()
        if window_left_s > 0:  # the rest of the outage: a fault's duration, not a synchronisation
            threading.Event().wait(window_left_s)
        fleet.center.behaviour(down=False)
        t_up = time.time()
        # a 2xx since the agent's restart is a registration after it; not "since t_up": a request
        # that arrived just before the switch returned is answered with an earlier ts
        complete = log.wait_for(lambda recs: len(_registered(senders.attributed(recs, since_start=True), target))
                                >= agents, deadline_s + 10.0)
        records = senders.attributed(log.records, since_start=True)
    reg_records = until_registered(records, target)
    frame = metrics.records_from_center_log(reg_records, target)
    missing = agents - len(_registered(records, target))
    first_knock = frame.groupby("agent")["t_start"].min() - t_down
    measured = replace(mode, outage_s=round(t_up - t_down, 3),
                       start_offsets_s=tuple(round(float(t), 3) for t in first_knock.sort_values()))
    meta = {"events": {"go": t_down, "center_up": t_up, "restart_first": first, "restart_last": last},
            "config": {"mode": measured.to_dict(), "hop_delay": hop_delay.to_dict() if hop_delay is not None else None},
            "complete": complete,
            "errors": [] if complete else [f"{missing} agent(s) not registered within {deadline_s + 10:g} s"],
            "other_requests": len(records) - len(reg_records), "restart_spread_s": round(last - t_down, 2)}
    return PolicyRun(replace(policy, name=POLICY_NAME), agents, meta, frame, frame, time.monotonic() - wall)


ALPHA = 0.001
"""Significance of each distribution test (two tests: a perfect agent is flagged by chance in at
most ~0.2 % of cross-checks)."""
D_MIN = 0.25
"""Effect size a difference of registration times must also exceed (the KS statistic D: the
largest gap between the two cumulative distributions)."""
GAPS_SHIFT_MAX = 0.10
"""Effect size for the retry gaps: their earth mover's (Wasserstein-1) distance, as a share of the
simulation's mean gap. The gaps' distribution has sharp spikes (the breaker's 5-s pauses), where a
KS statistic turns a few ms of the real agent's own overhead into a large D (200 containers
restarting on 2 cores: pauses of 5.03-5.2 s against 5.002 s, D = 0.34) while the schedule is the
declared one; the distance counts how far the gaps moved: 2-4 % of the mean gap for the
reference agent at N = 100 and 200, ~20 % for a fixed 0.5-s interval."""
ATTEMPTS_RATIO = 1.5
"""The fleet disagrees when its attempts per agent differ from the simulation's by more than this factor."""


@dataclass
class Agreement:
    """Does the real fleet do what the simulation of its declared policy predicts?

    Three tests on what the storm already records, fleet against simulation at the same N, the
    same outage and the same restart moments:

    - ``gaps``: the seconds between an agent's consecutive registration attempts (as the center
      saw them arrive) — the backoff schedule itself, hundreds of samples: two-sample
      Kolmogorov–Smirnov (``gaps_d``, ``gaps_p``) and the earth mover's distance as a share of the
      simulation's mean gap (``gaps_shift``); they differ when p < :data:`ALPHA` and the shift
      exceeds :data:`GAPS_SHIFT_MAX`;
    - ``times``: the agents' registration times after the center's return, two-sample KS
      (``times_d``, ``times_p``); they differ when p < :data:`ALPHA` and D > :data:`D_MIN`;
    - attempts per agent, ``ratio`` = fleet / simulation, within [1 / ATTEMPTS_RATIO, ATTEMPTS_RATIO].

    Each difference must be significant and large. A fleet that did not register entirely disagrees.
    """

    agents: int
    attempts_per_agent: tuple[float, float]
    """(fleet, simulation)."""
    ratio: float
    gaps_d: float
    gaps_p: float
    gaps_shift: float
    times_d: float
    times_p: float
    registered: tuple[int, int]
    reasons: list[str]

    @property
    def agrees(self) -> bool:
        return not self.reasons

    def line(self) -> str:
        fleet, sim = self.attempts_per_agent
        verdict = "AGREE" if self.agrees else "DISAGREE: " + "; ".join(self.reasons)
        return (f"cross-check at N = {self.agents}: attempts per agent {fleet:.2f} (containers) vs {sim:.2f} "
                f"(simulated, x{self.ratio:.2f}); retry gaps moved {100 * self.gaps_shift:.0f} % of the mean gap "
                f"(KS D = {self.gaps_d:.2f}, p = {self.gaps_p:.3g}); "
                f"registration times KS D = {self.times_d:.2f}, p = {self.times_p:.3g} -> {verdict}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "agrees": self.agrees}


def retry_gaps(frame) -> np.ndarray:
    """Seconds between consecutive registration attempts of the same agent (by ``t_start``)."""
    reg = frame[frame["kind"] == "register"].sort_values(["agent", "t_start"])
    return reg.groupby("agent")["t_start"].diff().dropna().to_numpy(dtype=float)


def _ks(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    from scipy.stats import ks_2samp
    if not len(a) or not len(b):
        return 1.0, 0.0
    test = ks_2samp(a, b)
    return float(test.statistic), float(test.pvalue)


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's distance between ``a`` and ``b`` over the mean of ``b`` (1.0 when one is empty)."""
    from scipy.stats import wasserstein_distance
    if not len(a) or not len(b) or not b.mean():
        return 1.0
    return float(wasserstein_distance(a, b) / b.mean())


def agreement(fleet_run, simulated_run) -> Agreement:
    """Compare the fleet's :class:`PolicyRun` with the simulation's at the same N (see :class:`Agreement`).
    Both sides' gaps come from the center's log (the simulation's own records when it has none)."""
    n = fleet_run.agents
    real, sim = fleet_run.summary(), simulated_run.summary()
    real_times = metrics.registration_times(fleet_run.records, fleet_run.t_ref).to_numpy()
    sim_times = metrics.registration_times(simulated_run.records, simulated_run.t_ref).to_numpy()
    real_gaps = retry_gaps(fleet_run.center if fleet_run.center is not None else fleet_run.records)
    sim_gaps = retry_gaps(simulated_run.center if simulated_run.center is not None else simulated_run.records)
    per_agent = (float(real["attempts_per_agent_mean"]), float(sim["attempts_per_agent_mean"]))
    ratio = per_agent[0] / per_agent[1] if per_agent[1] else float("inf")
    gaps_d, gaps_p = _ks(real_gaps, sim_gaps)
    gaps_shift = _shift(real_gaps, sim_gaps)
    times_d, times_p = _ks(real_times, sim_times)
    reasons = []
    if real["registered"] < n:
        reasons.append(f"{n - real['registered']} of {n} agent containers never registered")
    if gaps_p < ALPHA and gaps_shift > GAPS_SHIFT_MAX:
        reasons.append(f"retry gaps differ (moved {100 * gaps_shift:.0f} % of the mean gap > "
                       f"{100 * GAPS_SHIFT_MAX:.0f} %, KS p = {gaps_p:.2g} < {ALPHA:g}; median {_median(real_gaps)} s "
                       f"vs {_median(sim_gaps)} s)")
    if times_p < ALPHA and times_d > D_MIN:
        reasons.append(f"registration times differ (KS D = {times_d:.2f} > {D_MIN:g}, p = {times_p:.2g} < "
                       f"{ALPHA:g}; median {_median(real_times)} s vs {_median(sim_times)} s after the center's return)")
    if not (1 / ATTEMPTS_RATIO <= ratio <= ATTEMPTS_RATIO):
        reasons.append(f"attempts per agent {per_agent[0]:.2f} vs {per_agent[1]:.2f} (x{ratio:.2f}, "
                       f"allowed x{1 / ATTEMPTS_RATIO:.2f}-x{ATTEMPTS_RATIO:g})")
    return Agreement(n, per_agent, ratio, gaps_d, gaps_p, gaps_shift, times_d, times_p,
                     (int(real["registered"]), int(sim["registered"])), reasons)


def _median(values) -> str:
    return f"{float(np.median(values)):.2f}" if len(values) else "n/a"
