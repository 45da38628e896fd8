"""Benchmark: build every report of a synthetic 100-scenario run (prints figures; no Docker).

Generates realistic results (30–150 timeline events each: Docker events, the agent's JSON log,
the center's request log with failing registrations and jittered backoff, fault windows, a few
failures, skips and errors), writes them with ``harness.reports.write_run`` into a temporary
folder and prints the wall time, then the split per report (each stage timed once more on its own).

    .venv/bin/python benchmarks/report_build.py [--scenarios 100] [--seed 1] [--keep DIR]

:func:`synthetic_results` is reused by tests/unit/test_report_html.py and the Chromium test.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.lifecycle import ScenarioResult
from harness.profile import load_profile
from harness.signals import read_line

REFERENCE = load_profile("reference")

T0 = 1_795_850_000.0
"""Unix s of the first synthetic scenario's agent start."""
POLICY = {"base_ms": 100.0, "factor": 2.0, "cap_ms": 4000.0, "jitter": "full", "deadline_s": 40.0,
          "breaker_threshold": 10, "breaker_cooldown_s": 5.0}
FAMILIES = ["network", "center", "retry", "resources", "mounts", "env", "health", "capabilities"]
HOST = {"hostname": "bench", "machine": "x86_64", "kernel": "6.1.0-bench", "cpus": 2, "python": "3.11.7",
        "prerequisites": [{"name": "docker engine", "ok": True, "required": True, "fix": "",
                           "detail": "Docker 20.10.24+dfsg1, overlay2, cgroup v1, 2 CPUs"}]}


class Events:
    """A scenario's timeline under construction; ``at(offset_s, ...)`` is relative to the agent start."""

    def __init__(self, zero: float):
        self.zero, self.records = zero, []

    def at(self, offset_s: float, source: str, kind: str, container: str = "", **fields) -> None:
        """One event; the agent's are written as the reference agent logs them and read through its
        profile (as the log collector does); ``probe``/STAGE is startle's probe of that stage."""
        t = round(self.zero + offset_s, 6)
        if source == "agent":
            line = fields["line"] if kind == "line" else json.dumps({"ts": t, "event": kind, "node_id": "node-x",
                                                                     **fields})
            self.records += [e.to_dict() for e in read_line(line, REFERENCE.signals, t)]
            return
        if source == "probe":
            kind, fields = "stage", {"stage": kind, "ok": fields.get("status") == 200, "how": "GET :8081/ready"}
        self.records.append({"source": source, "kind": kind, "t": t, "container": container, "fields": fields})


def registration(ev: Events, rng: random.Random, start_s: float, failures: int, outage: tuple[float, float] | None,
                 give_up_s: float) -> tuple[float, bool, list[float], list[float]]:
    """Attempts from ``start_s`` (s): refused inside ``outage``, else ``failures`` answered 503, then 200;
    no attempt after ``give_up_s``. Returns (last attempt s, registered, backoff gaps s, their ceilings s)."""
    t, gaps, ceilings, attempt = start_s, [], [], 0
    while True:
        attempt += 1
        ev.at(t, "agent", "register_attempt", "agent", attempt=attempt)
        refused = outage is not None and outage[0] <= t < outage[1]
        ok = attempt > failures and not refused
        if not refused:
            ev.at(t + 0.003, "center", "request", "center", method="POST", path="/v1/register", node_id="node-x",
                  attempt=attempt, status=200 if ok else 503, latency_ms=0.2)
        ev.at(t + 0.005, "agent", "register_result", "agent", attempt=attempt, status=None if refused else
              (200 if ok else 503), error="connection refused" if refused else None, elapsed_ms=4.0)
        ceiling = min(POLICY["cap_ms"], POLICY["base_ms"] * POLICY["factor"] ** (attempt - 1)) / 1000
        sleep = round(rng.uniform(0, ceiling), 3)
        if ok or t + sleep > give_up_s:
            return t, ok, gaps, ceilings
        ev.at(t + 0.006, "agent", "backoff", "agent", attempt=attempt, sleep_s=sleep, reason="error")
        gaps.append(round(sleep + 0.01, 3))
        ceilings.append(ceiling)
        t += sleep + 0.01


