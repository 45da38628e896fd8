"""One simulated agent: a registration loop on the profile's register route (the reference
agent's loop, fixtures/agent/agent.py ``register``, with the declared agent's rules), driven by a
policy of the agent's own retry module, with every request recorded.

No locust and no gevent here: the loop gets ``send`` (one HTTP request), ``sleep`` and ``clock``
from its caller. Inside locust, ``sleep`` is ``gevent.sleep``: the simulated agents' clock is
real time, and their backoff sleeps are the thing being simulated. Tests pass a fake clock.

Loop (the target's route and the policy's rules, :mod:`harness.storm.target`, :mod:`harness.storm.policies`):

1. stop when the deadline has passed (``gave_up``) or after ``max_attempts`` (``max_attempts``);
2. with a circuit breaker that refuses: wait until it allows a trial, go to 1;
3. contention mode only: read-modify-write, as an optimistic-concurrency client does: the
   center's version read (:data:`harness.storm.target.REGISTRY_READ`, a record of kind ``read``),
   then write with it (if the read got no answer, with the last version known, from an earlier
   read or 409);
4. the register route (a record of kind ``register``): any 2xx -> ``registered``; an answer the
   policy does not retry (not in its ``retry_statuses``; 409 in contention mode is always
   retried) -> ``rejected``; else wait the policy's delay (see :mod:`harness.storm.policies` for
   Retry-After), never beyond the deadline, and go to 1.

A record is a tuple in the order of :data:`COLUMNS`:
``agent, kind, attempt, t_planned, t_start, t_end, status, error, sleep_s`` — ``t_planned`` when
the agent meant to send (its start, or the end of its backoff; ``t_start - t_planned`` is the
simulator's own lag), ``t_start``/``t_end`` around the request (Unix s), ``status`` None when no
HTTP answer came (``error`` says why), ``sleep_s`` the backoff chosen after a failure (None after
a success).
"""

from __future__ import annotations

import email.utils
import random
import time
from typing import Callable

from harness.storm.policies import Backoff
from harness.storm.target import REGISTRY_READ, StormTarget, default_target
from harness.storm.wire import Answer
from harness.view import accepted

COLUMNS = ("agent", "kind", "attempt", "t_planned", "t_start", "t_end", "status", "error", "sleep_s")
OUTCOMES = ("registered", "gave_up", "max_attempts", "rejected", "error")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After value (delta-seconds or an HTTP date), None when absent or bad."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class SimulatedAgent:
    """One agent. ``send(method, path, body) -> Answer``; ``sleep(seconds)``; ``clock() -> Unix s``;
    ``monotonic() -> s`` for its deadline and breaker (default: the retry module's own clock);
    ``target``: where it registers (default: the default profile's route)."""

    def __init__(self, node_id: str, backoff: Backoff, send: Callable[[str, str, object], Answer],
                 sleep: Callable[[float], None], clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, contention: bool = False,
                 records: list | None = None, start: float | None = None,
                 monotonic: Callable[[], float] | None = None, target: StormTarget | None = None) -> None:
        self.node_id, self.backoff, self.send, self.sleep, self.clock = node_id, backoff, send, sleep, clock
        self.target = target or default_target()
        self.monotonic = monotonic  # for the deadline and breaker; the retry module's default when None
        self.rng = rng or random.Random()
        self.contention = contention
        self.records = records if records is not None else []
        self.start = start
        self.attempts = 0

    def _body(self, attempt: int, version) -> dict:
        body = {"node_id": self.node_id, "attempt": attempt, "advertise_addr": "127.0.0.1:8081",
                "version": "storm", "arch": "amd64", "region": None}
        if self.contention:
            body["registry_version"] = version
        return body

    def run(self) -> str:
        """Register; returns the outcome (one of :data:`OUTCOMES` except ``error``)."""
        rec, clock, spec = self.records.append, self.clock, self.backoff.spec
        deadline = self.backoff.deadline(self.monotonic)
        breaker = self.backoff.breaker(self.monotonic)
        opened = getattr(self.backoff.module, "OPEN", "open")
        method, path = self.target.send_method, self.target.register.path
        planned = self.start if self.start is not None else clock()
        version = None
        attempt, prev = 0, None
        while True:
            if deadline.expired():
                return "gave_up"
            if spec.max_attempts and attempt >= spec.max_attempts:
                return "max_attempts"
            if breaker is not None and not breaker.allow():
                wait = min(breaker.retry_in(), deadline.remaining())
                planned = clock() + wait
                self.sleep(wait)
                continue
            attempt += 1
            self.attempts = attempt
            if self.contention:
                t0 = clock()
                answer = self.send(REGISTRY_READ.method, REGISTRY_READ.path, None)
                t1 = clock()
                rec((self.node_id, "read", attempt, planned, t0, t1, answer.status, answer.error, None))
                if answer.status == 200 and isinstance(answer.body, dict):
                    version = answer.body.get("registry_version", version)
            t0 = clock()
            answer = self.send(method, path, self._body(attempt, version))
            t1 = clock()
            status = answer.status
            if accepted(status):
                if breaker is not None:
                    breaker.record_success()
                rec((self.node_id, "register", attempt, planned, t0, t1, status, None, None))
                return "registered"
            conflict = self.contention and status == 409
            if conflict and isinstance(answer.body, dict):
                version = answer.body.get("registry_version", version)
            if not conflict and not spec.retries(status):
                rec((self.node_id, "register", attempt, planned, t0, t1, status, answer.error, None))
                return "rejected"
            if breaker is not None:
                breaker.record_failure()
            honoured = status == 429 and spec.retry_after != "ignore"
            retry_after = parse_retry_after(answer.retry_after) if honoured else None
            if spec.retry_after == "agent":  # the declared agent's rule, breaker first
                if breaker is not None and breaker.state == opened:
                    wait = breaker.retry_in()
                    if retry_after is not None and retry_after > wait:
                        wait = retry_after
                elif retry_after is not None:
                    spread = self.backoff.base_s if spec.jitter not in (None, "none") else 0.0
                    wait = retry_after + self.rng.uniform(0.0, spread)
                else:
                    wait = prev = self.backoff.delay(attempt, self.rng, prev)
            else:
                wait = prev = self.backoff.delay(attempt, self.rng, prev)
                if retry_after is not None:
                    wait = max(wait, retry_after)
                if breaker is not None and breaker.state == opened:
                    wait = max(wait, breaker.retry_in())
            wait = min(wait, deadline.remaining())
            rec((self.node_id, "register", attempt, planned, t0, t1, status, answer.error, wait))
            planned = clock() + wait
            self.sleep(wait)  # also when 0: inside gevent that yields, so `none` cannot starve the others
