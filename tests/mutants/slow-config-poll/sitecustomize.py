"""Mutant: waits for a late config by looking every 9 s instead of every 0.2 s: the config that
appears is picked up seconds late.

Must be flagged by: config-late / config_picked_up.
"""
import sys

sys.path.insert(0, "/app/agent")
import preflight  # noqa: E402

preflight.CONFIG_POLL_S = 9.0
