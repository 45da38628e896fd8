"""startle: a test and chaos harness for the startup reliability of an edge agent in Docker.

Layout (read in this order):
  scenario.py, profile.py   what to run: validated YAML models
  faults/                   one module per fault family, registered by type name
  checks/                   typed expectations evaluated on the timeline
  timeline.py               the event record every verdict is computed from
  containers.py, runtime.py the container world of one scenario (testcontainers + docker SDK)
  pool.py                   a worker's world kept between scenarios and reset in between
  collectors.py             Docker events, agent log lines, center requests -> timeline
  lifecycle.py              one scenario, start to finish (cleanup in ``finally``)
  reports/                  results.json, junit.xml, report.html, compare, merge of shards
  shard.py                  which scenarios a ``--shard K/N`` runs
  doctor.py, cli.py         the ``startle`` command; plugin.py the pytest plugin
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"


@functools.lru_cache(maxsize=1)
def build_id() -> str:
    """``<version>+<digest of this package's code>``: two startles that judge alike say the same,
    two commits that changed the harness do not (what ``startle merge`` compares)."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml", ".j2", ".sh") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:10]}"
