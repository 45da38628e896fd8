"""Mutant: every failed heartbeat is logged with one generic cause ("other: heartbeat request
failed") instead of the cause the request met (refused, closed, reset, timeout...); everything
else — the schedule, the retries, the recovery — is the reference's.

Must be flagged by: center-flapping / error_kind.
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

_request_json = agent.request_json


def request_json(method, url, body=None, **kwargs):
    answer = _request_json(method, url, body, **kwargs)
    if url.endswith("/v1/heartbeat") and answer.status != 200:
        answer.error = "other: heartbeat request failed"
    return answer


agent.request_json = request_json