def synthetic_result(index: int, rng: random.Random, status: str) -> ScenarioResult:
    """One scenario with status ``status`` (pass, fail, skip or error); its times follow ``index``.
    A failing one: the center is unreachable, then answers 503 until the agent gives up and exits."""
    family = FAMILIES[index % len(FAMILIES)]
    name = f"synthetic-{index:03d}-{family}"
    zero = T0 + index * 60.0
    result = ScenarioResult(name=name, family=family, status=status, started=zero - 2.0, profile="reference",
                            deadline_s=40.0, policy=dict(POLICY), images={"agent": "startle/agent:amd64"},
                            profile_spec=REFERENCE.model_dump(mode="json", by_alias=True))
    if status in ("skip", "error"):
        result.finished = zero - 1.5
        result.error = ("requires qemu-aarch64 (binfmt): not enabled on this host" if status == "skip"
                        else "docker: image startle/agent:arm64 not found (run make setup)")
        return result
    ev = Events(zero)
    for offset, container in ((-1.9, "center"), (-1.0, "toxiproxy")):
        ev.at(offset, "docker", "create", container, image=f"startle/{container}:latest")
        ev.at(offset + 0.2, "docker", "start", container, image=f"startle/{container}:latest")
    faults, outage = [], None
    if index % 3 == 0 or status == "fail":
        outage = (round(rng.uniform(-0.2, 0.05), 2), round(rng.uniform(4.0, 10.0), 2))
        faults.append({"type": "proxy_down", "family": "network",
                       "description": f"proxy_down(at_s=0.0, duration_s={outage[1] - outage[0]:.1f})"})
        ev.at(outage[0], "fault", "applied", fault="proxy_down", description=faults[-1]["description"])
        ev.at(outage[1], "fault", "cleared", fault="proxy_down", description=faults[-1]["description"])
    failures = 1000 if status == "fail" else rng.randint(0, 12) if index % 4 else 0
    if failures:
        faults.append({"type": "center_failure", "family": "center", "description":
                       f"center_failure(at_s=0.0, status=503, {'forever' if status == 'fail' else f'fail_next={failures}'})"})
        ev.at(-0.2, "fault", "applied", fault="center_failure", description=faults[-1]["description"])
    ev.at(-0.3, "docker", "create", "agent", image="startle/agent:amd64")
    ev.at(0.0, "docker", "start", "agent", image="startle/agent:amd64")
    ev.at(0.06, "agent", "agent_start", "agent", version="1.0.0", arch="amd64", pid=1)
    ev.at(0.07, "agent", "preflight_ok", "agent", checks=["env", "config-missing", "dns", "route"])
    ev.at(0.08, "agent", "stage", "agent", stage="startup", health_port=8081)
    ev.at(0.09, "center", "request", "center", method="GET", path="/v1/metadata", status=200)
    last, registered, gaps, ceilings = registration(ev, rng, 0.1, failures, outage, give_up_s=POLICY["deadline_s"] - 15)
    if registered:
        ev.at(last + 0.01, "agent", "registered", "agent", attempt=len(gaps) + 1)
        ev.at(last + 0.02, "agent", "stage", "agent", stage="ready")
        ev.at(last + 0.05, "probe", "ready", "agent", status=200)
        ev.at(last + 0.5, "agent", "stage", "agent", stage="live")
        ev.at(last + 2.0, "docker", "health_status: healthy", "agent")
        end = last + rng.uniform(4.0, 30.0)
        beat = last + 1.0
        while beat < end:
            ev.at(beat, "agent", "heartbeat", "agent", seq=int(beat))
            ev.at(beat + 0.002, "center", "request", "center", method="POST", path="/v1/heartbeat", status=200)
            beat += 1.0
    else:
        end = last + 0.2
        ev.at(last + 0.01, "agent", "register_gave_up", "agent", attempts=len(gaps) + 1, after_s=round(last, 3))
        ev.at(last + 0.02, "agent", "line", "agent", line=f"REGISTER GAVE UP after {len(gaps) + 1} attempts: 503")
        ev.at(last + 0.1, "docker", "die", "agent", exit_code=70)
    verdicts = []
    if registered:
        verdicts += [{"check": "registered", "status": "pass", "decided_at": ev.zero + last,
                      "message": f"registered {last:.2f} s after start (bound 40.0 s)",
                      "measured": {"registered_after_s": round(last, 3), "attempts": len(gaps) + 1},
                      "expected": {"within_s": 40.0}},
                     {"check": "ready", "status": "pass", "decided_at": ev.zero + last + 0.05,
                      "message": f"ready {last + 0.05:.2f} s after start",
                      "measured": {"ready_after_s": round(last + 0.05, 3)}, "expected": {"within_s": 45.0}}]
    if outage:
        verdicts.append({"check": "recovers", "status": "pass" if registered else "fail",
                         "decided_at": ev.zero + (last if registered else end - 0.1),
                         "message": (f"recovered {last - outage[1]:.2f} s after the fault cleared" if registered else
                                     f"no registration {end - outage[1]:.2f} s after the fault cleared: the agent "
                                     "exited with code 70"),
                         "measured": {"recovery_s": round(last - outage[1], 3) if registered else None,
                                      "exit_code": None if registered else 70},
                         "expected": {"within_s": 8.0}})
    if len(gaps) >= 2:
        verdicts.append({"check": "retry_schedule", "status": "pass", "decided_at": ev.zero + end,
                         "message": f"{len(gaps)} backoff gaps under their ceilings (+0.25 s)",
                         "measured": {"backoff_gaps_s": gaps, "ceilings_s": ceilings, "jitter": "full",
                                      "excluded": {"breaker": 0, "retry_after": 0}},
                         "expected": {"tolerance_s": 0.25}})
    result.verdicts = verdicts
    result.faults = faults
    result.timeline = sorted(ev.records, key=lambda r: r["t"])
    result.agent_started = zero
    result.finished = zero + end + 1.0
    result.agent = {"status": "running" if registered else "exited", "exit_code": 0 if registered else 70,
                    "oom_killed": False, "restart_count": 0, "health": "healthy" if registered else "unhealthy"}
    result.agent_log_tail = [json.dumps(r["fields"]) for r in result.timeline if r["source"] == "agent"][-20:]
    return result


