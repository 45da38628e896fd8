"""Checks decided on synthetic timelines: each verdict passes good behaviour and fails bad behaviour."""

import functools
import random

import pytest

from harness.skip import EndedTooSoon

from harness.checks.readiness import Ready, Registered, StageOrder
from harness.checks.recovery import Recovers
from harness.checks.retry_gaps import GapsGrow
from timelines import NODE, T0, context


def register(t, status=200, attempt=1):
    return ("center", "request", t, "center", {"path": "/v1/register", "status": status, "node_id": NODE,
                                                "attempt": attempt})


def stage(t, name):
    """The agent's claim of a stage (its log line)."""
    return ("agent", "stage", t, "agent", {"stage": name})


def probed(t, name, ok=True):
    """startle's probe of a stage found it ``ok``."""
    return ("probe", name, t, "agent", {"ok": ok, "detail": "HTTP 200" if ok else "HTTP 503"})


def image(healthcheck):
    return ("harness", "agent_image", 0.0, "agent", {"healthcheck": healthcheck, "arch": "amd64"})


def fault(t0, t1):
    return [("fault", "applied", t0, "", {"fault": "proxy_down"}),
            ("fault", "cleared", t1, "", {"fault": "proxy_down"})]


def attempts(times):
    return [("agent", "register_attempt", t, "agent", {"attempt": i + 1}) for i, t in enumerate(times)]


def test_registered_passes_in_time_and_fails_late_or_never():
    assert Registered(within_s=5).evaluate(context([register(1.2)]), final=False).passed
    late = Registered(within_s=5).evaluate(context([register(7.0)], now_s=7.5), final=False)
    assert late.status == "fail" and "7.00 s" in late.message
    assert Registered(within_s=5).evaluate(context([register(1, status=503)]), final=False) is None
    never = Registered(within_s=5).evaluate(context([register(1, status=503)]), final=True)
    assert never.status == "fail" and "1 attempts seen in the center's request log" in never.message


def test_ready_needs_the_harness_probe_not_the_agents_word():
    assert Ready(within_s=5).evaluate(context([stage(1.9, "ready"), probed(2.0, "ready")]), final=False).passed
    lying = Ready(within_s=5).evaluate(context([stage(1.9, "ready"), probed(2.0, "ready", ok=False)]), final=True)
    assert lying.status == "fail" and "last said HTTP 503" in lying.message and "claimed readiness" in lying.message
    claim_only = Ready(within_s=5).evaluate(context([stage(1.9, "ready")]), final=True)
    assert claim_only.status == "fail" and "never got an answer" in claim_only.message
    silent = Ready(within_s=5).evaluate(context([]), final=True)
    assert silent.status == "fail" and "claimed" not in silent.message


def test_stage_order():
    healthy = ("docker", "health_status: healthy", 4.0, "agent", {})
    good = [probed(0.5, "startup"), probed(1.0, "ready"), probed(3.0, "live"), healthy]
    assert StageOrder(within_s=10).evaluate(context(good), final=False).passed
    claimed = [stage(0.5, "startup"), stage(1.0, "ready"), stage(3.0, "live"), healthy]
    assert StageOrder(within_s=10).evaluate(context(claimed), final=True).status == "fail"
    swapped = [probed(0.5, "startup"), probed(3.0, "ready"), probed(1.0, "live"), healthy]
    verdict = StageOrder(within_s=10).evaluate(context(swapped), final=False)
    assert verdict.status == "fail" and "out of order" in verdict.message
    missing = StageOrder(within_s=10).evaluate(context(good[:2]), final=True)
    assert missing.status == "fail" and "live" in missing.message
    no_docker_health = StageOrder(within_s=10).evaluate(context(good[:3] + [image(True)]), final=True)
    assert no_docker_health.status == "fail" and "HEALTHCHECK never" in no_docker_health.message
    assert StageOrder(within_s=10).evaluate(context(good[:3] + [image(False)]), final=False).passed
    early_healthy = [probed(0.5, "startup"), probed(5.0, "ready"), probed(6.0, "live"),
                     ("docker", "health_status: healthy", 4.0, "agent", {})]
    assert StageOrder(within_s=10).evaluate(context(early_healthy), final=False).status == "fail"
    # Docker's HEALTHCHECK samples on its own clock: healthy a few ms before startle's round that
    # first saw ready (no round after it said no) is not a disorder
    sampled = [probed(0.5, "startup"), probed(5.0, "ready"), probed(6.0, "live"),
               ("docker", "health_status: healthy", 4.97, "agent", {})]
    assert StageOrder(within_s=10).evaluate(context(sampled), final=False).passed


