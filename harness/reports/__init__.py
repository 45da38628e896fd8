"""Run reports, all built from one journal (``results.json``) and the scenarios' timelines.

journal.py  the versioned schema, writing and loading      junit.py    junit.xml
tables.py   pandas tables: events, per-scenario figures     score.py    resilience score
plots.py    matplotlib timeline and retry-gap plots (SVG)   html.py     report.html
summary.py  summary.md / $GITHUB_STEP_SUMMARY               compare.py  run-vs-run release gate
build.py    writes them all (``write_run``, ``build_reports``)
"""

__all__ = ["build_reports", "write_run"]


def __getattr__(name: str):
    """``from harness.reports import write_run`` without importing every writer up front."""
    if name in __all__:
        from harness.reports import build
        return getattr(build, name)
    raise AttributeError(name)
