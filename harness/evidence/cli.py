"""``startle capture`` and ``startle reproduce`` (docs/capture.md): their options and what they do."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from harness.errors import InputError

EXIT_OK, EXIT_FAILED = 0, 1
MIN_BOUND_S = 5.0
"""--minimise: the least time (s) a candidate gets to fail, however fast the whole scenario failed."""


def add_capture_arguments(cap: argparse.ArgumentParser) -> None:
    cap.add_argument("container", nargs="?", help="the agent's container (name or id)")
    cap.add_argument("--script", action="store_true", help="print the POSIX capture script and exit")
    cap.add_argument("-o", "--out", type=Path, help="the bundle to write (default ./startle-evidence-NAME-TIME.tar.gz)")
    cap.add_argument("--since", default="30m", help="how far back Docker's events go (default 30m)")
    cap.add_argument("--redact", action="append", default=[], metavar="NAME",
                     help="also redact env values whose name holds NAME (repeatable)")
    cap.add_argument("--state", type=Path, help="the launcher's state file (last known good), if any")
    cap.add_argument("--no-files", action="store_true",
                     help="leave out the bind-mounted files' contents (the agent's config; kept redacted by default)")


def add_reproduce_arguments(repro: argparse.ArgumentParser) -> None:
    repro.add_argument("bundle", type=Path, help="a .tar.gz from startle capture, or a `docker inspect` JSON file")
    repro.add_argument("--logs", type=Path, help="with an inspect JSON: the agent's `docker logs --timestamps`")
    repro.add_argument("--profile", default="reference", help="the agent's profile (name or file)")
    repro.add_argument("--image", help="run this agent image (the node's build, say) instead of the profile's")
    repro.add_argument("--out", type=Path, default=Path("scenarios") / "field", help="where the scenario is written")
    repro.add_argument("--no-run", action="store_true", help="write the scenario, do not run it")
    repro.add_argument("--fixed", action="store_true",
                       help="write a regression test: expect the fixed behaviour (ready, registered), field "
                            "signature kept for reference; not run")
    repro.add_argument("--minimise", action="store_true",
                       help="delta-debug the inferred faults down to the causes (writes NAME-minimal.yaml)")
    repro.add_argument("-k", type=int, default=2, help="--minimise: runs per candidate (mixed outcomes: unresolved)")
    repro.add_argument("-j", "--jobs", type=int, default=3, help="--minimise: runs at once")
    repro.add_argument("--no-bisect", action="store_true", help="--minimise: keep the node's numeric limits as they are")


def cmd_capture(args: argparse.Namespace) -> int:
    from harness import evidence
    if args.script:
        sys.stdout.write(evidence.script_text())
        return EXIT_OK
    if not args.container:
        raise InputError("startle capture", "CONTAINER", "no container named",
                         "name the agent's container (or --script to print the script)")
    path = evidence.capture(args.container, args.out, args.since, tuple(args.redact), args.state, not args.no_files)
    print(f"capture: {path}")
    return EXIT_OK


def write_scenario(scenario: dict[str, Any], path: Path, source: str) -> Path:
    """The scenario as YAML, with a header saying where it came from."""
    import yaml
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Reproduced from {source} by startle reproduce; the field's evidence is under `field:`.\n"
    path.write_text(header + yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True))
    return path


def cmd_reproduce(args: argparse.Namespace) -> int:
    from harness import evidence
    from harness.evidence import reproduce as rep
    from harness.evidence import signature as sig
    from harness.profile import load_profile
    if args.k < 1 or args.jobs < 1:
        raise InputError("startle reproduce", "-k / --jobs", "must be at least 1", "pass -k 2 -j 3, say")
    if evidence.is_bundle(args.bundle):
        files = evidence.read_bundle(args.bundle)
    else:
        files = evidence.read_inspect(args.bundle, args.logs)
    profile = load_profile(args.profile)
    from harness.runtime import docker_client
    field_sig, found = rep.read_evidence(files, profile, args.bundle, engine=docker_client().info())
    if not field_sig.failed:
        raise InputError(args.bundle, "container.json: State", "the bundle shows no failure (exit 0, no OOM kill)",
                         "capture the container while (or after) it fails")
    container = json.loads(files["manifest.json"]).get("container", "agent")
    name = "field-" + (re.sub(r"[^a-z0-9-]+", "-", str(container).lower()).strip("-") or "agent")[:40]
    name += "-fixed" if args.fixed else ""
    scenario = rep.scenario_for(name, found, field_sig, profile, bundle=args.bundle.name, fixed=args.fixed)
    path = write_scenario(scenario, args.out / f"{name}.yaml", args.bundle.name)
    print(f"reproduce: {path}: " + ("; ".join(found.reasons) or "no fault inferred"))
    for why in found.cannot:
        print(f"reproduce: cannot reproduce {why}")
    ran = rep.node_image(files, args.bundle)
    if not args.image and ran and ran not in profile.images.values():
        print(f"reproduce: the node ran {ran}; this runs profile {profile.name}'s image "
              f"(--image {ran} runs the node's build, when this engine has it)")
    if args.no_run or args.fixed:
        return EXIT_OK
    from harness.runtime import Run, reap
    run = Run()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if args.minimise:
            return _minimise(args, scenario, field_sig, profile, run)
        here, result = rep.run_here(scenario, profile, run, args.image)
    except KeyboardInterrupt:
        run.cancel()
        reap(docker_client(), {"startle.run": run.run_id})
        raise
    verdict, differ = sig.judge(field_sig, here)
    print(sig.side_by_side(field_sig, here))
    print(f"reproduce: {verdict}" + (f" ({'; '.join(differ)})" if differ else "")
          + (f"; the scenario ended {result.status}: {result.error}" if result.status in ("error", "skip") else ""))
    return EXIT_OK if verdict == sig.REPRODUCED else EXIT_FAILED


def _minimise(args: argparse.Namespace, scenario: dict[str, Any], field_sig, profile, run) -> int:
    """ddmin over the scenario's faults; writes NAME-minimal.yaml and prints what was irrelevant."""
    from harness.evidence import reproduce as rep
    from harness.evidence import signature as sig
    from harness.evidence.minimise import Minimiser, minimise

    told: dict[str, str] = {}  # run label → why it did not reproduce
    failed_after: list[float] = []  # seconds from start to the failure, in runs that reproduced it

    def run_once(faults: list[dict[str, Any]], label: str) -> bool | None:
        trial = {**scenario, "name": f"{scenario['name'][:44]}-{label}", "faults": faults}
        if failed_after:  # the whole scenario failed within these: a candidate gets 3 × as long, then is judged
            trial = rep.bounded(trial, max(MIN_BOUND_S, 3 * max(failed_after)))
        here, result = rep.run_here(trial, profile, run, args.image)
        if result.status in ("error", "skip"):
            told[label] = f"{result.status}: {result.error}"
            return None
        verdict, differ = sig.judge(field_sig, here)
        told[label] = f"{verdict} ({'; '.join(differ)})"
        if verdict == sig.REPRODUCED and here.lived_s is not None:
            failed_after.append(here.lived_s)
        return verdict == sig.REPRODUCED

    base = json.dumps({k: v for k, v in scenario.items() if k not in ("faults", "field")}, sort_keys=True)
    digest = hashlib.sha256((base + json.dumps(scenario["field"]["signature"], sort_keys=True)).encode()).hexdigest()
    minimiser = Minimiser(run_once, k=args.k, jobs=args.jobs,
                          cache_path=args.out / f".{scenario['name']}.minimise-{digest[:12]}.json")
    lenient = {"memory_limit": profile.run.memory_mb, "cpu_limit": profile.run.cpus,
               "pids_limit": profile.run.pids_limit}
    started = time.monotonic()
    found = minimise(scenario["faults"], minimiser, lenient.get, bisect=not args.no_bisect)
    took = time.monotonic() - started
    if not found.reproduces:
        print(f"reproduce: the whole scenario did not reproduce the failure in all {args.k} runs: nothing to "
              f"minimise ({minimiser.runs} runs, {took:.0f} s): " + "; ".join(f"{k}: {v}" for k, v in told.items()))
        return EXIT_FAILED
    minimal = {**scenario, "name": f"{scenario['name'][:50]}-minimal", "faults": found.faults,
               "field": {**scenario["field"], "minimised": {
                   "irrelevant": found.irrelevant, "thresholds": found.thresholds, "runs": found.runs,
                   "k": args.k, "wall_s": round(took, 1)}}}
    path = write_scenario(minimal, args.out / f"{minimal['name']}.yaml", args.bundle.name)
    print(f"reproduce: minimal: {', '.join(map(_describe, found.faults)) or 'no fault: the agent fails as it is'}")
    print(f"reproduce: irrelevant: {', '.join(map(_describe, found.irrelevant)) or 'none'}")
    for limit in found.thresholds:
        passing = limit["smallest_passing"]
        print(f"reproduce: {limit['fault']}.{limit['field']}: fails up to {limit['largest_failing']}"
              + (f", not at {passing}" if passing is not None else " (and beyond: its value hardly matters)")
              + f" (node: {limit['node']})")
    print(f"reproduce: MINIMISED in {found.runs} runs (k={args.k}, -j {args.jobs}), {took:.0f} s: {path}")
    return EXIT_OK


def _describe(fault: dict[str, Any]) -> str:
    """``memory_limit(memory_mb=48)``, ``config_override(init_buffer_mb=96)``, ``env(SITE=plant-4)``:
    the fault as inferred, a dict-valued parameter spelled out."""
    parts = [f"{k}={v}" for key, value in fault.items() if key != "type"
             for k, v in (value.items() if isinstance(value, dict) else [(key, value)])]
    return f"{fault.get('type', '?')}({', '.join(parts)})"
