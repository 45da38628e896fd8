"""Mutant: ignores SIGTERM, so `docker stop` has to kill it after the grace (exit 137).

Must be flagged by: graceful-stop / stops_gracefully.
"""
import signal
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

_install = agent.install_signal_handlers


def install_signal_handlers(stop, received):
    _install(stop, received)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


agent.install_signal_handlers = install_signal_handlers
