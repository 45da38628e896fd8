"""The reference agent's retry policy (fixtures/agent/retry.py): backoff bounds, jitter modes,
circuit breaker transitions on a fake clock. No Docker; the module is imported by path."""

from __future__ import annotations

import importlib.util
import random
import statistics
import sys
from pathlib import Path

import pytest

RETRY_PY = Path(__file__).resolve().parents[2] / "fixtures" / "agent" / "retry.py"


def _load():
    spec = importlib.util.spec_from_file_location("startle_agent_retry", RETRY_PY)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


retry = _load()


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


# ------------------------------------------------------------------------- RetryPolicy
def test_defaults_match_contract():
    p = retry.RetryPolicy()
    assert (p.base_s, p.factor, p.cap_s, p.deadline_s, p.jitter) == (0.2, 2.0, 4.0, 120.0, "full")


def test_from_config_converts_milliseconds():
    p = retry.RetryPolicy.from_config({"base_ms": 100, "cap_ms": 2500, "factor": 3, "deadline_s": 9,
                                       "jitter": "equal"})
    assert p == retry.RetryPolicy(base_s=0.1, factor=3.0, cap_s=2.5, deadline_s=9.0, jitter="equal")
    assert retry.RetryPolicy.from_config({}) == retry.RetryPolicy()
    assert retry.RetryPolicy.from_config(None) == retry.RetryPolicy()


def test_ceiling_grows_then_caps_and_never_overflows():
    p = retry.RetryPolicy(base_s=0.2, factor=2.0, cap_s=4.0)
    assert [p.ceiling(n) for n in range(1, 8)] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 4.0, 4.0])
    assert p.ceiling(10_000) == 4.0
    assert retry.RetryPolicy(base_s=1, factor=1, cap_s=5).ceiling(50) == 1


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 20, 500])
def test_full_jitter_stays_within_zero_and_ceiling(attempt):
    p = retry.RetryPolicy(base_s=0.2, factor=2.0, cap_s=4.0)
    rng = random.Random(attempt)
    ceiling = min(4.0, 0.2 * 2.0 ** min(attempt - 1, 60))
    draws = [p.delay(attempt, rng) for _ in range(2000)]
    assert all(0.0 <= d <= ceiling for d in draws)
    # uniform(0, c): mean c/2, and the draws really spread over the interval
    assert statistics.fmean(draws) == pytest.approx(ceiling / 2, rel=0.08)
    assert min(draws) < 0.1 * ceiling and max(draws) > 0.9 * ceiling


def test_no_jitter_is_the_ceiling():
    p = retry.RetryPolicy(jitter="none")
    assert [p.delay(n) for n in (1, 2, 3, 9)] == pytest.approx([0.2, 0.4, 0.8, 4.0])


def test_equal_jitter_is_in_upper_half():
    p = retry.RetryPolicy(jitter="equal")
    rng = random.Random(7)
    for n in range(1, 12):
        c = p.ceiling(n)
        for _ in range(200):
            assert c / 2 <= p.delay(n, rng) <= c


def test_decorrelated_jitter_bounds():
    p = retry.RetryPolicy(base_s=0.2, cap_s=4.0, jitter="decorrelated")
    rng = random.Random(3)
    prev = None
    for n in range(1, 200):
        d = p.delay(n, rng, prev)
        lo = 0.2
        hi = min(4.0, 3 * (prev if prev is not None else 0.2))
        assert lo <= d <= max(lo, hi) + 1e-12
        assert d <= 4.0
        prev = d


def test_seeded_rng_gives_reproducible_schedule():
    p = retry.RetryPolicy()
    assert p.schedule(10, random.Random(42)) == p.schedule(10, random.Random(42))
    assert len(p.schedule(10, random.Random(1))) == 10


@pytest.mark.parametrize("kwargs", [
    {"base_s": 0}, {"factor": 0.5}, {"cap_s": 0.1}, {"deadline_s": 0}, {"jitter": "wobbly"},
])
def test_invalid_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        retry.RetryPolicy(**kwargs)


def test_attempt_is_one_based():
    with pytest.raises(ValueError):
        retry.RetryPolicy().delay(0)


def test_deadline_on_fake_clock():
    clock = FakeClock()
    d = retry.Deadline(10, clock=clock)
    assert d.remaining() == 10 and not d.expired()
    clock.advance(9.5)
    assert d.remaining() == pytest.approx(0.5)
    clock.advance(0.5)
    assert d.expired() and d.remaining() == 0


# ------------------------------------------------------------------------- CircuitBreaker
def test_breaker_opens_after_threshold_consecutive_failures():
    clock = FakeClock()
    changes = []
    b = retry.CircuitBreaker(threshold=3, cooldown_s=15, clock=clock, on_change=lambda o, n: changes.append(n))
    for _ in range(2):
        assert b.allow()
        b.record_failure()
    assert b.state == "closed" and b.failures == 2
    assert b.allow()
    b.record_failure()
    assert b.state == "open" and changes == ["open"]
    assert not b.allow()
    assert b.retry_in() == pytest.approx(15)


def test_success_resets_the_count():
    b = retry.CircuitBreaker(threshold=3, cooldown_s=1, clock=FakeClock())
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state == "closed"


def test_half_open_allows_exactly_one_trial_then_closes_on_success():
    clock = FakeClock()
    changes = []
    b = retry.CircuitBreaker(threshold=1, cooldown_s=15, clock=clock, on_change=lambda o, n: changes.append((o, n)))
    b.record_failure()
    clock.advance(14.9)
    assert b.state == "open" and not b.allow()
    assert b.retry_in() == pytest.approx(0.1)
    clock.advance(0.1)
    assert b.state == "half_open"
    assert b.allow()          # the one trial
    assert not b.allow()      # no second call while it is in flight
    b.record_success()
    assert b.state == "closed" and b.allow()
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_half_open_failure_reopens_for_a_full_cooldown():
    clock = FakeClock()
    b = retry.CircuitBreaker(threshold=2, cooldown_s=5, clock=clock)
    b.record_failure()
    b.record_failure()
    clock.advance(5)
    assert b.allow() and b.state == "half_open"
    b.record_failure()
    assert b.state == "open" and not b.allow()
    assert b.retry_in() == pytest.approx(5)
    clock.advance(5)
    assert b.allow()


def test_breaker_from_config_and_validation():
    b = retry.CircuitBreaker.from_config({"threshold": 4, "cooldown_s": 2.5}, clock=FakeClock())
    assert (b.threshold, b.cooldown_s) == (4, 2.5)
    with pytest.raises(ValueError):
        retry.CircuitBreaker(threshold=0)
    with pytest.raises(ValueError):
        retry.CircuitBreaker(cooldown_s=-1)


def test_module_has_no_side_effects_and_a_documented_api():
    assert set(retry.__all__) >= {"RetryPolicy", "CircuitBreaker", "Deadline", "JITTER_MODES"}
    assert "seconds" in retry.RetryPolicy.delay.__doc__
    assert retry.JITTER_MODES == ("full", "none", "equal", "decorrelated")
