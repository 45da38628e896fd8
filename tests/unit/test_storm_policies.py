"""The storm's policies come from the agent's own retry module: the same delays as its RetryPolicy."""

from __future__ import annotations

import random
import textwrap

import pytest

from harness.profile import load_profile
from harness.storm.policies import (POLICY_NAMES, Backoff, PolicySpec, load_retry_module, make_policies,
                                    resolve_module)


@pytest.fixture(scope="module")
def reference():
    return load_profile("reference")


def policies(reference, names=POLICY_NAMES, **kw):
    args = dict(base_ms=100, cap_ms=4000, factor=2.0, deadline_s=120, profile=reference)
    args.update(kw)
    return {p.name: p for p in make_policies(list(names), **args)}


def test_the_reference_module_is_loaded_by_path_once():
    module = load_retry_module("fixtures/agent/retry.py")
    assert module is load_retry_module("fixtures/agent/retry.py")
    assert module.__file__ == str(resolve_module("fixtures/agent/retry.py").resolve())
    assert {"RetryPolicy", "CircuitBreaker", "Deadline"} <= set(dir(module))


def test_bad_modules_are_refused(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_retry_module(tmp_path / "nope.py")
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    with pytest.raises(ValueError, match="no RetryPolicy"):
        load_retry_module(empty)


@pytest.mark.parametrize("name,jitter", [("exponential", "none"), ("full-jitter", "full"),
                                         ("equal-jitter", "equal"), ("decorrelated-jitter", "decorrelated")])
def test_delays_are_the_retry_policy_s_own(reference, name, jitter):
    spec = policies(reference, [name], base_ms=50, cap_ms=2000, factor=3.0)[name]
    assert spec.jitter == jitter and spec.retry_after == "max" and spec.breaker_threshold is None
    module = load_retry_module("fixtures/agent/retry.py")
    expected_policy = module.RetryPolicy(base_s=0.05, factor=3.0, cap_s=2.0, deadline_s=120, jitter=jitter)
    backoff = Backoff(spec)
    assert backoff.policy == expected_policy
    mine, theirs = random.Random(7), random.Random(7)
    prev_a = prev_b = None
    for attempt in range(1, 12):
        prev_a = backoff.delay(attempt, mine, prev_a)
        prev_b = expected_policy.delay(attempt, theirs, prev_b)
        assert prev_a == prev_b
    assert backoff.breaker() is None


def test_exponential_is_the_capped_ceiling(reference):
    backoff = Backoff(policies(reference, ["exponential"])["exponential"])
    assert [backoff.delay(n, random.Random()) for n in range(1, 8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 4.0]


def test_none_never_waits(reference):
    spec = policies(reference, ["none"])["none"]
    assert spec.jitter is None
    backoff = Backoff(spec)
    assert backoff.policy is None
    assert {backoff.delay(n, random.Random()) for n in range(1, 20)} == {0.0}
    assert "no backoff" in spec.describe()


def test_profile_is_the_declared_policy_with_breaker_and_the_agent_s_retry_after_rule(reference):
    spec = policies(reference, ["profile"], base_ms=999, cap_ms=9999)["profile"]
    rp = reference.retry_policy
    assert (spec.base_ms, spec.cap_ms, spec.factor, spec.jitter) == (rp.base_ms, rp.cap_ms, rp.factor, rp.jitter)
    assert (spec.breaker_threshold, spec.breaker_cooldown_s) == (10, 5)
    assert spec.retry_after == "agent"
    breaker = Backoff(spec).breaker()
    assert type(breaker).__name__ == "CircuitBreaker" and breaker.threshold == 10 and breaker.cooldown_s == 5
    deadline = Backoff(spec).deadline()
    assert type(deadline).__name__ == "Deadline" and deadline.budget_s == 120


def test_every_policy_shares_deadline_and_max_attempts(reference):
    specs = policies(reference, deadline_s=30, max_attempts=7)
    assert list(specs) == list(POLICY_NAMES)
    assert {(p.deadline_s, p.max_attempts) for p in specs.values()} == {(30, 7)}


def test_specs_travel_as_plain_json(reference):
    import json
    for spec in policies(reference).values():
        assert PolicySpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_unknown_policy_and_profile_without_profile(reference):
    with pytest.raises(ValueError, match="unknown policy"):
        policies(reference, ["linear"])
    with pytest.raises(ValueError, match="needs an agent profile"):
        make_policies(["profile"], base_ms=1, cap_ms=2, factor=2, deadline_s=1)


def test_a_profile_names_another_retry_module(tmp_path):
    module = tmp_path / "their_retry.py"
    module.write_text(textwrap.dedent("""
        class RetryPolicy:
            def __init__(self, base_s, factor, cap_s, deadline_s, jitter):
                self.base_s = base_s
            def delay(self, attempt, rng=None, prev=None):
                return 0.25 * attempt   # their own linear backoff
    """))
    text = (load_profile("reference").path.read_text()
            + f"retry_module: {module}\n")
    path = tmp_path / "theirs.yaml"
    path.write_text(text)
    profile = load_profile(path)
    assert profile.retry_module == str(module)
    assert load_profile("reference").retry_module == "fixtures/agent/retry.py"
    specs = {p.name: p for p in make_policies(["full-jitter", "profile"], base_ms=100, cap_ms=4000, factor=2,
                                               deadline_s=60, profile=profile)}
    for spec in specs.values():
        assert spec.module == str(module)
        backoff = Backoff(spec)
        assert [backoff.delay(n, random.Random()) for n in (1, 2, 3)] == [0.25, 0.5, 0.75]
        assert backoff.breaker() is None  # their module has no CircuitBreaker
        assert not backoff.deadline().expired()


def test_a_declared_policy_is_simulated_without_any_agent_code():
    """A profile with no retry_module: the storm's classes come from its declaration alone."""
    from harness.profile import Profile
    declared = Profile.model_validate({"name": "bridge", "images": {"amd64": "x"}, "retry_policy": {
        "family": "constant", "jitter": "none", "base_ms": 1000, "cap_ms": 1000, "deadline_s": None,
        "breaker_threshold": 3, "breaker_cooldown_s": 2}})
    spec = make_policies(["profile"], base_ms=1000, cap_ms=1000, factor=2.0, deadline_s=60, profile=declared)[0]
    assert spec.module.endswith("harness/storm/declared.py") and spec.factor == 1.0
    backoff = Backoff(spec)
    assert [backoff.delay(n, random.Random(1)) for n in (1, 2, 5)] == [1.0, 1.0, 1.0]
    now = [0.0]
    breaker = backoff.breaker(clock=lambda: now[0])
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert not breaker.allow() and breaker.retry_in() == 2.0
    now[0] = 2.0
    assert breaker.allow() and not breaker.allow()  # one half-open trial
    full = make_policies(["full-jitter"], base_ms=100, cap_ms=400, factor=2.0, deadline_s=60, profile=declared)[0]
    delays = [Backoff(full).delay(3, random.Random(seed)) for seed in range(200)]
    assert 0 <= min(delays) and max(delays) <= 0.4 and max(delays) > 0.3
