"""Rename every event, key, path and diagnosis word of the reference agent (run at image build).

The renamed copy behaves exactly like the reference agent; only what can be seen from outside is
named otherwise: log keys and event names, health paths, center paths, config file name, the text
of its diagnosis lines. Usage: python3 rename.py /app/agent
"""

import pathlib
import sys

EVENTS = {"register_attempt": "enroll_try", "register_result": "enroll_done", "registered": "enrolled",
          "register_rejected": "enroll_refused", "register_gave_up": "enroll_abandoned", "backoff": "pause",
          "breaker": "fuse", "preflight_fail": "check_failed", "preflight_warn": "check_warned",
          "preflight_ok": "checks_passed", "config_wait": "settings_wait", "config_loaded": "settings_loaded",
          "region": "zone_resolved", "agent_start": "boot", "heartbeat": "pulse", "log_export": "ship",
          "hang": "stall", "watchdog": "dog", "shutdown": "stopping"}
TEXT = {'"ts": round(time.time(), 6), "event": event': '"at": round(time.time(), 6), "kind": event',
        'rec["ts"]': 'rec["at"]', 'emit("stage", stage=': 'emit("phase", phase=',
        '"/startup"': '"/boot"', '"/ready"': '"/ok"', '"/healthz"': '"/alive"',
        '"/v1/register"': '"/api/enroll"', '"/v1/heartbeat"': '"/api/pulse"', '"/v1/logs"': '"/api/ship"',
        'CONFIG_FILE = "agent.json"': 'CONFIG_FILE = "settings.json"',
        "PREFLIGHT FAIL": "STARTUP CHECK FAILED", "PREFLIGHT WARN": "STARTUP CHECK WARNING",
        "REGISTER REJECTED": "ENROLL REFUSED", **{f'emit("{a}"': f'emit("{b}"' for a, b in EVENTS.items()},
        'NOT_EXPORTED = frozenset({"log_export"})': 'NOT_EXPORTED = frozenset({"ship"})'}


def main(folder: str) -> None:
    for path in pathlib.Path(folder).glob("*.py"):
        text = path.read_text()
        for old, new in TEXT.items():
            text = text.replace(old, new)
        path.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1])