def synthetic_results(n: int = 100, seed: int = 1) -> list[ScenarioResult]:
    """``n`` scenarios: about 8 % fail, 3 % skip, 2 % error, the rest pass (deterministic per seed)."""
    rng = random.Random(seed)
    statuses = ["fail" if i % 12 == 5 else "skip" if i % 33 == 7 else "error" if i % 50 == 9 else "pass"
                for i in range(n)]
    return [synthetic_result(i, rng, s) for i, s in enumerate(statuses)]


def timed(split: dict[str, float], name: str, fn, *args):
    """``fn(*args)``, its wall seconds recorded in ``split[name]``."""
    start = time.perf_counter()
    value = fn(*args)
    split[name] = time.perf_counter() - start
    return value


def main() -> int:
    from harness.reports import write_run
    from harness.runtime import Run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="write the run under this folder and keep it")
    args = parser.parse_args()

    results = synthetic_results(args.scenarios, args.seed)
    root = args.keep or Path(tempfile.mkdtemp(prefix="startle-bench-"))
    run = Run(reports_root=root, run_id="bench", started=T0 - 5.0)
    try:
        start = time.perf_counter()
        folder = write_run(run, results, HOST, finished=T0 + len(results) * 60.0)
        total = time.perf_counter() - start  # matplotlib's import included, as in a real run
        from harness.reports.html import render_html
        from harness.reports.journal import load_run
        from harness.reports.junit import junit_document
        from harness.reports.score import load_weights, resilience_score
        from harness.reports.summary import summary_markdown
        from harness.reports.tables import scenario_figures, write_event_tables

        split: dict[str, float] = {}
        data = timed(split, "load", load_run, folder)
        figures = timed(split, "figures", scenario_figures, data)
        score = resilience_score(figures, load_weights())
        timed(split, "junit", junit_document, data)
        timed(split, "tables", write_event_tables, data, folder)
        page = timed(split, "html", render_html, data, figures, score)
        timed(split, "summary", summary_markdown, data, figures, score)
        events = sum(len(r.timeline) for r in results)
        print(f"reports for {len(results)} scenarios ({events} events): {total:.2f} s "
              f"(stages timed again on their own: " + ", ".join(f"{k} {v:.2f}" for k, v in split.items()) + " s)")
        print(f"report.html {len(page) / 1e6:.2f} MB, {page.count('<svg')} plots" + (f"; in {folder}" if args.keep else ""))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
