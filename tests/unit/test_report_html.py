"""report.html from synthetic runs (no Docker, no browser): structure, links, offline, plots, bands, log window."""

import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.config import ROOT
from harness.lifecycle import ScenarioResult
from harness.reports import write_run
from harness.reports.html import deciding_time, log_window
from harness.reports.journal import ScenarioRecord
from harness.reports.plots import band, ceilings_s, retry_gaps
from harness.runtime import Run

POLICY = {"base_ms": 100, "factor": 2, "cap_ms": 4000, "jitter": "full", "breaker_threshold": 10}


def synthetic_results(n):
    """benchmarks/report_build.py's generator (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("report_build", ROOT / "benchmarks" / "report_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_results(n, seed=3)


class Page(HTMLParser):
    """Ids, in-page links, summary rows and scenario sections of a page, by status."""

    def __init__(self, text):
        super().__init__()
        self.ids, self.links, self.rows, self.sections = [], [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.append(attrs["href"][1:])
        if tag == "tr" and "scenario-row" in classes:
            self.rows.append(attrs["data-status"])
        if tag == "section" and "scenario" in classes:
            self.sections.append(attrs["id"])


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    results = synthetic_results(14)
    folder = write_run(Run(reports_root=tmp_path_factory.mktemp("reports"), run_id="r1", started=1.0), results,
                       {"hostname": "ci-host", "kernel": "6.1.0", "cpus": 2}, finished=2_000_000_000.0)
    return results, (folder / "report.html").read_text()


def test_every_scenario_has_a_row_and_a_section_and_every_link_resolves_to_a_unique_id(report):
    results, text = report
    page = Page(text)
    assert sorted(page.rows) == sorted(r.status for r in results)
    assert page.rows[0] == "fail" and {"fail", "skip", "error", "pass"} <= set(page.rows)  # failures first
    assert sorted(page.sections) == sorted(f"s-{r.name}" for r in results)
    assert {f"s-{r.name}" for r in results} <= set(page.links)
    assert set(page.links) <= set(page.ids)
    assert len(page.ids) == len(set(page.ids))  # matplotlib's per-plot group ids are dropped


def test_failed_checks_and_skip_reasons_are_shown(report):
    results, text = report
    failed = [v for r in results if r.status == "fail" for v in r.failed_checks]
    assert failed
    for verdict in failed:
        assert verdict["message"] in text
    skipped = next(r for r in results if r.status == "skip")
    assert f"<b>skipped:</b> {skipped.error}" in text
    assert "ci-host" in text and "resilience score" in text


def test_the_page_loads_nothing_from_the_network(report):
    _, text = report
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//|@import|<script|<link|<iframe|<img", text, re.I)


def test_a_timeline_for_each_run_scenario_and_a_gap_plot_for_each_retrying_one(report):
    results, text = report
    ran = [r for r in results if r.status in ("pass", "fail")]
    retrying = [r for r in ran if sum(e["kind"] == "attempt" for e in r.timeline) >= 2]
    assert text.count('<figure class="plot timeline"><svg') == len(ran)
    assert text.count('<figure class="plot gaps"><svg') == len(retrying) > 0
    assert "<?xml" not in text and "<!DOCTYPE svg" not in text


def test_band_of_full_equal_and_no_jitter():
    ceilings = ceilings_s(POLICY, [1, 2, 3, 6, 7])
    assert ceilings == [0.1, 0.2, 0.4, 3.2, 4.0]  # min(cap, base · factor^(k-1))
    assert band(ceilings[:2], "full") == [(0.0, 0.1), (0.0, 0.2)]
    assert band(ceilings[:2], "equal") == [(0.05, 0.1), (0.1, 0.2)]
    assert band(ceilings[:2], "none") == [(0.1, 0.1), (0.2, 0.2)]
    assert band(ceilings[:2], "decorrelated", base_s=0.1, cap_s=4.0) == [(0.1, 4.0), (0.1, 4.0)]


def test_band_of_a_constant_policy_stays_at_its_base():
    constant = {"family": "constant", "base_ms": 1000, "factor": 2, "cap_ms": 5000, "jitter": "none"}
    assert ceilings_s(constant, [1, 2, 3, 4]) == [1.0, 1.0, 1.0, 1.0]  # not 1, 2, 4, 5
    assert band(ceilings_s(constant, [1, 2]), "none") == [(1.0, 1.0), (1.0, 1.0)]
    assert ceilings_s({**constant, "cap_ms": 500}, [3]) == [0.5]  # the cap still bounds it


def test_a_constant_policy_agent_is_drawn_inside_its_band():
    constant = {"family": "constant", "base_ms": 1000, "cap_ms": 5000, "jitter": "none"}
    timeline = [register(100.0 + k, k + 1, 503) for k in range(5)]
    gaps = retry_gaps(scenario(timeline, policy=constant), timeline)
    assert gaps.band == [(1.0, 1.0)] * 4 and not any(gaps.outside())


def scenario(timeline, verdicts=(), policy=POLICY):
    result = ScenarioResult("s", "network", status="pass", started=99.0, finished=140.0, agent_started=100.0,
                            profile="reference",
                            verdicts=list(verdicts), policy=policy, timeline=timeline)
    return ScenarioRecord.model_validate(result.to_dict())


def register(t, attempt, status):
    return {"source": "center", "kind": "request", "t": t, "container": "center",
            "fields": {"path": "/v1/register", "attempt": attempt, "status": status}}


def test_retry_gaps_from_the_center_log_flag_gaps_outside_the_band_and_restarts():
    # attempts 1-3 fail (gaps 0.05 s, 2.0 s: above the 0.2 s ceiling + 0.25 s), then the agent restarts
    timeline = [register(100.0, 1, 503), register(100.05, 2, 503), register(102.05, 3, 503),
                register(110.0, 1, 503), register(110.08, 2, 200)]
    gaps = retry_gaps(scenario(timeline), timeline)
    assert gaps.x == [1, 2, 1] and gaps.gaps_s == [0.05, 2.0, 0.08]
    assert gaps.band == [(0.0, 0.1), (0.0, 0.2), (0.0, 0.1)]
    assert gaps.outside() == [False, True, False] and gaps.restarts == [2]
    assert retry_gaps(scenario(timeline[:1]), timeline[:1]) is None


def test_retry_gaps_prefer_the_retry_schedule_measurement():
    verdict = {"check": "retry_schedule", "status": "pass", "message": "ok", "decided_at": 105.0,
               "measured": {"backoff_gaps_s": [0.05, 0.15], "ceilings_s": [0.1, 0.2], "jitter": "equal",
                            "excluded": {"breaker": 1, "retry_after": 0}}}
    gaps = retry_gaps(scenario([], [verdict]), [])
    assert gaps.gaps_s == [0.05, 0.15] and gaps.band == [(0.05, 0.1), (0.1, 0.2)]
    assert "1 breaker" in gaps.source
    verdict["measured"]["source"] = "center+wire"
    label = retry_gaps(scenario([], [verdict]), []).source
    assert "from the center's request log and unanswered connections on the wire" in label  # where they came from


def test_retry_gaps_from_the_timeline_say_their_source():
    timeline = [register(100.0, 1, 503), register(100.05, 2, 503), register(100.2, 3, 200)]
    assert "(the center's request log" in retry_gaps(scenario(timeline), timeline).source


def agent_event(t, kind, **fields):
    return {"source": "agent", "kind": kind, "t": t, "container": "agent", "fields": {"event": kind, **fields}}


def test_log_window_shows_lines_around_the_deciding_event():
    events = [agent_event(100.0 + i, "heartbeat", seq=i) for i in range(30)]
    events.append({"source": "center", "kind": "request", "t": 115.3, "container": "center", "fields": {}})
    verdicts = [{"check": "ready", "status": "pass", "message": "ok", "decided_at": 120.0},
                {"check": "recovers", "status": "fail", "message": "no", "decided_at": 115.3},
                {"check": "resumes", "status": "fail", "message": "no", "decided_at": 125.0}]
    deciding = deciding_time(scenario(events, verdicts))
    assert deciding == 115.3  # the first failed verdict's, not the last one's
    lines = log_window(events, deciding, zero=100.0, around=8)
    assert len(lines) == 17
    assert [hit for _, hit in lines].index(True) == 8
    assert lines[8][0] == "  +15.000 s  heartbeat        seq=15"
    assert lines[0][0].startswith("   +7.000 s") and lines[-1][0].startswith("  +23.000 s")
    tail = log_window(events, None, zero=100.0, around=8)
    assert len(tail) == 9 and not any(hit for _, hit in tail)