def test_recovers():
    ok = fault(0, 10) + [register(2, status=None), register(12.5)]
    verdict = Recovers(within_s=8).evaluate(context(ok), final=False)
    assert verdict.passed and verdict.measured["recovery_s"] == pytest.approx(2.5)
    slow = Recovers(within_s=8).evaluate(context(fault(0, 10) + [register(19.0)]), final=False)
    assert slow.status == "fail" and "beyond" in slow.message
    during = Recovers(within_s=8).evaluate(context(fault(0, 10) + [register(5.0)]), final=False)
    assert during.status == "fail" and "did not cut" in during.message
    assert Recovers(within_s=8).evaluate(context(fault(0, 10), now_s=12), final=False) is None
    assert Recovers(within_s=8).evaluate(context(fault(0, 10), now_s=18.5), final=False).status == "fail"
    assert Recovers(within_s=8).evaluate(context(fault(0, 10), now_s=18.5), final=True).status == "fail"
    # the run ended before the bound: the whole scenario is skipped (a check's own skip would let an
    # agent that never recovers pass on the scenario's other checks)
    with pytest.raises(EndedTooSoon, match="before the 8 s"):
        Recovers(within_s=8).evaluate(context(fault(0, 10), now_s=12), final=True)


def test_recovers_counts_from_when_the_lift_was_asked():
    """A registration while the harness's call to lift the fault had not yet returned (the proxy may
    already be back) is a recovery, not a registration during the fault (measured under load: 0.48 s)."""
    slow_lift = [("fault", "applied", 0, "", {"fault": "proxy_down"}),
                 ("fault", "cleared", 10.6, "", {"fault": "proxy_down", "requested": T0 + 10.0}),
                 register(10.48)]
    verdict = Recovers(within_s=8).evaluate(context(slow_lift, now_s=11), final=False)
    assert verdict.passed and verdict.measured["recovery_s"] == pytest.approx(0.48)
    early = [*slow_lift[:2], register(9.9)]  # before the lift was asked: the fault did not cut it off
    assert "did not cut" in Recovers(within_s=8).evaluate(context(early, now_s=11), final=False).message


def full_jitter_times(rng, outage_s=10, base=0.1, cap=4.0, threshold=10, cooldown=5.0):
    """Attempt times of the reference policy during an outage (a simulation of the agent).

    After ``threshold`` consecutive failures the breaker opens for ``cooldown`` s; a failed
    half-open trial opens it again.
    """
    t, n, failures, times, half_open = 0.0, 1, 0, [0.0], False
    while True:
        failures += 1
        if half_open or failures >= threshold:
            delay, failures, half_open = cooldown, 0, True
        else:
            delay = rng.uniform(0, min(cap, base * 2 ** (n - 1)))
        t += delay
        n += 1
        if t > outage_s:
            return times
        times.append(t)


def test_gaps_grow_passes_full_jitter_in_500_of_500_synthetic_runs():
    rng = random.Random(7)
    for _ in range(500):
        ctx = context(fault(0, 10) + attempts(full_jitter_times(rng)))
        verdict = GapsGrow().evaluate(ctx, final=False)
        assert verdict.passed, verdict.message


@pytest.mark.parametrize("interval_s", [0.25, 1.0, 2.0])
def test_gaps_grow_rejects_a_fixed_interval(interval_s):
    times = [i * interval_s for i in range(int(10 / interval_s))]
    verdict = GapsGrow().evaluate(context(fault(0, 10) + attempts(times)), final=False)
    assert verdict.status == "fail"
    assert "do not grow" in verdict.message or "only" in verdict.message


def test_gaps_grow_is_not_fooled_by_a_breaker_pause():
    # fixed 0.5 s interval; the breaker (threshold 10, cooldown 5 s) opens once inside the window
    times = [i * 0.5 for i in range(10)] + [4.5 + 5.0]
    verdict = GapsGrow().evaluate(context(fault(0, 10) + attempts(times)), final=False)
    assert verdict.status == "fail", verdict.message
    assert verdict.measured["breaker_pauses_s"] == [5.0]


def test_gaps_grow_waits_for_the_window_to_close():
    ctx = context([("fault", "applied", 0, "", {"fault": "proxy_down"})] + attempts([0, 0.1, 0.3]))
    assert GapsGrow().evaluate(ctx, final=False) is None
    assert GapsGrow().evaluate(ctx, final=True).status == "fail"


def test_a_long_fault_does_not_dilute_the_growth_of_a_capped_policy():
    """tp-prometheus (exponential 0.1 s ×2, cap 2 s, no jitter) through 40 s: 22 gaps, 17 at the cap.
    All halves: ×1.46 (a false failure); the first 12 (twice its way to the cap): ×2.8."""
    from harness.profile import load_profile
    prometheus = load_profile("tp-prometheus")
    gaps = [0.1, 0.2, 0.4, 0.8, 1.6] + [2.0] * 17
    times = [0.5 + sum(gaps[:i]) for i in range(len(gaps) + 1)]
    events = fault(0, 40) + [("center", "request", t, "center", {"path": "/api/v1/write", "status": None,
                                                                   "route": "remote_write"}) for t in times]
    verdict = GapsGrow(source="center").evaluate(context(events, now_s=41, profile=prometheus), final=False)
    assert verdict.passed and verdict.measured["judged_gaps"] == 12, verdict.message
    fixed = [0.5 + 0.5 * i for i in range(60)]  # its mutant: min_backoff = max_backoff = 500 ms
    events = fault(0, 40) + [("center", "request", t, "center", {"path": "/api/v1/write", "status": None,
                                                                   "route": "remote_write"}) for t in fixed]
    assert GapsGrow(source="center").evaluate(context(events, now_s=41, profile=prometheus), final=False).status == "fail"
    constant = prometheus.model_copy(update={"retry_policy": prometheus.retry_policy.model_copy(
        update={"family": "constant"})})
    skipped = GapsGrow(source="center").evaluate(context(events, now_s=41, profile=constant), final=False)
    assert skipped.status == "skip" and "reaches its cap too soon" in skipped.message, skipped.message


