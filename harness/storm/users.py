"""The storm's locustfile: each locust user is one simulated agent (:mod:`harness.storm.simagent`).

Run by :mod:`harness.storm.runner` as a master plus one worker process per core::

    python -m locust -f harness/storm/users.py --headless --master --expect-workers 2 \\
        -u N -r N --storm-config '{...}'                       # the master
    python -m locust -f harness/storm/users.py --worker --master-host 127.0.0.1   # each worker

Workers on other machines need only this checkout and the master's address (``--master-host``,
and the master started with ``--master-bind-host 0.0.0.0``): the storm config reaches them with
the go message. Clocks of all machines must be NTP-synchronised (records are Unix times).

Protocol (locust custom messages):

1. master, ``test_start``: :func:`harness.storm.modes.prepare` (fresh center scripted for the mode);
2. master, ``spawning_complete`` (every user exists and waits — the master waits for every worker's
   report, ``LOCUST_WAIT_FOR_WORKERS_REPORT_AFTER_RAMP_UP`` set by runner.py; locust's own 1 s
   fired it while a worker still spawned thousands, which then started late): ``go`` = now; ``storm_go`` to every
   worker with the config; the mode's timed actions (outage: the center back after ``outage_s``)
   are scheduled from ``go``;
3. workers: every user runs its agent at once; every 0.5 s a worker sends ``storm_records``
   (new attempt records, agents finished since, their outcomes) to the master;
4. master: when every agent has finished (or at the watchdog: ``storm_stop``, workers send what
   they have with ``final``), it writes the records and the run's facts to the config's
   ``output`` (JSON) and quits (workers with it).

Users never stop on their own once done: they idle until the master quits, so locust never
re-dispatches anything. Worker heartbeats tolerate a minute of silence (a worker busy with
5,000 agents may answer late; a worker declared missing would lose its users).
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
import traceback
from collections import Counter
from pathlib import Path

import gevent
import gevent.event
import locust.runners
from locust import User, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from harness.storm import delay, modes, wire
from harness.storm.policies import Backoff, PolicySpec
from harness.storm.simagent import COLUMNS, SimulatedAgent
from harness.storm.target import StormTarget

locust.runners.HEARTBEAT_LIVENESS = 60
FLUSH_S = 0.5
"""Seconds between two record batches from a worker to the master."""
STOP_GRACE_S = 10.0
"""After ``storm_stop``, how long the master waits for every worker's final batch."""

log = logging.getLogger("startle.storm")


class WorkerSide:
    """This worker's agents: the go signal, their records not yet sent, who has finished."""

    def __init__(self, environment) -> None:
        self.environment = environment
        self.config: dict | None = None
        self.go = gevent.event.Event()
        self.idle = gevent.event.Event()  # never set: finished users wait on it until the master quits
        self.t_go = 0.0
        self.rows: list = []
        self.finished = 0
        self.outcomes: Counter = Counter()
        self.count = 0
        self.backoff: Backoff | None = None
        self.target: tuple[str, int] | None = None
        self.hop_delay: delay.HopDelay | None = None
        self.storm_target: StormTarget | None = None
        runner = environment.runner
        runner.register_message("storm_go", self.on_go)
        runner.register_message("storm_stop", self.on_stop)
        self.flusher = None

    def append(self, row) -> None:  # the agents' record sink
        self.rows.append(row)

    def on_go(self, environment, msg, **_kw) -> None:
        self.config = msg.data["config"]
        self.t_go = float(msg.data["t_go"])
        self.backoff = Backoff(PolicySpec.from_dict(self.config["policy"]))
        self.target = wire.split_url(self.config["endpoints"]["target"])
        self.hop_delay = delay.HopDelay.from_dict(self.config.get("hop_delay"))
        self.storm_target = StormTarget.from_dict(self.config["target"])
        self.flusher = gevent.spawn(self._flush_loop)
        self.go.set()

    def on_stop(self, environment, msg, **_kw) -> None:
        self.flush(final=True)

    def _flush_loop(self) -> None:
        while True:
            gevent.sleep(FLUSH_S)
            self.flush()

    def flush(self, final: bool = False) -> None:
        rows, self.rows = self.rows, []
        finished, self.finished = self.finished, 0
        outcomes, self.outcomes = self.outcomes, Counter()
        if rows or finished or final:
            self.environment.runner.send_message("storm_records", {
                "rows": rows, "finished": finished, "outcomes": dict(outcomes), "final": final})

    def agent_done(self, outcome: str) -> None:
        self.finished += 1
        self.outcomes[outcome] += 1


