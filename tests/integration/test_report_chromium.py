"""report.html rendered by Debian's headless Chromium (no Docker): the rendered DOM holds every
summary row, section and plot, and a screenshot of the page is neither blank nor unstyled.

Chromium never reaches the network: the page has no external reference, background networking is
off and every host name resolves to nothing.
"""

import importlib.util
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from harness.config import ROOT
from harness.reports import write_run
from harness.runtime import Run

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(scripts/setup.sh installs Debian's chromium package)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND"]
FAIL_RGB = (0xCF, 0x22, 0x2E)
"""The fail badge's colour (plots.COLOURS['5xx'], the page's --fail)."""


class Dom(HTMLParser):
    """Counts in a serialized DOM: summary rows by status, scenario sections, plots per kind."""

    def __init__(self, text):
        super().__init__()
        self.rows, self.sections, self.plots, self.figure = [], [], {"timeline": 0, "gaps": 0}, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "tr" and "scenario-row" in classes:
            self.rows.append(attrs["data-status"])
        elif tag == "section" and "scenario" in classes:
            self.sections.append(attrs["id"])
        elif tag == "figure" and "plot" in classes:
            self.figure = classes[-1]
        elif tag == "svg" and self.figure:
            self.plots[self.figure] += 1
            self.figure = None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A run of 10 synthetic scenarios (one fail, one skip, one error) and its report.html."""
    spec = importlib.util.spec_from_file_location("report_build", ROOT / "benchmarks" / "report_build.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.synthetic_results(10, seed=5)
    folder = write_run(Run(reports_root=tmp_path_factory.mktemp("reports"), run_id="chromium", started=bench.T0),
                       results, bench.HOST, finished=bench.T0 + 600)
    return results, folder / "report.html"


def chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_rendered_dom_has_every_row_section_and_plot(report, tmp_path):
    results, page = report
    dom = Dom(chromium(tmp_path, "--dump-dom", page.as_uri()).stdout)
    assert sorted(dom.rows) == sorted(r.status for r in results)
    assert {"pass", "fail", "skip", "error"} <= set(dom.rows)
    assert sorted(dom.sections) == sorted(f"s-{r.name}" for r in results)
    ran = [r for r in results if r.status in ("pass", "fail")]
    retrying = [r for r in ran if sum(e["kind"] == "attempt" for e in r.timeline) >= 2]
    assert dom.plots == {"timeline": len(ran), "gaps": len(retrying)}


def test_screenshot_is_styled_and_not_blank(report, tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    _, page = report
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri())
    assert shot.stat().st_size > 50_000
    with image_module.open(shot) as image:
        assert image.size == (1280, 4000)
        pixels = np.asarray(image.convert("RGB"), dtype=int).reshape(-1, 3)
    ink = (pixels.sum(axis=1) < 600).mean()
    assert ink > 0.02, f"only {ink:.1%} of the page is not white"
    fail_coloured = (np.abs(pixels - FAIL_RGB) < 40).all(axis=1).sum()
    assert fail_coloured > 100, "no fail-coloured pixels: the page's CSS did not apply"
