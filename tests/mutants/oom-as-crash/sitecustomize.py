"""Mutant: the agent sizes its own heap from the container's memory limit (as a JVM does from the
cgroup limit, MaxRAMPercentage 25): once preflight has passed it lets its data segment grow by at
most a quarter of the limit (setrlimit RLIMIT_DATA). A working set above the limit is then a
MemoryError inside the agent, not a kernel OOM kill: it dies with a Python traceback, exit 1, and
the container looks like it crashed (no Docker oom event, State.OOMKilled false).

Must be flagged by: oom / oom_killed (--memory 48m, init working set 96 MiB: exit 1 without an OOM
kill, "a crash, not OOM").
"""
import resource
import sys

sys.path.insert(0, "/app/agent")
import preflight  # noqa: E402  (the entrypoint imports this same module object later)

HEAP_SHARE = 0.25  # of the container's memory limit
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max",                     # cgroup v2
                 "/sys/fs/cgroup/memory/memory.limit_in_bytes")   # cgroup v1


def memory_limit():
    """The container's memory limit in bytes, or None without one."""
    for path in CGROUP_LIMITS:
        try:
            with open(path) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value.isdigit() and int(value) < 1 << 50:  # "max" (v2) / a huge number (v1): no limit
            return int(value)
    return None


def vm_data():
    """Bytes of the process's data segment (private writable memory: heap, stacks)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


_run = preflight.run


def run(*args, **kwargs):
    pre = _run(*args, **kwargs)
    limit = memory_limit()
    if limit is not None:
        cap = vm_data() + int(limit * HEAP_SHARE)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    return pre


preflight.run = run
