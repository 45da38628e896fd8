"""``startle storm``: a fleet of simulated agents restarting against one center, policies compared.

    startle storm --mode contention --agents 100                      # all six policies, N = 100
    startle storm --mode outage --outage-s 20 --agents 10000 --policy full-jitter
    startle storm --mode capacity --capacity-per-s 200 --agents 2000 --policy none --policy profile

Each policy (and each N) is one headless locust run (a master and one worker process per core)
against a fresh mock center container; see harness/storm/__init__.py. Exit codes: 0 every run
completed, 1 a run hit its watchdog (its figures are partial), 2 bad input, 3 infrastructure
error, 4 the real fleet (``--containers``) disagrees with the simulation of its declared policy,
130 interrupted (every container and process removed first).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

EXIT_OK, EXIT_INCOMPLETE, EXIT_INPUT, EXIT_INFRA, EXIT_DISAGREES, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


NO_DEADLINE_S = 3600.0
"""Seconds of retrying given to a policy that declares no deadline (it would retry forever)."""


def _raise_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The storm's options (also used when ``startle storm`` is a subcommand of harness/cli.py)."""
    from harness.storm.modes import MODES
    from harness.storm.policies import POLICY_NAMES
    from harness.storm.target import DEFAULT_PROFILE
    parser.add_argument("--mode", choices=MODES, default="boot",
                        help="outage: center down for --outage-s, then up; boot: every agent at once; capacity: "
                        "center admits --capacity-per-s; contention: optimistic-concurrency writes (default boot)")
    parser.add_argument("--policy", action="append", choices=POLICY_NAMES, metavar="POLICY",
                        help=f"retry policy to compare (repeat; default all: {', '.join(POLICY_NAMES)})")
    parser.add_argument("--agents", action="append", type=int, metavar="N",
                        help="simulated agents (repeat for several fleet sizes; default 100)")
    parser.add_argument("--base-ms", type=float, help="first backoff ceiling, ms (default: the profile's)")
    parser.add_argument("--cap-ms", type=float, help="largest backoff ceiling, ms (default: the profile's)")
    parser.add_argument("--factor", type=float, help="ceiling growth per attempt (default: the profile's)")
    parser.add_argument("--max-attempts", type=int, help="attempts per agent before it gives up (default: none)")
    parser.add_argument("--deadline-s", type=float,
                        help="seconds after its start an agent gives up (default: the profile's, 120)")
    parser.add_argument("--outage-s", type=float, default=10.0, help="outage mode: seconds the center is down")
    parser.add_argument("--outage-switch", choices=("proxy", "center"),
                        help="outage mode: `proxy` = Toxiproxy in front of the center, disabled then enabled "
                        "(default); `center` = no proxy in the path, the center's `down` behaviour (Toxiproxy "
                        "accepts one connection at a time: ~1,800 new connections/s here; default with --containers)")
    parser.add_argument("--center-backlog", type=int, default=128, metavar="N",
                        help="the center container's listen queue (default 128, aiohttp's; a boot storm of "
                        "thousands overflows it and the kernel drops SYNs: see `listen overflows`)")
    parser.add_argument("--containers", type=int, metavar="N",
                        help="outage mode: also restart N real agent containers of the profile together during a "
                        "center outage and put them beside the simulation at the same N (policy `profile` unless "
                        "--policy is given; harness/storm/fleet.py)")
    parser.add_argument("--capacity-per-s", type=float, help="capacity mode: registrations/s the center admits")
    parser.add_argument("--capacity-burst", type=float,
                        help="capacity mode: token bucket size (default: one second's worth)")
    parser.add_argument("--profile", default=DEFAULT_PROFILE,
                        help="agent profile (name or YAML): its retry_policy is `profile` (what it retries, "
                        "whether it honours Retry-After), its center.register route is where the agents register "
                        "(any 2xx registers), its retry_module runs (default %(default)s)")
    parser.add_argument("--retry-module", help="the retry module to run instead of the profile's (path)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="locust worker processes (default: one per core; 0: one local process)")
    parser.add_argument("--timeout-s", type=float, default=2.0, help="request timeout, seconds (default 2)")
    parser.add_argument("--hop-delay-ms", metavar="DELAY",
                        help="network delay of each hop between an agent and the center, ms: 10 (constant), "
                        "uniform:5:15 or normal:10:2 (|N(10, 2)|, the classic backoff study's network); on the "
                        "simulated agents' requests, and as Toxiproxy latency toxics for --containers "
                        "(constant or uniform only); default none (loopback)")
    parser.add_argument("--seed", type=int, help="seed of the agents' jitter (default: random)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="run every policy and N K times, repeat i with seed + i; rankings by the medians "
                        "(default 1)")
    parser.add_argument("--json", metavar="OUT", help="also write the settings and figures as JSON to OUT")
    parser.add_argument("--center-url", help="use this running center instead of starting a container")
    parser.add_argument("--toxiproxy-url", help="with --center-url in outage mode: Toxiproxy API whose proxy "
                        "`center` is in front of it (--target-url); without it the center's `down` is the switch")
    parser.add_argument("--target-url", help="with --toxiproxy-url: the proxy's listen URL the agents use")
    parser.add_argument("--reports", help="parent folder of the report folder (default: reports/)")
    parser.add_argument("--remote-workers", type=int, default=0,
                        help="workers started by hand on other machines the master also waits for "
                        "(with --master-bind-host, --master-port, --center-url; docs/storm.md)")
    parser.add_argument("--master-bind-host", default="127.0.0.1",
                        help="address the locust master listens on (default 127.0.0.1: this machine only)")
    parser.add_argument("--master-port", type=int, help="the locust master's port (default: a free one)")
    parser.add_argument("--worker-netns", action="store_true",
                        help="run each local worker in a Linux network namespace of its own (veth to a bridge; "
                        "the master and the center listen on the bridge's address): workers as remote ones "
                        "would be, on this machine; needs root (harness/storm/netns.py)")
    return parser


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="startle storm", description=__doc__.split("\n\n")[0],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    return add_arguments(top)


def settings_from(args: argparse.Namespace):
    """Validated settings and the profile (InputError with the fix on bad input)."""
    from harness.errors import InputError
    from harness.profile import load_profile
    from harness.storm.delay import SYNTAX, HopDelay
    from harness.storm.modes import ModeParams
    from harness.storm.policies import POLICY_NAMES, make_policies
    from harness.storm.runner import StormSettings
    from harness.storm.target import target_of

    profile = load_profile(args.profile)
    rp = profile.retry_policy
    if rp is None:
        raise InputError(profile.path or args.profile, "retry_policy", "the profile declares no retry policy",
                         "declare its schedule (family, jitter, base_ms, factor, cap_ms) as docs/profiles.md shows")
    target = target_of(profile)
    if args.containers is not None:
        if args.containers < 1 or args.mode != "outage":
            raise InputError("--containers", "N", "the container fleet needs N >= 1 and --mode outage",
                             "pass --mode outage --containers N (agents restarted during a center outage)")
        if args.center_url:
            raise InputError("--containers", "N", "the fleet starts its own center; --center-url cannot be used",
                             "drop --center-url, or run the fleet in a separate storm")
    if args.containers and args.agents and set(args.agents) != {args.containers}:
        raise InputError("--agents", "N", "with --containers the simulation runs at the fleet's N only",
                         "drop --agents (or run other fleet sizes in a separate storm)")
    agents = list(args.agents or [args.containers or 100])
    names = list(dict.fromkeys(args.policy or POLICY_NAMES))
    if args.containers:  # the fleet runs the profile's policy: the simulation of it is its comparison
        names = names if args.policy else []
        names += [] if "profile" in names else ["profile"]
    if any(n < 1 for n in agents):
        raise InputError("--agents", "N", "must be at least 1", "give a positive number of agents")
    if args.repeat < 1:
        raise InputError("--repeat", "K", "must be at least 1", "give how many times to run each policy and N")
    try:
        mode = ModeParams(args.mode, outage_s=args.outage_s, capacity_per_s=args.capacity_per_s,
                          capacity_burst=args.capacity_burst)
        policies = make_policies(names,
                                 base_ms=args.base_ms or rp.base_ms, cap_ms=args.cap_ms or rp.cap_ms,
                                 factor=args.factor or rp.factor,
                                 deadline_s=args.deadline_s or rp.deadline_s or NO_DEADLINE_S,
                                 max_attempts=args.max_attempts, profile=profile, module=args.retry_module)
    except ValueError as exc:
        raise InputError("storm", "options", str(exc), "see `startle storm --help`") from None
    hop_delay = None
    if args.hop_delay_ms is not None:
        try:
            hop_delay = HopDelay.parse(args.hop_delay_ms)
            if args.containers:
                hop_delay.toxic()
        except ValueError as exc:
            fix = ("with --containers give a constant (10) or uniform:LO:HI (Toxiproxy's latency ± jitter)"
                   if args.containers else f"give {SYNTAX}")
            raise InputError("--hop-delay-ms", "DELAY", str(exc), fix) from None
    if args.worker_netns and (args.workers < 1 or args.center_url or args.remote_workers or args.containers):
        raise InputError("--worker-netns", "workers", "namespaced workers need --workers >= 1 and a center this "
                         "storm starts (no --center-url, --remote-workers or --containers)",
                         "drop those options, or drop --worker-netns")
    if args.remote_workers and not args.center_url:
        raise InputError("--remote-workers", "K", "remote workers cannot reach a center bound to 127.0.0.1",
                         "start a center they can reach and pass --center-url (docs/storm.md)")
    if args.remote_workers and not args.master_port:
        raise InputError("--remote-workers", "K", "remote workers need to know the master's port",
                         "pass --master-port PORT (and --master-bind-host 0.0.0.0)")
    return StormSettings(mode, policies, agents, workers=args.workers, timeout_s=args.timeout_s, seed=args.seed,
                         repeat=args.repeat, remote_workers=args.remote_workers, master_bind_host=args.master_bind_host,
                         master_port=args.master_port, hop_delay=hop_delay, worker_netns=args.worker_netns,
                         target=target)


def run(args: argparse.Namespace) -> int:
    """The storm; Ctrl-C / SIGTERM end it with exit 130 after everything it started was removed."""
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("startle storm: interrupted; every container and process of this storm was removed", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from harness.config import REPORTS_DIR
    from harness.runtime import Run
    from harness.storm import fleet, report
    from harness.storm.modes import Endpoints, ModeParams
    from harness.storm.netns import WorkerNetwork
    from harness.storm.runner import ContainerWorld, ExternalWorld, run_storm

    settings = settings_from(args)
    run_ = Run(reports_root=Path(args.reports) if args.reports else REPORTS_DIR)
    folder = run_.reports_root / f"storm-{run_.run_id}"
    net = WorkerNetwork(run_.run_id, settings.workers) if settings.worker_netns else None
    if args.center_url:
        world = ExternalWorld(Endpoints(center=args.center_url.rstrip("/"),
                                        target=(args.target_url or args.center_url).rstrip("/"),
                                        toxiproxy=args.toxiproxy_url, proxy="center" if args.toxiproxy_url else None))
    else:
        world = ContainerWorld(run_, settings.mode.mode,
                               outage_switch=args.outage_switch or ("center" if args.containers else "proxy"),
                               center_backlog=args.center_backlog)
    what = (f"{args.containers} real agent containers restarted during a center outage of at least "
            f"{settings.mode.outage_s:g} s, then the simulation replaying it" if args.containers
            else settings.mode.describe())
    what += f"; registering on {settings.target.register}"
    if settings.hop_delay is not None:
        what += f"; network delay {settings.hop_delay.describe()}"
    if net is not None:
        what += f"; {settings.workers} workers in network namespaces"
    print(f"startle storm: run {run_.run_id}, {what}; "
          f"{len(settings.policies)} polic{'y' if len(settings.policies) == 1 else 'ies'} x N = "
          f"{', '.join(map(str, settings.agents))}{f' x {settings.repeat} repeats' if settings.repeat > 1 else ''}; "
          f"report in {folder}", flush=True)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    progress = lambda line: print(line, flush=True)  # noqa: E731
    fleet_run = None
    if args.containers:  # first: the simulation replays the fleet's measured outage and restart moments
        fleet_run = run_fleet(run_, args, settings, progress)
        settings = replace(settings, mode=ModeParams(**fleet_run.meta["config"]["mode"]))
    with net if net is not None else contextlib.nullcontext():
        if net is not None:
            world.bind_host = net.host_ip
            progress(f"storm: worker namespaces {net.namespace(0)}.. on bridge {net.bridge} ({net.subnet}): "
                     f"master and center on {net.host_ip}, workers on "
                     f"{', '.join(net.worker_ip(i) for i in range(settings.workers))}")
        result = run_storm(settings, world, folder, progress=progress, worker_net=net)
    if fleet_run is not None:
        result.runs.append(fleet_run)
        result.cross_check = fleet.agreement(fleet_run, next(r for r in result.runs if r.policy.name == "profile"
                                                             and r.agents == fleet_run.agents))
    paths = report.write(result, folder, run_.run_id)
    print()
    print(report.tables(result, settings.mode.reference_event))
    if result.cross_check is not None:
        print(result.cross_check.line())
    print(f"report {paths['html']}; reproduce with --seed {result.seeds[0]}")
    if args.json:
        Path(args.json).write_text(json.dumps(report.summary_json(result, run_.run_id, folder), indent=2))
        print(f"json {args.json}")
    if result.cross_check is not None and not result.cross_check.agrees:
        return EXIT_DISAGREES
    return EXIT_OK if all(r.meta["complete"] for r in result.runs) else EXIT_INCOMPLETE


def run_fleet(run_, args: argparse.Namespace, settings, progress):
    """The real-container cross-check at N = ``--containers``, with the profile's policy."""
    from harness.profile import load_profile
    from harness.storm import fleet
    profile_policy = next(p for p in settings.policies if p.name == "profile")  # settings_from added it
    progress(f"storm: fleet: {args.containers} real agent containers of profile {args.profile}, "
             f"restarted together during a center outage of at least {settings.mode.outage_s:g} s")
    run = fleet.cross_check(run_, load_profile(args.profile), args.containers, settings.mode, profile_policy,
                            progress=progress, hop_delay=settings.hop_delay)
    s = run.summary()
    progress(f"storm: fleet: {s['attempts']} attempts, {s['registered']}/{args.containers} registered, "
             f"t100 {s['t100_s']:.2f} s, center peak {s['center_peak_rps']} req/s ({run.wall_s:.1f} s wall)")
    return run


def main(argv: list[str] | None = None) -> int:
    from harness.errors import InputError, StartleError
    args = parser().parse_args(argv)
    try:
        return run(args)
    except InputError as exc:
        print(f"startle storm: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (StartleError, RuntimeError) as exc:
        print(f"startle storm: {exc}", file=sys.stderr)
        return EXIT_INFRA


if __name__ == "__main__":
    sys.exit(main())
