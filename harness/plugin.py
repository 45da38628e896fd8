"""The pytest plugin (entry point ``pytest11: startle``): ``scenarios/*.yaml`` become test items.

Each scenario file is one item, marked ``scenario`` and ``docker``. Run them with
``pytest scenarios/``; a failure shows each failed check with its numbers and the agent's log tail.
At the end of the session the run's reports are written like ``startle run`` writes them.

Options (group "startle"): ``--startle-profile``, ``--startle-image``, ``--startle-no-report``,
``--startle-no-pool``. Scenarios run on a pooled world per session (per xdist worker; harness/pool.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness.errors import InputError

_RESULTS_KEY = pytest.StashKey[list]()
_RUN_KEY = pytest.StashKey[object]()
_POOL_KEY = pytest.StashKey[object]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("startle", "startle scenarios")
    group.addoption("--startle-profile", default=None, help="agent profile for every scenario")
    group.addoption("--startle-image", default=None, help="agent image to test instead of the profile's")
    group.addoption("--startle-no-report", action="store_true", help="do not write reports/<run-id>/")
    group.addoption("--startle-no-pool", action="store_true",
                    help="build a world (network, center, Toxiproxy) for each scenario instead of pooling one")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario: a startle scenario collected from scenarios/*.yaml")
    config.addinivalue_line("markers", "docker: needs a running Docker engine and the built images")
    config.addinivalue_line("markers", "second_engine: starts a second dockerd on this machine "
                            "(harness/second_engine.py: root, ip, iptables)")
    config.stash[_RESULTS_KEY] = []


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.name == "pairs.yaml" and file_path.parent.name == "combinations":
        return CombinationsFile.from_parent(parent, path=file_path)
    if file_path.suffix == ".yaml" and "scenarios" in file_path.parent.parts:  # scenarios/field/ too
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def session_run(config: pytest.Config):
    """One :class:`~harness.runtime.Run` per pytest session (per xdist worker)."""
    from harness.runtime import Run, docker_client, reap_stale
    if _RUN_KEY not in config.stash:
        reap_stale(docker_client())
        config.stash[_RUN_KEY] = Run()
    return config.stash[_RUN_KEY]


def session_pool(config: pytest.Config):
    """The session's :class:`~harness.pool.WorldPool` (None with ``--startle-no-pool``)."""
    from harness.pool import WorldPool
    if config.getoption("--startle-no-pool"):
        return None
    if _POOL_KEY not in config.stash:
        config.stash[_POOL_KEY] = WorldPool(session_run(config))
    return config.stash[_POOL_KEY]


class ScenarioFile(pytest.File):
    def collect(self):
        from harness.scenario import load_scenario
        try:
            scenario = load_scenario(self.path)
        except InputError as exc:
            raise self.CollectError(str(exc)) from None
        item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
        item.add_marker(pytest.mark.scenario)
        item.add_marker(pytest.mark.docker)
        yield item


class CombinationsFile(pytest.File):
    """scenarios/combinations/pairs.yaml: one item per generated pair (harness/combinations.py)."""

    def collect(self):
        from harness.combinations import generate
        from harness.profile import load_profile
        try:
            profile = load_profile(self.config.getoption("--startle-profile") or "reference")
            scenarios = generate(self.path, profile.preflight_order)
        except InputError as exc:
            raise self.CollectError(str(exc)) from None
        for scenario in scenarios:
            item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
            item.add_marker(pytest.mark.scenario)
            item.add_marker(pytest.mark.docker)
            yield item


class ScenarioFailed(Exception):
    """Raised by a scenario item whose checks failed; carries the result."""

    def __init__(self, result) -> None:
        super().__init__(result.summary_line())
        self.result = result


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        from harness.lifecycle import run_scenario
        from harness.profile import load_profile
        config = self.config
        profile_name = config.getoption("--startle-profile")
        result = run_scenario(self.scenario, session_run(config),
                              profile=load_profile(profile_name) if profile_name else None,
                              image=config.getoption("--startle-image"), pool=session_pool(config))
        config.stash[_RESULTS_KEY].append(result)
        for verdict in result.skipped_checks:  # judged without these: said in junit's properties
            self.user_properties.append((f"skipped check {verdict['check']}", verdict["message"]))
        if result.status == "skip":
            pytest.skip(f"{result.name}: {result.error}")  # nothing could be judged, never a silent pass
        if result.status != "pass":
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailed):
            result = excinfo.value.result
            if result.status == "error":
                return f"harness error: {result.error}"
            lines = [f"scenario {result.name} failed:"]
            for verdict in result.failed_checks:
                lines.append(f"  {verdict['check']}: {verdict['message']}")
            for verdict in result.skipped_checks:
                lines.append(f"  (not judged) {verdict['check']}: {verdict['message']}")
            lines.append("agent log (tail):")
            lines.extend(f"  {line}" for line in result.agent_log_tail[-15:])
            return "\n".join(lines)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"scenario: {self.name}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _POOL_KEY in config.stash:
        config.stash[_POOL_KEY].close()
    results = config.stash.get(_RESULTS_KEY, [])
    if not results or config.getoption("--startle-no-report") or _RUN_KEY not in config.stash:
        return
    from harness.doctor import host_facts
    from harness.errors import InfrastructureError
    from harness.reports import write_run
    try:
        write_run(config.stash[_RUN_KEY], results, host_facts(), time.time())
    except InfrastructureError as exc:  # the reports disk: the verdicts stand, the reports are elsewhere
        print(f"\nstartle: {exc}", file=sys.stderr)
        session.exitstatus = 3
