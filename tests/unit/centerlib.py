"""The mock center (fixtures/center/center.py) in-process for unit tests: the module, a runner
that serves a fresh app on 127.0.0.1:<ephemeral>, and JSON request helpers."""

import asyncio
import importlib.util
import inspect
import sys
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

CENTER_PY = Path(__file__).resolve().parents[2] / "fixtures" / "center" / "center.py"


def _load():
    spec = importlib.util.spec_from_file_location("startle_center", CENTER_PY)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


center = _load()


def run(coro_fn, clock=None, **app_kwargs):
    """Run ``coro_fn(session, base_url)`` — or ``coro_fn(session, base_url, state)`` when it takes
    three parameters — against a fresh center. ``clock`` replaces the center's perf counter (the
    token bucket's clock) when given; ``app_kwargs`` go to ``make_app``."""
    wants_state = len(inspect.signature(coro_fn).parameters) == 3

    async def main():
        app = center.make_app(log_requests=False, **app_kwargs)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as s:
                url = f"http://127.0.0.1:{server.port}"
                return await (coro_fn(s, url, app[center.STATE_KEY]) if wants_state else coro_fn(s, url))
        finally:
            await server.close()

    saved = center._perf
    if clock is not None:
        center._perf = clock
    try:
        return asyncio.run(main())
    finally:
        center._perf = saved


async def post(s, url, body):
    """(status, headers, JSON body) of a POST."""
    async with s.post(url, json=body) as r:
        return r.status, dict(r.headers), await r.json(content_type=None)


async def get(s, url):
    """(status, JSON body) of a GET."""
    async with s.get(url) as r:
        return r.status, await r.json(content_type=None)