class MasterSide:
    """Orchestration and collection (the locust master, or the only process of a local run)."""

    def __init__(self, environment, config: dict) -> None:
        self.environment, self.config = environment, config
        self.endpoints = modes.Endpoints(**config["endpoints"])
        self.params = modes.ModeParams(**config["mode"])
        self.n_agents = int(config["agents"])
        self.rows: list = []
        self.finished = 0
        self.outcomes: Counter = Counter()
        self.finals = 0
        self.events: dict[str, float] = {}
        self.first_index = 0
        self.errors: list[str] = []
        self.written = False
        self.stopping = False
        self.spawned_at_go: int | None = None
        environment.runner.register_message("storm_records", self.on_records)
        environment.events.test_start.add_listener(self.on_test_start)
        environment.events.spawning_complete.add_listener(self.on_spawned)
        environment.events.quitting.add_listener(self.on_quitting)

    def on_test_start(self, **_kw) -> None:
        self.events["test_start"] = time.time()
        try:
            self.first_index = modes.prepare(self.endpoints, self.params, StormTarget.from_dict(self.config["target"]))
        except Exception as exc:  # noqa: BLE001  (reported in the output, the run stops)
            self.errors.append(f"prepare: {exc}")
            gevent.spawn(self.finish, False)

    def on_spawned(self, user_count: int, **_kw) -> None:
        if "go" in self.events or self.errors:
            return
        t_go = time.time()
        self.events["go"] = t_go
        self.spawned_at_go = self.environment.runner.user_count
        if self.spawned_at_go < self.n_agents:  # locust's report wait expired (runner.py sets it long)
            self.errors.append(f"only {self.spawned_at_go} of {self.n_agents} agents were spawned at go: "
                               "the others start late (see lag_p95_ms)")
        self.environment.runner.send_message("storm_go", {"t_go": t_go, "config": self.config})
        for delay_s, name in modes.actions(self.params):
            gevent.spawn_later(max(0.0, t_go + delay_s - time.time()), self._act, name)
        gevent.spawn_later(float(self.config["limit_s"]), self.stop)

    def _act(self, name: str) -> None:
        try:
            modes.act(self.endpoints, self.params, name)
            self.events[name] = time.time()
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"{name}: {exc}")

    def on_records(self, environment, msg, **_kw) -> None:
        data = msg.data
        self.rows.extend(data["rows"])
        self.finished += int(data["finished"])
        self.outcomes.update(data["outcomes"])
        if data.get("final"):
            self.finals += 1
        if not self.written and self.finished >= self.n_agents:
            gevent.spawn(self.finish, True)
        elif self.stopping and self.finals >= self._workers():
            gevent.spawn(self.finish, False)

    def _workers(self) -> int:
        runner = self.environment.runner
        return runner.worker_count if isinstance(runner, MasterRunner) else 1

    def stop(self) -> None:
        """Watchdog: ask every worker for what it has, then finish incomplete."""
        if self.written:
            return
        self.stopping = True
        self.errors.append(f"watchdog: {self.n_agents - self.finished} agent(s) still running after "
                           f"{self.config['limit_s']:g} s")
        self.environment.runner.send_message("storm_stop", {})
        gevent.spawn_later(STOP_GRACE_S, self.finish, False)

    def write(self, complete: bool) -> None:
        if self.written:
            return
        self.written = True
        try:
            modes.restore(self.endpoints, self.params)
        except Exception:  # noqa: BLE001  (best effort)
            pass
        out = {"meta": {"complete": complete, "events": self.events, "first_index": self.first_index,
                        "finished": self.finished, "outcomes": dict(self.outcomes), "errors": self.errors,
                        "spawned_at_go": self.spawned_at_go,
                        "workers": self._workers(), "t_written": time.time(), "config": self.config},
               "columns": list(COLUMNS), "rows": self.rows}
        path = Path(self.config["output"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, separators=(",", ":")))
        tmp.replace(path)

    def finish(self, complete: bool) -> None:
        if self.written:
            return
        self.write(complete)
        self.environment.process_exit_code = 0 if complete else 2
        self.environment.runner.quit()

    def on_quitting(self, **_kw) -> None:  # --run-time or a signal ended the run first
        if not self.written:
            self.errors.append("locust quit before every agent had finished")
            self.write(False)


