"""Mutant: init does a fixed 8 CPU-seconds of work (say, digesting a device table) before it
registers: about 8 s on a free core, about 80 s at a tenth of one — past the launcher's 60 s
ready deadline. The work is counted in CPU time (time.process_time), so it costs the same on any
host; the health server is up meanwhile (startup), but readiness waits for it.

Must be flagged by: cpu-starved / slower_init (--cpus 0.1: not ready within the 60 s deadline).
"""
import hashlib
import sys
import time

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402  (the entrypoint imports this same module object later)

INIT_CPU_S = 8.0

_resolve_region = agent.Agent.resolve_region


def resolve_region(self):
    self.log.emit("init_work", cpu_s=INIT_CPU_S)
    block, digest = b"\x5a" * (1 << 16), hashlib.sha256()
    end = time.process_time() + INIT_CPU_S
    while time.process_time() < end:
        digest.update(block)
    self.log.emit("init_work_done", cpu_s=INIT_CPU_S, digest=digest.hexdigest()[:16])
    return _resolve_region(self)


agent.Agent.resolve_region = resolve_region