@functools.cache
def mosquitto():
    """The tp-mosquitto profile: decorrelated jitter in [1 s, 11 s], its attempts in its log."""
    from harness.profile import load_profile
    return load_profile("tp-mosquitto")


def text_attempts(times):
    return [("agent", "line", t, "agent", {"line": "Connecting bridge (step 1) center (toxiproxy:18080)"})
            for t in times]


def judged(times, end=60):
    ctx = context(fault(0, end) + text_attempts(times), now_s=end + 1, profile=mosquitto())
    return GapsGrow().evaluate(ctx, final=False)


def test_decorrelated_jitter_backs_off_within_its_bounds_and_a_fixed_interval_does_not():
    real = [0.2, 3.2, 8.2, 16.2, 27.1, 35.1, 46.1, 51.1]  # gaps 3 5 8 10.9 8 11 5
    verdict = judged(real)
    assert verdict.passed and verdict.measured["source"] == "agent", verdict.message
    too_fast = judged([0.2 + 0.7 * i for i in range(12)])  # below the 1 s base - 0.25
    assert too_fast.status == "fail" and "outside the declared" in too_fast.message
    constant = judged([0.6] + [1.9 + 2.0 * i for i in range(19)], end=40)  # restart_timeout 1 1: 1.3 s, then 2 s
    assert constant.status == "fail" and "18 gaps after the first of about 2.00 s" in constant.message, constant.message
    # the same mutant in a 10-s outage: 4 equal gaps after the first cannot be told from real
    # mosquitto drawing its base four times (p = 1/16): not judged, not passed
    short = judged([0.6, 1.9, 3.9, 5.9, 7.9, 9.9], end=10)
    assert short.status == "skip" and "too few to tell a fixed interval" in short.message, short.message


def mosquitto_bridge_gaps(rng: random.Random, window_s: float, base: int = 1, cap: int = 10) -> list[float]:
    """Gaps (s) of mosquitto 2.0.11's bridge reconnecting during a ``window_s`` outage from its start
    (src/bridge.c: restart_timeout = rand_between(base, 3 × restart_timeout) capped at cap, an integer;
    reconnect once the whole-second clock passes the last attempt's second + restart_timeout);
    ``base == cap`` is the constant mutant (tests/mutants/tp-mosquitto-constant)."""
    t, timeout, times = rng.uniform(0.3, 1.0), base, []
    times.append(t)
    while True:
        timeout = min(cap, base + rng.randrange(3 * timeout - base)) if 3 * timeout > base else base
        t = int(t) + timeout + 1 + rng.uniform(0.0, 0.01)
        if t > window_s:
            return [b - a for a, b in zip(times, times[1:])]
        times.append(t)


def test_decorrelated_judgement_is_calibrated_on_mosquittos_own_reconnect_code():
    """Simulated on the bridge's code: a 40-s outage (center-outage-long) never falsely fails real
    mosquitto in 20,000 runs and flags the constant mutant in every one; a 10-s outage never fails
    either (the mutant is not judged there)."""
    from harness.checks.retry_gaps import judge_decorrelated

    def outcomes(window_s, **bridge):
        rng, seen = random.Random(7), {"pass": 0, "fail": 0, "skip": 0}
        for _ in range(20_000):
            gaps = mosquitto_bridge_gaps(rng, window_s, **bridge)
            if len(gaps) >= 4:
                seen[judge_decorrelated(gaps, 1.0, 11.0, 0.25, 1.5, 12, {})[0]] += 1
        return seen

    assert outcomes(40)["fail"] == 0
    assert outcomes(40, cap=1) == {"pass": 0, "fail": 20_000, "skip": 0}
    assert outcomes(10)["fail"] == 0 and outcomes(10, cap=1)["pass"] == 0


def test_a_fault_too_short_for_the_declared_policy_is_not_judged():
    short = context(fault(0, 10) + text_attempts([0.2, 3.2, 8.2]), now_s=11, profile=mosquitto())
    skipped = GapsGrow().evaluate(short, final=False)
    assert skipped.status == "skip" and "fewer than the 4 needed" in skipped.message
    assert skipped.measured["source"] == "agent" and skipped.measured["attempts"] == 3  # what was seen, and where
    # the reference policy fits ~9 gaps in 10 s: too few gaps there is a failure, not a skip
    assert GapsGrow().evaluate(context(fault(0, 10) + attempts([0.1, 5.0]), now_s=11), final=False).status == "fail"