SIDE: WorkerSide | None = None


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--storm-config", type=str, default="", include_in_web_ui=False,
                        help="startle storm: the run's config (JSON; see harness/storm/runner.py)")


@events.init.add_listener
def _init(environment, **_kw) -> None:
    global SIDE
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        SIDE = WorkerSide(environment)
    if not isinstance(runner, WorkerRunner):
        raw = getattr(environment.parsed_options, "storm_config", "") if environment.parsed_options else ""
        if not raw:
            raise SystemExit("startle storm: --storm-config is required on the master")
        MasterSide(environment, json.loads(raw))


def start_offset(offsets: list[float] | None, seed: int | None, node_id: str) -> float:
    """Seconds after go this agent starts: 0, or one of ``offsets`` drawn for it (reproducibly with
    a seed) — e.g. the restart moments measured on a real fleet (harness/storm/fleet.py)."""
    if not offsets:
        return 0.0
    rng = random.Random(f"{seed}-{node_id}-start") if seed is not None else random.Random()
    return float(rng.choice(offsets))


class StormAgent(User):
    """One simulated agent: waits for go, registers with its policy, then idles until the end."""

    wait_time = constant(0)

    @task
    def live(self) -> None:
        side = SIDE
        side.go.wait()
        cfg = side.config
        index = side.count
        side.count += 1
        worker = getattr(self.environment.runner, "worker_index", 0)
        node_id = f"sim-{max(worker, 0)}-{index:05d}"
        seed = cfg.get("seed")
        host, port = side.target
        timeout_s = float(cfg["timeout_s"])
        start = side.t_go + start_offset(cfg["mode"].get("start_offsets_s"), seed, node_id)
        gevent.sleep(max(0.0, start - time.time()))  # the agent's own (re)start moment, not a synchronisation
        request = functools.partial(wire.request, host, port)  # (method, path, body, timeout_s)
        send = lambda method, path, body: request(method, path, body, timeout_s)  # noqa: E731
        if side.hop_delay is not None:  # the network between agent and center (delay.py)
            net_rng = random.Random(f"{seed}-{node_id}-net") if seed is not None else random.Random()
            send = delay.delayed(request, side.hop_delay, net_rng, gevent.sleep, timeout_s)
        agent = SimulatedAgent(
            node_id, side.backoff, send=send,
            sleep=gevent.sleep, clock=time.time,
            rng=random.Random(f"{seed}-{node_id}") if seed is not None else random.Random(),
            contention=bool(cfg["mode"]["mode"] == "contention"), records=side, start=start,
            target=side.storm_target)
        try:
            outcome = agent.run()
        except gevent.GreenletExit:
            raise
        except Exception:  # noqa: BLE001  (one broken agent must not restart: locust would re-run the task)
            log.error("agent %s failed:\n%s", node_id, traceback.format_exc())
            outcome = "error"
        side.agent_done(outcome)
        side.idle.wait()
