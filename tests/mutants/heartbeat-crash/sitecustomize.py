"""Mutant: a failed heartbeat crashes the agent (an unhandled error: exit 1); the restart policy
brings it back, but a flapping link now costs a restart each time.

Must be flagged by: center-flapping / no_restart.
"""
import os
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

_request_json = agent.request_json


def request_json(method, url, body=None, **kwargs):
    answer = _request_json(method, url, body, **kwargs)
    if url.endswith("/v1/heartbeat") and answer.status != 200:
        sys.stderr.write(f"Traceback (most recent call last): heartbeat failed: {answer.error}\n")
        sys.stderr.flush()
        os._exit(1)
    return answer


agent.request_json = request_json
