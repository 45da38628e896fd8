"""One simulated agent's loop on a fake clock: the policy's delays, Retry-After, deadline,
max attempts, rejection, the circuit breaker (profile), contention's read-modify-write."""

from __future__ import annotations

import random

import pytest

from harness.profile import load_profile
from harness.storm import policies as pol
from harness.storm.simagent import COLUMNS, SimulatedAgent, parse_retry_after
from harness.storm.wire import Answer


class World:
    """A fake clock the agent's sleeps advance, and a scripted center."""

    def __init__(self, answers, latency_s=0.01):
        self.t = 1000.0
        self.answers = list(answers)
        self.sent = []
        self.latency_s = latency_s

    def clock(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds

    def send(self, method, path, body):
        self.sent.append((method, path, body))
        self.t += self.latency_s
        return self.answers.pop(0) if self.answers else Answer(200, {})


@pytest.fixture
def fake_monotonic():
    """Holds the current fake world: the agent's deadline and breaker run on its clock."""
    return {}


def agent(holder, answers, name="full-jitter", seed=1, contention=False, **kw):
    world = World(answers)
    holder["world"] = world
    args = dict(base_ms=100, cap_ms=4000, factor=2.0, deadline_s=120, profile=load_profile("reference"))
    args.update(kw)
    spec = pol.make_policies([name], **args)[0]
    records = []
    a = SimulatedAgent("n1", pol.Backoff(spec), world.send, world.sleep, world.clock, random.Random(seed),
                       contention=contention, records=records, start=world.t, monotonic=world.clock)
    return a, world, records


def column(records, name):
    i = COLUMNS.index(name)
    return [r[i] for r in records]


def test_backs_off_with_the_policy_s_delays_then_registers(fake_monotonic):
    a, world, records = agent(fake_monotonic, [Answer(503)] * 5 + [Answer(None, error="connection refused")])
    assert a.run() == "registered"
    assert column(records, "attempt") == [1, 2, 3, 4, 5, 6, 7]
    assert column(records, "status") == [503] * 5 + [None, 200]
    rng, prev, expected = random.Random(1), None, []
    policy = pol.load_retry_module().RetryPolicy(base_s=0.1, factor=2, cap_s=4, deadline_s=120, jitter="full")
    for n in range(1, 7):
        prev = policy.delay(n, rng, prev)
        expected.append(prev)
    assert column(records, "sleep_s")[:-1] == pytest.approx(expected)
    assert column(records, "sleep_s")[-1] is None
    # each attempt starts when the previous backoff ends (zero lag on a fake clock)
    starts, planned = column(records, "t_start"), column(records, "t_planned")
    assert starts == pytest.approx(planned)
    assert [m for m, _p, _b in world.sent] == ["POST"] * 7
    assert world.sent[0][2]["node_id"] == "n1" and world.sent[2][2]["attempt"] == 3


def test_retry_after_is_a_floor_for_generic_policies(fake_monotonic):
    a, world, records = agent(fake_monotonic, [Answer(429, retry_after="3"), Answer(429, retry_after="bogus")],
                              name="none")
    assert a.run() == "registered"
    assert column(records, "sleep_s")[:2] == [3.0, 0.0]


def test_profile_waits_retry_after_plus_jitter_like_the_agent(fake_monotonic):
    a, world, records = agent(fake_monotonic, [Answer(429, retry_after="2")], name="profile")
    assert a.run() == "registered"
    expected = 2.0 + random.Random(1).uniform(0.0, 0.1)
    assert column(records, "sleep_s")[0] == pytest.approx(expected)


def test_profile_opens_its_breaker_after_the_threshold(fake_monotonic):
    a, world, records = agent(fake_monotonic, [Answer(503)] * 10, name="profile")
    assert a.run() == "registered"
    sleeps = column(records, "sleep_s")
    assert len(sleeps) == 11
    assert max(sleeps[:9]) <= 4.0
    assert sleeps[9] == pytest.approx(5.0)  # breaker open after failure 10: its cooldown
    # the trial after the cooldown is attempt 11
    assert column(records, "t_start")[10] - column(records, "t_end")[9] == pytest.approx(5.0)


def test_deadline_and_max_attempts_stop_the_agent(fake_monotonic):
    a, world, records = agent(fake_monotonic, [Answer(503)] * 1000, name="exponential", deadline_s=10)
    assert a.run() == "gave_up"
    assert world.t - 1000.0 == pytest.approx(10.0, abs=0.02)
    assert column(records, "sleep_s")[-1] < 4.0  # the last wait is cut at the deadline
    a, world, records = agent(fake_monotonic, [Answer(503)] * 1000, name="none", max_attempts=5)
    assert a.run() == "max_attempts" and len(records) == 5


def test_a_4xx_rejection_ends_the_agent(fake_monotonic):
    a, _world, records = agent(fake_monotonic, [Answer(400, {"error": "bad"})])
    assert a.run() == "rejected" and column(records, "status") == [400]
    a, _world, records = agent(fake_monotonic, [Answer(409, {"registry_version": 3})])
    assert a.run() == "rejected"  # 409 is final outside contention mode


def test_contention_reads_then_writes_with_the_version(fake_monotonic):
    answers = [Answer(200, {"registry_version": 4}), Answer(409, {"registry_version": 5}),
               Answer(None, error="timed out"), Answer(200, {})]
    a, world, records = agent(fake_monotonic, answers, name="none", contention=True)
    assert a.run() == "registered"
    assert [(m, p) for m, p, _b in world.sent] == [("GET", "/v1/registry"), ("POST", "/v1/register")] * 2
    assert world.sent[1][2]["registry_version"] == 4
    assert world.sent[3][2]["registry_version"] == 5  # the read failed: the version the 409 told
    assert column(records, "kind") == ["read", "register", "read", "register"]
    assert column(records, "attempt") == [1, 1, 2, 2]


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now=784111777) == pytest.approx(10.0)
