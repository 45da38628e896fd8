"""Mutant: a batch of log lines that failed to ship is dropped, not kept for the next try
(fire and forget): every line written during a center outage is lost.

Must be flagged by: log-export-outage / logs_delivered.
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

_request_json = agent.request_json


def request_json(method, url, body=None, **kwargs):
    answer = _request_json(method, url, body, **kwargs)
    if url.endswith("/v1/logs") and answer.status != 200 and body:
        answer.status = 200  # pretend it went out: the caller acknowledges (drops) the batch
    return answer


agent.request_json = request_json
