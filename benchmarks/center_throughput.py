"""Benchmark: requests/s the mock center sustains for POST /v1/register (prints figures).

Starts the center image in a labelled container (removed afterwards), then drives it with wrk
(Debian's package; C, so the load generator is not the bottleneck) from the host over loopback:
keep-alive connections, and ``Connection: close`` (how the reference agent connects). The center is
reached two ways: on the host network (the center's own capacity) and through Docker's published
port on a bridge (what a host-side load generator sees, docker-proxy included).

    .venv/bin/python benchmarks/center_throughput.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.containers import CenterContainer, StartleNetwork
from harness.runtime import CENTER_IMAGE, Run, docker_client, reap

LUA = """wrk.method = "POST"
wrk.body = '{"node_id": "bench-node", "attempt": 1, "advertise_addr": "127.0.0.1:8081", "version": "1", "arch": "amd64"}'
wrk.headers["Content-Type"] = "application/json"
"""


def wrk(url: str, seconds: int, connections: int, close: bool, script: Path) -> float:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    if close:
        args[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"    ({errors.group(1)} non-2xx answers)")
    return float(match.group(1)) if match else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("center_throughput: wrk is not installed (fix: apt-get install wrk)", file=sys.stderr)
        return 2
    client = docker_client()
    run = Run()
    labels = run.labels(**{"startle.scenario": "bench"})
    script = Path(tempfile.mkdtemp()) / "register.lua"
    script.write_text(LUA)
    try:
        network = StartleNetwork(f"startle-{run.run_id}-bench", labels).create()
        bridged = CenterContainer(CENTER_IMAGE, f"startle-{run.run_id}-bench-center", labels, network)
        bridged.start()
        host_mode = client.containers.run(CENTER_IMAGE, detach=True, network_mode="host", labels=labels,
                                           environment={"CENTER_PORT": "18099"},
                                           name=f"startle-{run.run_id}-bench-hostnet")
        routes = {"host network": "http://127.0.0.1:18099/v1/register",
                  "bridge, published port": f"{bridged.admin().base_url}/v1/register"}
        for line in host_mode.logs(stream=True, follow=True):  # ends if the container dies
            if b"center_listening" in line:
                break
        print(f"center throughput, POST /v1/register, {args.connections} connections, {args.seconds} s each")
        for route, url in routes.items():
            for close in (False, True):
                rate = wrk(url, args.seconds, args.connections, close, script)
                mode = "Connection: close" if close else "keep-alive"
                print(f"  {route:24s} {mode:18s} {rate:9,.0f} requests/s")
        del host_mode
    finally:
        reap(client, {"startle.run": run.run_id})
        shutil.rmtree(script.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
