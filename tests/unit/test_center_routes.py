"""The mock center's declared routes (CENTER_ROUTES, /admin/routes), in-process on an ephemeral
loopback port: any agent's endpoints answered as declared, any body recorded (bytes, encoding,
sha256), the scripted behaviour applied to declared routes, validation. No Docker."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

aiohttp = pytest.importorskip("aiohttp")
from centerlib import CENTER_PY, center, get as _get, post as _post  # noqa: E402
from centerlib import run as _run  # noqa: E402

# Prometheus remote_write: a snappy-compressed protobuf WriteRequest, answered 204
WRITE = {"method": "POST", "path": "/api/v1/write", "status": 204, "name": "write"}
PROM_HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                "X-Prometheus-Remote-Write-Version": "0.1.0"}
# not valid UTF-8, not JSON: what a snappy block looks like to the center
BINARY = b"\xff\x06\x00\x00sNaPpY\x01\x0b\x00\x00\x9b\x1c\x8d\x84\x00\xfe\x80\x00"
REG = {"node_id": "edge-001", "attempt": 1, "advertise_addr": "127.0.0.1:1", "version": "1.0.0",
       "arch": "amd64", "region": None}


def run(coro_fn, routes=None):
    return _run(coro_fn, region="test-region-1", routes=routes)


async def send(s, method, url, data=None, headers=None):
    """(status, headers, raw body) of any request."""
    async with s.request(method, url, data=data, headers=headers) as r:
        return r.status, dict(r.headers), await r.read()


async def records(s, base):
    return (await _get(s, base + "/admin/requests?since=0"))[1]["requests"]


def test_declared_204_route_takes_a_binary_body_and_records_it():
    async def body(s, base):
        status, headers, answer = await send(s, "POST", base + "/api/v1/write", BINARY, PROM_HEADERS)
        assert status == 204 and answer == b""
        (rec,) = await records(s, base)
        assert rec["path"] == "/api/v1/write" and rec["route"] == "write" and rec["status"] == 204
        assert rec["bytes"] == len(BINARY) and rec["body_sha256"] == hashlib.sha256(BINARY).hexdigest()
        assert rec["content_type"] == "application/x-protobuf" and rec["content_encoding"] == "snappy"
        assert rec["node_id"] is None and rec["attempt"] is None and rec["note"] is None

    run(body, [WRITE])


def test_declared_route_answers_its_status_headers_and_body():
    routes = [
        {"method": "post", "path": "/hooks/*", "status": 202, "headers": {"X-Hook": "seen"},
         "body": {"accepted": True}, "node_id_header": "X-Node-Id"},
        {"method": "GET", "path": "/hooks/ping", "body": "pong"},
        {"path": "/xml", "body": "<ok/>", "content_type": "application/xml"},
    ]

    async def body(s, base):
        # prefix route, JSON body answered as application/json, node_id from the declared header
        status, headers, answer = await send(s, "POST", base + "/hooks/a/b?x=1", json.dumps({"attempt": 4}),
                                             {"X-Node-Id": "edge-7", "Content-Type": "application/json"})
        assert status == 202 and headers["X-Hook"] == "seen" and headers["Content-Type"] == "application/json"
        assert json.loads(answer) == {"accepted": True}
        # exact beats prefix; a string body is text/plain
        status, headers, answer = await send(s, "GET", base + "/hooks/ping")
        assert status == 200 and answer == b"pong" and headers["Content-Type"].startswith("text/plain")
        # HEAD is answered like GET; "*" (the default method) takes any method
        assert (await send(s, "HEAD", base + "/hooks/ping"))[0] == 200
        status, headers, answer = await send(s, "DELETE", base + "/xml")
        assert status == 200 and answer == b"<ok/>" and headers["Content-Type"] == "application/xml"
        # the path is declared, the method is not: 405 with Allow, recorded
        status, headers, _ = await send(s, "GET", base + "/hooks/other")
        assert status == 405 and headers["Allow"] == "POST"
        recs = await records(s, base)
        assert [r["route"] for r in recs] == ["/hooks/*", "/hooks/ping", "/hooks/ping", "/xml", None]
        assert recs[0]["node_id"] == "edge-7" and recs[0]["attempt"] == 4
        assert recs[-1]["status"] == 405 and recs[-1]["note"].startswith("method not allowed")

    run(body, routes)


def test_fail_next_on_a_declared_route_then_the_declared_answer():
    async def body(s, base):
        # "paths" names the route (or its path); register is not in it any more
        await _post(s, base + "/admin/behaviour", {"fail_next": 2, "status": 500, "paths": ["write"]})
        statuses = [(await send(s, "POST", base + "/api/v1/write", BINARY, PROM_HEADERS))[0] for _ in range(3)]
        assert statuses == [500, 500, 204]
        assert (await _post(s, base + "/v1/register", REG))[0] == 200
        await _post(s, base + "/admin/behaviour", {"fail_next": 1, "status": 503, "paths": ["/api/v1/write"]})
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 503
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 204
        recs = [r for r in await records(s, base) if r["route"] == "write"]
        assert [r["status"] for r in recs] == [500, 500, 204, 503, 204]
        assert recs[0]["note"] == "fail_next (1 left)" and recs[2]["note"] is None
        # a scripted failure still records the body
        assert all(r["bytes"] == len(BINARY) for r in recs)

    run(body, [WRITE])


def test_retry_after_and_fail_forever_on_a_declared_route():
    async def body(s, base):
        await _post(s, base + "/admin/behaviour",
                    {"fail_forever": True, "status": 429, "retry_after_s": 1.2, "paths": ["write"]})
        for _ in range(2):
            status, headers, answer = await send(s, "POST", base + "/api/v1/write", BINARY, PROM_HEADERS)
            assert status == 429 and headers["Retry-After"] == "2"
            assert json.loads(answer)["error"] == "scripted"
        await _post(s, base + "/admin/behaviour", {"fail_forever": False, "retry_after_s": None})
        status, headers, _ = await send(s, "POST", base + "/api/v1/write", BINARY, PROM_HEADERS)
        assert status == 204 and "Retry-After" not in headers

    run(body, [WRITE])


def test_down_delay_and_capacity_apply_to_declared_routes():
    async def body(s, base):
        await _post(s, base + "/admin/behaviour", {"down": True})
        with pytest.raises(aiohttp.ClientError):
            await send(s, "POST", base + "/api/v1/write", BINARY)
        await _post(s, base + "/admin/behaviour", {"down": False, "delay_ms": 150})
        t0 = time.monotonic()
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 204
        assert time.monotonic() - t0 >= 0.14
        await _post(s, base + "/admin/behaviour", {"delay_ms": 0, "capacity_per_s": 0.5, "paths": ["write"]})
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 204
        status, headers, _ = await send(s, "POST", base + "/api/v1/write", BINARY)
        assert status == 429 and headers["Retry-After"] == "2"
        recs = await records(s, base)
        assert [r["status"] for r in recs] == [None, 204, 204, 429]
        assert recs[0]["note"].startswith("down") and recs[0]["bytes"] == len(BINARY)

    run(body, [WRITE])


def test_unknown_paths_still_404_whatever_the_body():
    async def body(s, base):
        assert (await send(s, "POST", base + "/api/v1/other", BINARY, PROM_HEADERS))[0] == 404
        assert (await send(s, "GET", base + "/nope"))[0] == 404
        recs = await records(s, base)
        assert [(r["path"], r["status"], r["route"], r["note"]) for r in recs] == [
            ("/api/v1/other", 404, None, "no such endpoint"), ("/nope", 404, None, "no such endpoint")]
        assert recs[0]["bytes"] == len(BINARY) and recs[0]["content_encoding"] == "snappy"
        assert recs[1]["bytes"] == 0 and recs[1]["body_sha256"] is None and recs[1]["content_type"] is None

    run(body, [WRITE])


def test_built_in_routes_keep_working_beside_declared_ones():
    async def body(s, base):
        status, _h, answer = await _post(s, base + "/v1/register", REG)
        assert status == 200 and "node_token" in answer
        assert (await _post(s, base + "/v1/heartbeat", {"node_id": "edge-001", "seq": 1}))[2] == {"ok": True}
        assert (await _get(s, base + "/v1/metadata"))[1]["region"] == "test-region-1"
        # the built-in routes still want JSON
        status, _h, answer = await send(s, "POST", base + "/v1/register", BINARY)
        assert status == 400
        # a gzip-encoded JSON body is still understood; the record describes the wire
        zipped = gzip.compress(json.dumps(dict(REG, attempt=2)).encode())
        status, _h, _ = await send(s, "POST", base + "/v1/register", zipped,
                                   {"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert status == 200
        recs = await records(s, base)
        assert [r["status"] for r in recs] == [200, 200, 200, 400, 200]
        assert all(r["route"] is None for r in recs)
        assert recs[3]["note"] == "body is not JSON"
        assert recs[4]["attempt"] == 2 and recs[4]["bytes"] == len(zipped)
        assert recs[4]["body_sha256"] == hashlib.sha256(zipped).hexdigest()
        # default "paths" is still register only: a declared route is not scripted unless named
        await _post(s, base + "/admin/behaviour", {"fail_next": 1})
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 204
        assert (await _post(s, base + "/v1/register", REG))[0] == 503

    run(body, [WRITE, {"method": "GET", "path": "/v1/register", "body": "only GET is declared"}])


def test_a_declared_route_replaces_a_built_in_one():
    async def body(s, base):
        status, _h, answer = await _post(s, base + "/v1/register", REG)
        assert status == 201 and answer == {"token": "t"}
        assert (await _get(s, base + "/admin/nodes"))[1]["nodes"] == {}
        (rec,) = await records(s, base)
        assert rec["route"] == "register" and rec["node_id"] == "edge-001" and rec["attempt"] == 1

    run(body, [{"method": "POST", "path": "/v1/register", "status": 201, "body": {"token": "t"},
                "name": "register"}])


def test_a_declared_path_answered_by_a_built_in_behaviour():
    """An agent speaking the reference protocol on its own paths keeps the registration logic."""
    async def body(s, base):
        status, _h, answer = await _post(s, base + "/api/enroll", REG)
        assert status == 200 and "node_token" in answer
        assert "edge-001" in (await _get(s, base + "/admin/nodes"))[1]["nodes"]
        assert (await _post(s, base + "/api/beat", {"node_id": "edge-001", "seq": 1}))[2] == {"ok": True}
        assert (await _get(s, base + "/api/meta"))[1]["region"] == "test-region-1"
        assert (await send(s, "POST", base + "/api/enroll", BINARY))[0] == 400
        await _post(s, base + "/admin/behaviour", {"fail_next": 1, "paths": ["enroll"]})
        assert (await _post(s, base + "/api/enroll", REG))[0] == 503
        recs = await records(s, base)
        assert [(r["route"], r["status"]) for r in recs] == [("enroll", 200), ("/api/beat", 200),
                                                             ("/api/meta", 200), ("enroll", 400), ("enroll", 503)]

    run(body, [{"method": "POST", "path": "/api/enroll", "builtin": "register", "name": "enroll"},
               {"method": "POST", "path": "/api/beat", "builtin": "heartbeat"},
               {"method": "GET", "path": "/api/meta", "builtin": "metadata"}])


def test_admin_routes_replace_list_and_survive_reset():
    async def body(s, base):
        assert (await _get(s, base + "/admin/routes")) == (200, {"routes": []})
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 404
        status, _h, answer = await _post(s, base + "/admin/routes", [WRITE, {"path": "/t", "body": "x"}])
        assert status == 200
        assert answer["routes"][0] == {"method": "POST", "path": "/api/v1/write", "status": 204, "headers": {},
                                       "body": None, "content_type": None, "name": "write", "node_id_header": None,
                                       "builtin": None}
        assert answer["routes"][1]["method"] == "*" and answer["routes"][1]["status"] == 200
        assert answer["routes"][1]["content_type"] == "text/plain; charset=utf-8"
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 204
        # reset keeps the routes, resets the behaviour
        await _post(s, base + "/admin/behaviour", {"fail_forever": True, "paths": ["write"]})
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 503
        reset = (await _post(s, base + "/admin/reset", None))[2]
        assert reset["behaviour"]["fail_forever"] is False
        assert len((await _get(s, base + "/admin/routes"))[1]["routes"]) == 2
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 204
        # the GET answer can be posted back as it is; [] removes every route
        listed = (await _get(s, base + "/admin/routes"))[1]
        assert (await _post(s, base + "/admin/routes", listed))[2] == listed
        assert (await _post(s, base + "/admin/routes", []))[2] == {"routes": []}
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 404

    run(body)


@pytest.mark.parametrize("routes, names", [
    ({"path": "/x"}, ["routes", "list"]),
    ([{"path": "/x"}, "/y"], ["routes[1]", "object"]),
    ([{"method": "POST"}], ["routes[0].path", "missing"]),
    ([{"path": "api/v1/write"}], ["routes[0].path", 'starting with "/"']),
    ([{"path": "/a/*/b"}], ["routes[0].path", "last character"]),
    ([{"path": "/x?y=1"}], ["routes[0].path", "query"]),
    ([{"path": "/admin/requests"}], ["routes[0].path", "admin"]),
    ([{"path": "/x", "method": "PO ST"}], ["routes[0].method", "HTTP method"]),
    ([{"path": "/x", "status": "204"}], ["routes[0].status", "200..599"]),
    ([{"path": "/x", "status": 99}], ["routes[0].status", "200..599"]),
    ([{"path": "/x", "status": 204, "body": "no"}], ["routes[0].body", "status 204"]),
    ([{"path": "/x", "headers": ["X-A"]}], ["routes[0].headers", "object"]),
    ([{"path": "/x", "headers": {"X-A": 5}}], ["routes[0].headers.X-A", "string"]),
    ([{"path": "/x", "headers": {"Content-Length": "5"}}], ["routes[0].headers.Content-Length", "cannot"]),
    ([{"path": "/x", "headers": {"Content-Type": "a/b"}}], ["routes[0].headers.Content-Type", "content_type"]),
    ([{"path": "/x", "content_type": 3}], ["routes[0].content_type", "media type"]),
    ([{"path": "/x", "name": "/x"}], ["routes[0].name", "label"]),
    ([{"path": "/x", "node_id_header": "X Node"}], ["routes[0].node_id_header", "header name"]),
    ([{"path": "/x", "stauts": 204}], ["routes[0]", "'stauts'", "only"]),
    ([{"path": "/x", "method": "post"}, {"path": "/x", "method": "POST"}], ["routes[1]", "POST /x", "routes[0]"]),
])
def test_admin_routes_validation_names_the_field_and_changes_nothing(routes, names):
    async def body(s, base):
        status, _h, answer = await _post(s, base + "/admin/routes", routes)
        assert status == 400, answer
        for part in names:
            assert part in answer["error"], (part, answer["error"])
        assert (await _get(s, base + "/admin/routes"))[1]["routes"][0]["path"] == "/api/v1/write"

    run(body, [WRITE])


def test_admin_routes_refuses_a_body_that_is_not_json():
    async def body(s, base):
        status, _h, answer = await send(s, "POST", base + "/admin/routes", b"[{", {"Content-Type": "application/json"})
        assert status == 400 and "not JSON" in json.loads(answer)["error"]

    run(body)


def test_center_routes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CENTER_ROUTES", json.dumps([WRITE]))
    st = center.make_app()[center.STATE_KEY]
    assert [r.spec["name"] for r in st.declared] == ["write"]
    monkeypatch.setenv("CENTER_ROUTES", " ")
    assert center.make_app()[center.STATE_KEY].declared == []
    monkeypatch.setenv("CENTER_ROUTES", '[{"path": "/x", "status": 7}]')
    with pytest.raises(center.RouteError, match=r"CENTER_ROUTES: routes\[0\]\.status"):
        center.make_app()


@pytest.mark.parametrize("value, expect", [
    ("[{not json", "CENTER_ROUTES is not JSON"),
    ('[{"path": "/x", "status": 7}]', "CENTER_ROUTES: routes[0].status must be an integer HTTP status"),
])
def test_a_malformed_center_routes_exits_2_with_a_message(value, expect):
    env = dict(os.environ, CENTER_ROUTES=value, CENTER_PORT="1", CENTER_HOST="127.0.0.1")
    done = subprocess.run([sys.executable, str(CENTER_PY)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert expect in done.stderr, done.stderr


def test_center_admin_set_routes():
    from harness.clients import CenterAdmin

    async def body(s, base):
        admin = CenterAdmin(base)
        loop = asyncio.get_running_loop()
        held = await loop.run_in_executor(None, admin.set_routes, [WRITE])
        assert [r["name"] for r in held] == ["write"]
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 204
        with pytest.raises(ValueError, match=r"routes\[0\]\.status"):
            await loop.run_in_executor(None, admin.set_routes, [{"path": "/x", "status": "ok"}])

    run(body)


def test_a_body_over_16_mib_is_answered_413_and_recorded():
    async def body(s, base):
        big = b"\0" * (center.MAX_BODY + 1)
        assert (await send(s, "POST", base + "/api/v1/write", big))[0] == 413
        assert (await send(s, "POST", base + "/api/v1/write", BINARY))[0] == 204
        recs = await records(s, base)
        assert [r["status"] for r in recs] == [413, 204]
        assert recs[0]["route"] == "write" and recs[0]["note"].startswith("body over")

    run(body, [WRITE])
