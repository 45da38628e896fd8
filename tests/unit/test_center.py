"""The mock center (fixtures/center/center.py) in-process on an ephemeral loopback port:
recording, scripted failures, Retry-After, down, long poll. No Docker."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402
from centerlib import center, get as _get, post as _post  # noqa: E402
from centerlib import run as _run  # noqa: E402


def run(coro_fn):
    """Run ``coro_fn(session, base_url)`` against a fresh center (region ``test-region-1``)."""
    return _run(coro_fn, region="test-region-1")


REG = {"node_id": "edge-001", "attempt": 1, "advertise_addr": "127.0.0.1:1", "version": "1.0.0",
       "arch": "amd64", "region": None}


def test_register_is_recorded_with_every_field():
    async def body(s, base):
        t0 = time.time()
        status, _h, answer = await _post(s, base + "/v1/register", dict(REG, attempt=3))
        assert status == 200
        assert set(answer) == {"node_token", "config_version", "heartbeat_interval_s"}
        _st, page = await _get(s, base + "/admin/requests?since=0")
        assert page["next"] == 1
        (rec,) = page["requests"]
        assert set(rec) == {"index", "ts", "method", "path", "route", "node_id", "attempt", "status", "latency_ms",
                            "remote", "note", "bytes", "content_type", "content_encoding", "body_sha256"}
        assert rec["index"] == 0 and rec["method"] == "POST" and rec["path"] == "/v1/register"
        assert rec["route"] is None  # a built-in route, not a declared one
        sent = json.dumps(dict(REG, attempt=3)).encode()  # aiohttp's json= serialises the same way
        assert rec["bytes"] == len(sent) and rec["body_sha256"] == hashlib.sha256(sent).hexdigest()
        assert rec["content_type"] == "application/json" and rec["content_encoding"] is None
        assert rec["node_id"] == "edge-001" and rec["attempt"] == 3 and rec["status"] == 200
        assert rec["remote"] == "127.0.0.1" and rec["note"] is None
        assert t0 - 1 <= rec["ts"] <= time.time() and rec["latency_ms"] >= 0
        _st, nodes = await _get(s, base + "/admin/nodes")
        assert nodes["nodes"]["edge-001"]["version"] == "1.0.0"

    run(body)


def test_fail_next_then_success_and_only_on_scripted_paths():
    async def body(s, base):
        _st, _h, b = await _post(s, base + "/admin/behaviour", {"fail_next": 2, "status": 503})
        assert b["fail_next"] == 2 and b["paths"] == ["/v1/register"]
        # metadata is not in "paths": unaffected
        st, _ = await _get(s, base + "/v1/metadata")
        assert st == 200
        statuses = [(await _post(s, base + "/v1/register", REG))[0] for _ in range(3)]
        assert statuses == [503, 503, 200]
        _st, page = await _get(s, base + "/admin/requests?since=0")
        regs = [r for r in page["requests"] if r["path"] == "/v1/register"]
        assert [r["status"] for r in regs] == [503, 503, 200]
        assert regs[0]["note"].startswith("fail_next") and regs[2]["note"] is None

    run(body)


def test_retry_after_header_and_fail_forever():
    async def body(s, base):
        await _post(s, base + "/admin/behaviour", {"fail_forever": True, "status": 429, "retry_after_s": 2.5})
        for _ in range(3):
            st, headers, answer = await _post(s, base + "/v1/register", REG)
            assert st == 429 and headers["Retry-After"] == "3"  # integer seconds, rounded up
        await _post(s, base + "/admin/behaviour", {"fail_forever": False, "retry_after_s": None})
        st, headers, _ = await _post(s, base + "/v1/register", REG)
        assert st == 200 and "Retry-After" not in headers

    run(body)


def test_down_closes_the_connection_and_records_null_status():
    async def body(s, base):
        await _post(s, base + "/admin/behaviour", {"down": True})
        with pytest.raises(aiohttp.ClientError):
            await _post(s, base + "/v1/register", REG)
        await _post(s, base + "/admin/behaviour", {"down": False})
        assert (await _post(s, base + "/v1/register", REG))[0] == 200
        _st, page = await _get(s, base + "/admin/requests?since=0")
        assert [r["status"] for r in page["requests"]] == [None, 200]
        assert page["requests"][0]["note"].startswith("down")

    run(body)


def test_long_poll_wakes_on_a_new_record_and_times_out_otherwise():
    async def body(s, base):
        t0 = time.monotonic()
        st, page = await _get(s, base + "/admin/requests?since=0&wait_s=0.3")
        assert page == {"next": 0, "requests": []}
        assert 0.25 <= time.monotonic() - t0 < 2

        async def later():
            await asyncio.sleep(0.3)
            await _post(s, base + "/v1/register", REG)

        task = asyncio.ensure_future(later())
        t0 = time.monotonic()
        st, page = await _get(s, base + "/admin/requests?since=0&wait_s=10")
        waited = time.monotonic() - t0
        await task
        assert page["next"] == 1 and page["requests"][0]["status"] == 200
        assert 0.2 <= waited < 2, waited

    run(body)


def test_reset_keeps_indexes_growing_and_clears_everything():
    async def body(s, base):
        await _post(s, base + "/v1/register", REG)
        await _post(s, base + "/admin/behaviour", {"fail_next": 5})
        _st, _h, r = await _post(s, base + "/admin/reset", None)
        assert r["next"] == 1 and r["behaviour"]["fail_next"] == 0
        _st, page = await _get(s, base + "/admin/requests?since=0")
        assert page == {"next": 1, "requests": []}
        await _post(s, base + "/v1/register", REG)
        _st, page = await _get(s, base + "/admin/requests?since=0")
        assert [x["index"] for x in page["requests"]] == [1]
        assert (await _get(s, base + "/admin/nodes"))[1]["nodes"]["edge-001"]["registrations"] == 1

    run(body)


def test_heartbeat_logs_metadata_config_and_unknown_paths():
    async def body(s, base):
        assert (await _post(s, base + "/v1/heartbeat", {"node_id": "edge-001", "seq": 1}))[0] == 404
        await _post(s, base + "/v1/register", REG)
        assert (await _post(s, base + "/v1/heartbeat", {"node_id": "edge-001", "seq": 1}))[2] == {"ok": True}
        lines = [{"seq": i, "ts": time.time(), "msg": f"line {i}"} for i in (1, 2, 3)]
        assert (await _post(s, base + "/v1/logs", {"node_id": "edge-001", "lines": lines}))[2] == {"accepted": 3}
        _st, got = await _get(s, base + "/admin/logs?node_id=edge-001")
        assert [x["seq"] for x in got["lines"]] == [1, 2, 3]
        assert (await _get(s, base + "/v1/metadata"))[1]["region"] == "test-region-1"
        await _post(s, base + "/admin/behaviour", {"region": "eu-west-9", "config": {"heartbeat_interval_s": 1}})
        assert (await _get(s, base + "/v1/metadata"))[1] == {"region": "eu-west-9", "zone": "eu-west-9a"}
        st, cfg = await _get(s, base + "/v1/config?node_id=edge-001")
        assert st == 200 and cfg["heartbeat_interval_s"] == 1 and cfg["config_version"] == 2
        assert (await _post(s, base + "/v1/register", REG))[2]["heartbeat_interval_s"] == 1
        assert (await _get(s, base + "/v1/nope"))[0] == 404
        _st, page = await _get(s, base + "/admin/requests?since=0")
        assert page["requests"][-1]["path"] == "/v1/nope" and page["requests"][-1]["status"] == 404
        # admin requests are not recorded
        assert all(not r["path"].startswith("/admin") for r in page["requests"])

    run(body)


def test_behaviour_validation():
    async def body(s, base):
        assert (await _post(s, base + "/admin/behaviour", {"fail_nxt": 1}))[0] == 400
        assert (await _post(s, base + "/admin/behaviour", {"status": 99}))[0] == 400
        assert (await _post(s, base + "/admin/behaviour", {"down": "yes"}))[0] == 400
        st, b = await _get(s, base + "/admin/behaviour")
        assert st == 200 and b["status"] == 503 and b["down"] is False

    run(body)


def test_check_advertise_connects_back_and_names_the_address():
    async def body(s, base):
        await _post(s, base + "/admin/behaviour", {"check_advertise": True})
        # an ephemeral listener on loopback: reachable
        srv = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        try:
            st, _h, _b = await _post(s, base + "/v1/register", dict(REG, advertise_addr=f"127.0.0.1:{port}"))
            assert st == 200
        finally:
            srv.close()
            await srv.wait_closed()
        # nothing listens there any more: 422 with a reason naming the address
        st, _h, b = await _post(s, base + "/v1/register", dict(REG, advertise_addr=f"127.0.0.1:{port}"))
        assert st == 422 and f"127.0.0.1:{port}" in b["reason"]
        # outside the center's own networks: refused without a connection attempt
        st, _h, b = await _post(s, base + "/v1/register", dict(REG, advertise_addr="198.51.100.7:8081"))
        assert st == 422 and "not attempted" in b["reason"]

    run(body)


def test_delay_ms_is_added():
    async def body(s, base):
        await _post(s, base + "/admin/behaviour", {"delay_ms": 200})
        t0 = time.monotonic()
        assert (await _get(s, base + "/v1/metadata"))[0] == 200
        assert time.monotonic() - t0 >= 0.19

    run(body)


def test_state_key_is_exposed_for_in_process_use():
    app = center.make_app()
    assert isinstance(app, web.Application)
    assert isinstance(app[center.STATE_KEY], center.State)
