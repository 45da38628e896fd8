"""Mutant: the heartbeat gives up for good after its 2nd failed heartbeat (a failure counter that a
success never resets): the agent keeps running — no crash, no restart, /healthz stays live, the
failures were logged with their cause — but it never sends another heartbeat, and says nothing.
(Two, not one: the flapping scenario always makes three heartbeats fail, and error_kind needs two
of them logged, so only the promise "the heartbeats come back" is broken.)

Must be flagged by: center-flapping / resumes.
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

GIVE_UP_AFTER = 2

_request_json = agent.request_json
_heartbeat_loop = agent.Agent.heartbeat_loop
_failed = [0]


class _HeartbeatStopped(Exception):
    """Raised instead of sending a heartbeat once the loop has given up."""


def request_json(method, url, body=None, **kwargs):
    if url.endswith("/v1/heartbeat"):
        if _failed[0] >= GIVE_UP_AFTER:
            raise _HeartbeatStopped()
        answer = _request_json(method, url, body, **kwargs)
        if answer.status != 200:
            _failed[0] += 1
        return answer
    return _request_json(method, url, body, **kwargs)


def heartbeat_loop(self):
    try:
        return _heartbeat_loop(self)
    except _HeartbeatStopped:
        pass
    # the heartbeat has quietly stopped; the main loop keeps ticking (live, no watchdog exit)
    while not self.stop.is_set():
        if self.hang.is_set():
            self._hung()
            break
        self.health.tick()
        self.stop.wait(1.0)
    return agent.EXIT_OK


agent.request_json = request_json
agent.Agent.heartbeat_loop = heartbeat_loop
