"""Mutant: starts without its config. When the config is missing, empty, unreadable or malformed
it carries on with built-in defaults, registers and reports ready.

Must be flagged by: config-missing / never_ready (readiness must stay false without a config).
"""
import sys

sys.path.insert(0, "/app/agent")
import preflight  # noqa: E402

_check_config = preflight.check_config


def check_config(cdir=None, waited_s=0.0):
    try:
        return _check_config(cdir, waited_s)
    except preflight.PreflightFailure as failure:
        if not failure.check.startswith("config-"):
            raise
        return "(defaults)", preflight.merge_config({}), []


preflight.check_config = check_config
