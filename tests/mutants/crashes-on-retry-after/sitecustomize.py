"""Mutant: a Retry-After header crashes it — the parser raises on the 429's header, the exception
escapes the registration loop, the agent dies (exit 1) and Docker's restart policy brings it back
straight into the next 429: every rate-limited answer costs a restart.

Must be flagged by: center-429-retry-after / honours_retry_after (the restarted agent asks again
long before Retry-After expires). tests/integration/test_reproduce.py also runs it as a field node
whose bug a reproduced regression test (startle reproduce --fixed) must catch.
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402


def parse_retry_after(value, now=None):
    if value is None:
        return None
    raise ValueError(f"Retry-After {value!r}: expected an HTTP date")  # the bug: delta-seconds not handled


agent.parse_retry_after = parse_retry_after
