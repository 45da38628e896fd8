"""The ``startle`` command.

    startle doctor [--profile P] [--json]   host prerequisites and the profile's images, OK/FAIL with
                                     fixes; exit 1 if a required one fails
    startle run [SCENARIO ...]       run scenarios (files, folders or names; default: scenarios/);
                                     --shard K/N: only this runner's part of them (harness/shard.py)
    startle clean [--all|--check]    remove what dead runs left behind (--all: every startle object;
                                     --check: remove nothing, exit 1 if any startle object exists)
    startle setup                    install what startle needs here (engine, QEMU, Toxiproxy), build images
    startle build [NAME ...] [--mutants] [--json]   build (or reuse) every image, or NAMEs and their
                                     parents, locally (content-hash tags); then, with DOCKER_HOST naming
                                     another engine, stream there what the profile needs (--profile P)
    startle build --tags | --hash | --prune   images present / the tags the inputs give / untag old ones
    startle init [--image IMAGE]     write startle.yaml and a starter profile into this repository
    startle profile init --image IMAGE [--out FILE]   draft a profile from what the image says
    startle profile check PROFILE    run the agent once, no fault: which declarations were really seen
    startle report RUN               rebuild a run's reports (HTML, JUnit, tables, summary) from its journal
    startle merge RUN... [--out DIR] join the runs of `run --shard K/N` into one new run and its reports
    startle compare RUN_A RUN_B      release gate: regressions of B against A; exit 1 if any
    startle storm [--mode M] [--policy P ...] [--agents N]   retry-storm benchmark (docs/storm.md)
    startle capture CONTAINER [-o OUT]   a node's evidence about one agent container, secrets redacted
    startle capture --script         print the POSIX capture script, for a node without startle
    startle reproduce BUNDLE|INSPECT.json [--logs F] [--profile P] [--out DIR] [--minimise] [--fixed]
                                     a scenario that makes the field's failure happen here; runs it:
                                     REPRODUCED (exit 0), PARTIAL / NOT REPRODUCED (exit 1)

Exit codes of ``run``: 0 all passed, 1 a scenario failed, 2 bad input, 3 harness/infrastructure
error, 130 interrupted (everything created was removed first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from harness.errors import InputError, StartleError

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
CANCEL_GRACE_S = 60.0
"""After Ctrl-C, how long (s) running scenarios get to remove their own containers before a reap."""


def _raise_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def chosen_profile(explicit: str | None):
    """(the profile, where the choice came from) of a command with ``--profile``
    (harness/project.py :func:`~harness.project.chosen_profile`)."""
    from harness.profile import load_profile
    from harness.project import chosen_profile as choose
    ref, source = choose(explicit)
    return load_profile(ref), source


def cmd_doctor(args: argparse.Namespace) -> int:
    from harness.doctor import run_doctor
    profile, source = chosen_profile(args.profile)
    findings = run_doctor(profile=profile, profile_source=source)
    if args.json:
        from dataclasses import asdict
        print(json.dumps({"ok": all(f.ok for f in findings if f.required), "profile": profile.name,
                          "findings": [asdict(f) for f in findings]}, indent=2))
    else:
        for finding in findings:
            print(finding.line())
    return EXIT_OK if all(f.ok for f in findings if f.required) else EXIT_FAILED


def cmd_clean(args: argparse.Namespace) -> int:
    from harness.runtime import docker_client, leftovers, reap, reap_stale
    client = docker_client()
    if args.check:
        found = leftovers(client)
        for line in found:
            print(f"leftover: {line}")
        print(f"clean: {len(found)} startle object(s) present")
        return EXIT_FAILED if found else EXIT_OK
    removed = reap(client) if args.all else reap_stale(client)
    print("clean: removed " + ", ".join(f"{n} {what}" for what, n in removed.items()))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from harness.reports import build_reports
    for path in build_reports(args.run, args.weights):
        print(f"report: {path}")
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.config import REPORTS_DIR
    from harness.reports.build import headline
    from harness.reports.merge import merge_runs, missing_line
    from harness.runtime import Run
    run_id = Run().run_id
    folder = Path(args.out) if args.out else REPORTS_DIR / run_id
    if args.out and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(folder, "--out", "exists and is not an empty folder",
                         "name a new folder; merge never writes over another run")
    started = time.perf_counter()
    merged = merge_runs(args.runs, run_id, folder, args.weights, latest=not args.out)
    shards = merged.record.merged.shards
    print(f"startle: merged {len(shards)} shard run(s) ({', '.join(s.run_id for s in shards)}) into run "
          f"{run_id} in {time.perf_counter() - started:.1f} s")
    incomplete = missing_line(merged.record)
    if incomplete:
        print(f"startle: warning: {incomplete}", file=sys.stderr)
    print(f"startle: {headline(folder, args.weights)}\nstartle: report {folder / 'report.html'}")
    count = merged.record.totals
    if count.get("error"):
        return EXIT_INFRA
    return EXIT_FAILED if count.get("fail") or incomplete else EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.reports import compare
    return compare.main([str(args.run_a), str(args.run_b), *args.compare_options])


def cmd_storm(args: argparse.Namespace) -> int:
    from harness.storm.cli import run as run_storm
    return run_storm(args)


def cmd_setup(args: argparse.Namespace) -> int:
    """Set this machine up for an installed startle: scripts/setup.sh from the package data, with
    no virtualenv of its own (the interpreter startle runs in builds the images)."""
    import os
    import subprocess
    from harness.config import CHECKOUT, ROOT
    from harness.images import CACHE_DIR
    env = {**os.environ, "STARTLE_PYTHON": sys.executable, "STARTLE_CACHE_DIR": str(CACHE_DIR),
           "STARTLE_INSTALLED": "0" if ROOT == CHECKOUT and not args.installed else "1"}
    return subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], env=env, stdin=subprocess.DEVNULL).returncode


def cmd_build(args: argparse.Namespace) -> int:
    """The one image command: build (or reuse), list, hash or prune startle's images
    (harness/images.py); after a build, stream what the profile needs to another engine."""
    from harness import images
    if args.names and (args.tags or args.hash or args.prune):
        raise InputError(" ".join(args.names), "startle build NAME", "names only go with a build",
                         "drop the names, or --tags/--hash/--prune")
    if args.tags:
        tags = images.image_tags()
        if args.json:
            print(json.dumps(tags, indent=2))
        else:
            for name, names in tags.items():
                print(f"{name:<20} {' '.join(names)}")
        return EXIT_OK
    if args.hash:
        for name, tag in images.expected_tags(mutants=args.mutants).items():
            print(f"{name:<20} {tag}")
        return EXIT_OK
    if args.prune:
        images.prune()
        return EXIT_OK
    mutants = args.mutants or any(name.startswith("mutant-") for name in args.names)
    known = [spec.name for spec in images.image_specs(mutants=True)]
    for name in args.names:
        if name not in known:
            raise InputError(name, "startle build NAME", "no such image",
                             f"name one of: {', '.join(known)} (or none: every image)")
    started = time.monotonic()
    emit = (lambda line: print(line, file=sys.stderr, flush=True)) if args.json else (lambda line: print(line, flush=True))
    results = images.build(mutants=mutants, names=args.names or None, log=emit)
    emit(f"images: {len(results)} images in {time.monotonic() - started:.1f}s "
         f"({sum(r.status == 'built' for r in results)} built)")
    from harness.engine import points_elsewhere
    if points_elsewhere():  # DOCKER_HOST names another engine: what `startle run` needs there, sent
        profile, _ = chosen_profile(args.profile)
        images.ship_to_engine(images.docker_client(local=False), profiles=[profile], log=emit)
    if args.json:
        print(json.dumps({r.name: {"tag": r.tag, "aliases": r.aliases, "status": r.status,
                                   "seconds": round(r.seconds, 2), "size_bytes": r.size_bytes,
                                   "architecture": r.architecture} for r in results}, indent=2))
    return EXIT_OK


def image_attrs(image: str) -> dict:
    """``docker image inspect`` of a local image the user named with ``--image``; an InputError
    naming it and the fix when the engine does not have it."""
    from docker.errors import ImageNotFound
    from harness.runtime import docker_client
    try:
        return docker_client().images.get(image).attrs
    except ImageNotFound:
        raise InputError(image, "--image", "no such image on this engine",
                         f"build or load it first (`docker build -t {image} DIR` or `docker load`; "
                         "`docker images` lists what is there)") from None


def cmd_init(args: argparse.Namespace) -> int:
    from harness import profile_tools
    from harness.project import STARTER, write_new
    profile_path = Path(args.profile_out)
    if args.image:
        text = profile_tools.draft(args.image, image_attrs(args.image))
    else:
        text = profile_tools.STARTER_PROFILE
    written = [write_new(Path("startle.yaml"), STARTER.format(profile=profile_path)), write_new(profile_path, text)]
    for path in written:
        print(f"init: wrote {path}")
    print(f"init: replace the TODOs of {profile_path}, then `startle profile check {profile_path}`, "
          "`startle doctor`, `startle run`")
    return EXIT_OK


def cmd_profile(args: argparse.Namespace) -> int:
    from harness import profile_tools
    if args.profile_command == "init":
        text = profile_tools.draft(args.image, image_attrs(args.image))
        if args.out:
            profile_tools.write_draft(Path(args.out), text)
            print(f"profile: drafted {args.out}; replace its TODOs, then `startle profile check {args.out}`")
        else:
            print(text, end="")
        return EXIT_OK
    from harness.profile import load_profile
    profile = load_profile(args.profile)
    seen, summary = profile_tools.check(profile, args.deadline_s, image=args.image)
    print(f"profile check: {profile.name}, one run with no fault ({summary['wall_s']} s): {summary['status']}"
          + (f" — {summary['error']}" if summary["error"] else ""))
    if summary["status"] == "error":  # the harness could not run it: nothing was or was not seen
        return EXIT_INFRA
    for item in seen:
        print(item.line())
    for verdict in summary["verdicts"]:
        print(f"  {verdict}")
    never = [s.what for s in seen if s.ok is False]
    print(f"profile check: {len(never)} declaration(s) never seen" + (f": {', '.join(never)}" if never else ""))
    return EXIT_OK if summary["status"] == "pass" and not never else EXIT_FAILED


JOB_MEMORY_GIB = 1.0
"""Memory one running scenario needs at most: the agent's default limit (512 MiB), the center,
Toxiproxy and startle's own threads, with room to spare."""


