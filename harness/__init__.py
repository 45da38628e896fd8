"""startle: a test and chaos harness for the startup reliability of an edge agent in Docker.

Layout (read in this order):
  scenario.py, profile.py   what to run: validated YAML models
  faults/                   one module per fault family, registered by type name
  checks/                   typed expectations evaluated on the timeline
  timeline.py               the event record every verdict is computed from
  containers.py, runtime.py the container world of one scenario (testcontainers + docker SDK)
  collectors.py             Docker events, agent log lines, center requests -> timeline
  lifecycle.py              one scenario, start to finish (cleanup in ``finally``)
  report.py                 results.json, junit.xml, reports/latest
  doctor.py, cli.py         the ``startle`` command; plugin.py the pytest plugin
"""

__version__ = "0.1.0"
