"""The storm's network delay model (harness/storm/delay.py): the --hop-delay-ms syntax, its draws,
the delayed request path of a simulated agent, Toxiproxy's toxic for it."""

from __future__ import annotations

import random
import statistics

import pytest

from harness.storm import cli
from harness.storm.delay import HopDelay, delayed
from harness.storm.wire import Answer


@pytest.mark.parametrize("text, expected", [
    ("10", HopDelay("constant", 10.0)),
    ("0", HopDelay("constant", 0.0)),
    ("2.5", HopDelay("constant", 2.5)),
    ("uniform:5:15", HopDelay("uniform", 5.0, 15.0)),
    ("normal:10:2", HopDelay("normal", 10.0, 2.0)),
])
def test_parse(text, expected):
    delay = HopDelay.parse(text)
    assert delay == expected
    assert HopDelay.parse(delay.spec()) == delay
    assert HopDelay.from_dict(delay.to_dict()) == delay


@pytest.mark.parametrize("text", ["", "ten", "-1", "uniform:5", "uniform:15:5", "normal:10", "normal:10:-2",
                                  "weibull:1:2", "uniform:a:b", "nan", "inf", "uniform:1:2:3"])
def test_parse_refuses(text):
    with pytest.raises(ValueError):
        HopDelay.parse(text)


def test_bad_flag_is_an_input_error_naming_it(capsys):
    assert cli.main(["--hop-delay-ms", "uniform:15:5"]) == cli.EXIT_INPUT
    assert "--hop-delay-ms" in capsys.readouterr().err


def test_normal_delay_is_refused_for_real_containers(capsys):
    assert cli.main(["--mode", "outage", "--containers", "3", "--hop-delay-ms", "normal:10:2"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "--hop-delay-ms" in err and "uniform" in err


def test_draws_follow_the_distribution():
    rng = random.Random(1)
    assert {HopDelay.parse("10").draw_s(rng) for _ in range(10)} == {0.010}
    uniform = [HopDelay.parse("uniform:5:15").draw_s(rng) for _ in range(20_000)]
    assert 0.005 <= min(uniform) < 0.0052 and 0.0148 < max(uniform) <= 0.015
    assert statistics.mean(uniform) == pytest.approx(0.010, abs=0.0002)
    normal = [HopDelay.parse("normal:10:2").draw_s(rng) for _ in range(20_000)]
    assert statistics.mean(normal) == pytest.approx(0.010, abs=0.0001)
    assert statistics.stdev(normal) == pytest.approx(0.002, abs=0.0001)
    assert min(HopDelay.parse("normal:0:5").draw_s(rng) for _ in range(1000)) >= 0  # |N|: never negative


def test_toxic_attributes():
    assert HopDelay.parse("10").toxic() == {"latency": 10, "jitter": 0}
    assert HopDelay.parse("uniform:5:15").toxic() == {"latency": 10, "jitter": 5}
    with pytest.raises(ValueError):
        HopDelay.parse("normal:10:2").toxic()


class FakeWire:
    """A request that takes no time and answers ``answer``; ``sleeps`` the agent's waits, in order."""

    def __init__(self, answer: Answer) -> None:
        self.answer, self.sleeps, self.timeouts = answer, [], []

    def send(self, method, path, body, timeout_s):
        self.timeouts.append(timeout_s)
        return self.answer

    def sleep(self, seconds):
        self.sleeps.append(seconds)


def test_delayed_waits_one_draw_each_way():
    fake = FakeWire(Answer(200, {"ok": True}))
    send = delayed(fake.send, HopDelay.parse("uniform:5:15"), random.Random(3), fake.sleep, timeout_s=2.0)
    assert send("POST", "/v1/register", {}).status == 200
    up, down = fake.sleeps
    assert 0.005 <= up <= 0.015 and 0.005 <= down <= 0.015 and up != down
    assert fake.timeouts == [pytest.approx(2.0 - up)]  # the timeout covers the whole round trip


def test_delayed_answer_later_than_the_timeout_is_a_timeout():
    fake = FakeWire(Answer(200))
    send = delayed(fake.send, HopDelay.parse("1500"), random.Random(1), fake.sleep, timeout_s=2.0)
    answer = send("GET", "/v1/registry", None)
    assert answer.status is None and answer.error == "timed out"
    assert sum(fake.sleeps) == pytest.approx(2.0, abs=0.01)  # given up at the timeout, not at 3 s

    fake = FakeWire(Answer(200))
    send = delayed(fake.send, HopDelay.parse("2500"), random.Random(1), fake.sleep, timeout_s=2.0)
    assert send("GET", "/v1/registry", None).error == "timed out" and fake.timeouts == [] and fake.sleeps == [2.0]


def test_delayed_refusal_comes_back_after_the_round_trip():
    fake = FakeWire(Answer(None, error="connection refused"))
    send = delayed(fake.send, HopDelay.parse("10"), random.Random(1), fake.sleep, timeout_s=2.0)
    assert send("POST", "/v1/register", {}).error == "connection refused"
    assert fake.sleeps == [0.010, 0.010]