def auto_jobs() -> int:
    """``-j auto``: one scenario per core plus one (a scenario mostly waits on its agent), at most
    as many as :data:`JOB_MEMORY_GIB` fit in the memory available now, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemAvailable:"))
        by_memory = int(kib / 2**20 / JOB_MEMORY_GIB)
    except (OSError, StopIteration, ValueError):
        by_memory = cores + 1
    return max(1, min(cores + 1, by_memory))


def jobs_argument(value: str) -> int | str:
    """``-j N`` (N ≥ 1) or ``-j auto``."""
    if value == "auto":
        return value
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: give a number of scenarios at once (1 or more) or `auto`")
    return jobs


def cmd_run(args: argparse.Namespace) -> int:
    from harness import images
    from harness.combinations import PAIRS_FILE, generate
    from harness.config import REPORTS_DIR, SCENARIOS_DIR
    from harness.doctor import host_facts
    from harness.engine import points_elsewhere
    from harness.lifecycle import ScenarioResult, run_scenario
    from harness.pool import WorldPool
    from harness.profile import load_profile
    from harness.progress import progress_for
    from harness.reports import write_run
    from harness.reports.build import headline
    from harness.reports.score import load_weights
    from harness.reports.journal import totals
    from harness.runtime import Run, docker_client, reap, reap_stale
    from harness.project import load_project
    from harness.scenario import find_scenarios, load_scenario
    from harness.shard import last_durations, parse_shard, shard_record, start_order

    project = load_project()
    if project is not None:  # this repository's startle.yaml gives the defaults
        args.scenarios = args.scenarios or project.scenarios
        args.profile = args.profile or project.profile_ref()
        args.image = args.image or project.image
        args.jobs = args.jobs or project.jobs
    args.jobs = auto_jobs() if args.jobs == "auto" else (args.jobs or 1)
    part = parse_shard(args.shard) if args.shard is not None else None

    pair_words = {"pairs.yaml", "combinations"}
    named = [a for a in args.scenarios if Path(a).name not in pair_words]
    with_pairs = not args.scenarios or len(named) < len(args.scenarios) or any(
        Path(a).resolve() == SCENARIOS_DIR for a in args.scenarios)
    only_pairs = bool(args.scenarios) and not named
    scenarios = [] if only_pairs else [load_scenario(path) for path in find_scenarios(named)]
    profile = load_profile(args.profile) if args.profile else None
    if with_pairs and not args.no_pairs:
        scenarios += generate(PAIRS_FILE, (profile or load_profile("reference")).preflight_order)
    if not scenarios:
        raise InputError("scenarios/", "(scenarios)", "no scenario files found", "add scenarios/*.yaml")
    if args.weights:
        load_weights(args.weights)  # a bad weights file fails now, not after the run
    shard = None
    if part is not None:  # this runner's part of the whole set
        profiles = [profile.name] if profile else sorted({s.profile for s in scenarios})
        shard = shard_record(part, [s.name for s in scenarios], profiles, args.image, REPORTS_DIR)
        scenarios = [s for s in scenarios if s.name in shard["names"]]
    client = docker_client()
    if points_elsewhere():  # the images the run needs are built here: sent to the engine first
        from harness.engine import target_arch
        profiles = [profile] if profile else [load_profile(name) for name in sorted({s.profile for s in scenarios})]
        refs = images.engine_image_set(target_arch(), profiles, agent=not args.image)
        if args.image:  # the image under test replaces the profile's agent image
            refs.append(args.image)
        images.ship_to_engine(client, refs=refs, log=lambda line: print(f"startle: {line}"))
    stale = reap_stale(client)
    if stale["runs"]:
        print(f"startle: reaped {stale['runs']} stale run(s): {stale['containers']} containers, "
              f"{stale['networks']} networks")
    run = Run()
    host = host_facts(profile=profile)
    part_of = f" (shard {shard['k']}/{shard['n']} of {shard['of']})" if shard else ""
    print(f"startle: run {run.run_id}, {len(scenarios)} scenario(s){part_of}, reports in {run.dir}")
    results: list[ScenarioResult] = []
    interrupted = False
    # Ctrl-C and SIGTERM both end the run cleanly. SIGINT is installed explicitly: a shell that
    # starts a command in the background (CI runners do) hands it SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    progress = progress_for(len(scenarios))

    worlds = None if args.no_pool else WorldPool(run)

    def run_one(number: int, scenario) -> ScenarioResult:
        result = run_scenario(scenario, run, profile=profile, image=args.image, pool=worlds,
                              on_phase=lambda name, phase: progress.phase(number, name, phase))
        progress.done(number, result)
        return result

    # Scenarios run in worker threads, even one at a time: the main thread only waits, so Ctrl-C
    # always lands here. (Raised in scenario code, it could land in a finaliser — a __del__, a
    # weakref callback — where Python prints "Exception ignored" and the run went on.)
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    futures: list[Future] = []
    try:
        if args.jobs == 1:  # in the order given
            order = list(range(len(scenarios)))
        else:  # each scenario has its own agent and (pooled) world: they can overlap safely
            _, durations = last_durations(REPORTS_DIR)  # no long one started last, short ones spread
            order = start_order([s.name for s in scenarios], durations)
        submitted = {i: pool.submit(run_one, i + 1, scenarios[i]) for i in order}
        futures = [submitted[i] for i in range(len(scenarios))]
        for future in futures:
            results.append(future.result())
        pool.shutdown()
    except KeyboardInterrupt:
        interrupted = True
        progress.close()
        print("startle: interrupted; stopping scenarios and removing everything this run created", flush=True)
        run.cancel()  # running scenarios stop at their next step and remove their own world
        pool.shutdown(wait=False, cancel_futures=True)
        try:  # not the cancelled ones: a future cancelled in the queue never tells wait() it is done
            wait([f for f in futures if not f.cancelled()], timeout=CANCEL_GRACE_S)
        except KeyboardInterrupt:  # a second Ctrl-C: do not wait, reap below
            pass
        results = [f.result() for f in futures if f.done() and not f.cancelled()]
        reap(client, {"startle.run": run.run_id})
    if worlds is not None:
        worlds.close()
    progress.close()
    folder = write_run(run, results, host, time.time(), weights=args.weights, shard=shard)
    count = totals(r.status for r in results)
    for result in results:
        if result.status in ("skip", "error"):
            print(f"startle: {'skipped' if result.status == 'skip' else 'error in'} {result.name}: {result.error}")
        for verdict in result.skipped_checks if result.status in ("pass", "fail") else []:
            print(f"startle: {result.name}: check {verdict['check']} not judged: {verdict['message']}")
    print(f"startle: {headline(folder, args.weights)}\nstartle: report {folder / 'report.html'}")
    if interrupted:
        return EXIT_INTERRUPTED
    if count["error"]:
        return EXIT_INFRA
    return EXIT_FAILED if count["fail"] else EXIT_OK


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="startle", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="check host prerequisites and the images the profile needs")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument("--profile", help="agent profile name or YAML path whose images are checked "
                        "(default: startle.yaml's, else reference)")
    doctor.set_defaults(func=cmd_doctor)
    run = sub.add_parser("run", help="run scenarios and write reports")
    run.add_argument("scenarios", nargs="*", help="scenario files, folders or names (default: scenarios/)")
    run.add_argument("--profile", help="agent profile name or YAML path (default: each scenario's)")
    run.add_argument("--image", help="agent image to test instead of the profile's")
    run.add_argument("--no-pairs", action="store_true",
                     help="without arguments, do not add the generated pairwise combinations")
    run.add_argument("--weights", help="resilience-score weights YAML (default: harness/reports/weights.yaml)")
    run.add_argument("-j", "--jobs", type=jobs_argument, default=None,
                     help="scenarios run at once, or `auto` (from this host's cores and memory); "
                          "default 1, or startle.yaml's")
    run.add_argument("--no-pool", action="store_true",
                     help="build a world (network, center, Toxiproxy) for every scenario instead of "
                          "keeping one per worker and resetting it")
    run.add_argument("--shard", metavar="K/N",
                     help="run only shard K of N of the selected set (balanced by the last run's durations; "
                     "docs/sharding.md); join the shards' runs with `startle merge`")
    run.set_defaults(func=cmd_run)
    clean = sub.add_parser("clean", help="remove what dead runs left behind")
    clean.add_argument("--all", action="store_true", help="remove every startle container and network")
    clean.add_argument("--check", action="store_true",
                       help="remove nothing; list startle objects still present and exit 1 if any")
    clean.set_defaults(func=cmd_clean)
    report = sub.add_parser("report", help="rebuild a run's reports from its results.json and timelines")
    report.add_argument("run", help="run folder (reports/latest, reports/<run-id>) or run id")
    report.add_argument("--weights", help="resilience-score weights YAML (default: harness/reports/weights.yaml)")
    report.set_defaults(func=cmd_report)
    merge = sub.add_parser("merge", help="join the runs of `startle run --shard K/N` into one run and its reports",
                           description="Exit 0: every scenario of the whole set ran and passed; 1: a failure, "
                           "or shards missing (the summary lists the scenarios never run); 2: shards that do "
                           "not belong together; 3: a harness error in a shard.")
    merge.add_argument("runs", nargs="+", metavar="RUN", help="each shard's run folder or run id")
    merge.add_argument("--out", help="write the merged run into this new folder (default: reports/<new run id>, "
                       "and reports/latest points at it)")
    merge.add_argument("--weights", help="resilience-score weights YAML (default: harness/reports/weights.yaml)")
    merge.set_defaults(func=cmd_merge)
    compare = sub.add_parser("compare", help="release gate: compare run B against run A (exit 1 on regression)",
                             description="New failures, fixed ones, and changes in time to ready, recovery "
                             "and attempts beyond noise. Exit 0: no regression; 1: regression; 2: bad input. "
                             "Options after the runs go to the comparison (see --help of "
                             "`python -m harness.reports.compare`).")
    compare.add_argument("run_a", help="the reference run (folder or run id)")
    compare.add_argument("run_b", help="the candidate run")
    compare.add_argument("compare_options", nargs=argparse.REMAINDER, help="noise thresholds, --markdown FILE")
    compare.set_defaults(func=cmd_compare)
    init_cmd = sub.add_parser("init", help="write startle.yaml and a starter profile into this repository")
    init_cmd.add_argument("--image", help="draft the profile from this local image")
    init_cmd.add_argument("--profile-out", default="agent-profile.yaml", help="the profile's file name")
    init_cmd.set_defaults(func=cmd_init)
    prof = sub.add_parser("profile", help="draft a profile from an image, or check one against a real run")
    prof_sub = prof.add_subparsers(dest="profile_command", required=True)
    init = prof_sub.add_parser("init", help="draft a profile from what an image says (TODOs for the rest)")
    init.add_argument("--image", required=True, help="the agent's image (local)")
    init.add_argument("--out", help="write the draft here (never over an existing file); default: print it")
    check = prof_sub.add_parser("check", help="run the agent once with no fault; report what it showed of each "
                                "declared signal, health stage and center route")
    check.add_argument("profile", help="profile name or YAML path")
    check.add_argument("--deadline-s", type=float, default=30.0, help="seconds the run may take (default 30)")
    check.add_argument("--image", help="the agent's image to run instead of the profile's (a candidate build)")
    prof.set_defaults(func=cmd_profile)
    setup_cmd = sub.add_parser("setup", help="install and start what startle needs on this machine (Docker engine, "
                               "QEMU/binfmt, mmdebstrap, Toxiproxy), then build every image; idempotent")
    setup_cmd.add_argument("--installed", action="store_true", help=argparse.SUPPRESS)
    setup_cmd.set_defaults(func=cmd_setup)
    build = sub.add_parser("build", help="build (or reuse) startle's images locally; list, hash or prune them",
                           description="Build every image startle runs (content-hash tags: unchanged inputs "
                           "are not rebuilt; nothing is pulled), or only NAMEs and their parents. With "
                           "DOCKER_HOST naming another engine, then stream there the images `startle run` "
                           "needs for the profile (docs/remote-engine.md). Exit 3 when a build fails.")
    build.add_argument("names", nargs="*", metavar="NAME",
                       help="logical image names (agent-amd64, center, tp-mosquitto-amd64, mutant-...; "
                       "`startle build --hash` lists them); default: every image")
    build.add_argument("--mutants", action="store_true", help="also the mutant agents under tests/mutants/")
    build.add_argument("--json", action="store_true",
                       help="print a JSON object on stdout (the build's lines go to stderr); with --tags, the tags")
    build.add_argument("--profile", help="the profile whose images are streamed to another engine "
                       "(default: startle.yaml's, else reference)")
    mode = build.add_mutually_exclusive_group()
    mode.add_argument("--tags", action="store_true", help="build nothing: list startle's images present here")
    mode.add_argument("--hash", action="store_true",
                      help="build nothing: the hash tag the current inputs give each image (no Docker needed)")
    mode.add_argument("--prune", action="store_true",
                      help="build nothing: untag hash tags the current inputs no longer give")
    build.set_defaults(func=cmd_build)
    from harness.storm.cli import add_arguments as storm_arguments
    from harness.evidence.cli import add_capture_arguments, add_reproduce_arguments, cmd_capture, cmd_reproduce
    cap = sub.add_parser("capture", help="a node's evidence about one agent container (.tar.gz, secrets redacted)")
    add_capture_arguments(cap)
    cap.set_defaults(func=cmd_capture)
    repro = sub.add_parser("reproduce", help="turn a captured bundle into a scenario and run it: REPRODUCED or not")
    add_reproduce_arguments(repro)
    repro.set_defaults(func=cmd_reproduce)
    storm = sub.add_parser("storm", help="retry-storm benchmark: simulated agents (locust) against one center, "
                           "policies compared (docs/storm.md)")
    storm_arguments(storm)
    storm.set_defaults(func=cmd_storm)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"startle: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except StartleError as exc:
        print(f"startle: {exc}", file=sys.stderr)
        return EXIT_INFRA
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
