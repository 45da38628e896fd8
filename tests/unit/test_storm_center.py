"""The mock center's storm behaviours, in-process (aiohttp test server on 127.0.0.1, no Docker):
capacity (token bucket, 429 + Retry-After) and contention (optimistic concurrency, 409)."""

from __future__ import annotations

import asyncio

import pytest

aiohttp = pytest.importorskip("aiohttp")
from centerlib import center, get as _get, post as _post, run  # noqa: E402,F401


def reg(node, **extra):
    return {"node_id": node, "attempt": 1, **extra}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_capacity_admits_burst_then_429_with_retry_after_and_refills():
    clock = Clock()

    async def body(s, base, st):
        b = (await _post(s, base + "/admin/behaviour", {"capacity_per_s": 2, "capacity_burst": 3}))[2]
        assert b["capacity_per_s"] == 2 and b["capacity_burst"] == 3
        statuses = [(await _post(s, base + "/v1/register", reg(f"n{i}")))[0] for i in range(4)]
        assert statuses == [200, 200, 200, 429]
        status, headers, answer = await _post(s, base + "/v1/register", reg("n9"))
        assert status == 429 and headers["Retry-After"] == "1" and answer["error"] == "over_capacity"
        clock.t += 0.5  # one token back (2/s)
        assert (await _post(s, base + "/v1/register", reg("n10")))[0] == 200
        assert (await _post(s, base + "/v1/register", reg("n11")))[0] == 429
        # other paths are not limited (paths: register only by default)
        assert (await _get(s, base + "/v1/metadata"))[0] == 200
        recs = (await _get(s, base + "/admin/requests"))[1]["requests"]
        notes = [r["note"] for r in recs if r["status"] == 429]
        assert notes == ["over capacity (2/s)"] * 3
        # switching it off admits everything again
        await _post(s, base + "/admin/behaviour", {"capacity_per_s": None})
        assert (await _post(s, base + "/v1/register", reg("n12")))[0] == 200

    run(body, clock)


def test_capacity_retry_after_is_the_ceiling_of_the_wait_for_a_token():
    clock = Clock()

    async def body(s, base, st):
        await _post(s, base + "/admin/behaviour", {"capacity_per_s": 0.25})  # burst: 1 token
        assert (await _post(s, base + "/v1/register", reg("a")))[0] == 200
        status, headers, answer = await _post(s, base + "/v1/register", reg("b"))
        assert status == 429 and headers["Retry-After"] == "4" and answer["retry_after_s"] == 4

    run(body, clock)


def test_contention_accepts_only_the_current_version_and_bumps_it():
    async def body(s, base, st):
        await _post(s, base + "/admin/behaviour", {"contention": True})
        status, answer = await _get(s, base + "/v1/registry")
        assert status == 200 and answer == {"registry_version": 1, "nodes": 0}
        # no version: 409 telling the current one
        status, _h, answer = await _post(s, base + "/v1/register", reg("a"))
        assert status == 409 and answer["error"] == "conflict" and answer["registry_version"] == 1
        # two writers read version 1; the first wins, the second conflicts and learns 2
        status, _h, answer = await _post(s, base + "/v1/register", reg("a", registry_version=1))
        assert status == 200 and answer["registry_version"] == 2
        status, _h, answer = await _post(s, base + "/v1/register", reg("b", registry_version=1))
        assert status == 409 and answer["registry_version"] == 2
        status, _h, answer = await _post(s, base + "/v1/register", reg("b", registry_version=2))
        assert status == 200 and answer["registry_version"] == 3
        assert (await _post(s, base + "/v1/register", reg("c", registry_version=True)))[0] == 409
        recs = (await _get(s, base + "/admin/requests"))[1]["requests"]
        assert [r["path"] for r in recs][:1] == ["/v1/registry"]
        assert [r["note"] for r in recs if r["status"] == 409] == [
            "conflict (None != 1)", "conflict (1 != 2)", "conflict (True != 3)"]
        assert sorted((await _get(s, base + "/admin/nodes"))[1]["nodes"]) == ["a", "b"]
        # reset: version back to 1, contention off (any write accepted)
        await _post(s, base + "/admin/reset", {})
        assert (await _get(s, base + "/v1/registry"))[1]["registry_version"] == 1
        assert (await _post(s, base + "/v1/register", reg("d")))[0] == 200

    run(body)


def test_contention_with_concurrent_writers_lets_exactly_one_win_per_version():
    async def body(s, base, st):
        await _post(s, base + "/admin/behaviour", {"contention": True})
        answers = await asyncio.gather(*[_post(s, base + "/v1/register", reg(f"n{i}", registry_version=1))
                                         for i in range(20)])
        assert sorted(a[0] for a in answers) == [200] + [409] * 19
        assert st.registry_version == 2

    run(body)


def test_storm_behaviour_validation():
    async def body(s, base, st):
        for bad in ({"capacity_per_s": 0}, {"capacity_per_s": -1}, {"capacity_per_s": "10"},
                    {"capacity_burst": 0.5}, {"contention": 1}):
            status, _h, answer = await _post(s, base + "/admin/behaviour", bad)
            assert status == 400, bad
        b = (await _get(s, base + "/admin/behaviour"))[1]
        assert b["capacity_per_s"] is None and b["capacity_burst"] is None and b["contention"] is False

    run(body)
