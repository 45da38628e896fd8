"""Mutant: says nothing about a Docker socket bind-mounted read-only — as if ``:ro`` restricted the
Docker API (it does not: connect() ignores the mount's ro flag). Preflight still checks that the
socket is there and connectable (exit codes and diagnoses unchanged); only the warning is gone.

Must be flagged by: docker-sock-readonly / says (no preflight_warn docker-socket
/var/run/docker.sock "mounted read-only"); security_context and ready still pass.
"""
import sys

sys.path.insert(0, "/app/agent")
import preflight  # noqa: E402  (preflight.run looks the function up in this module at call time)

preflight.docker_socket_warning = lambda path=None: None
