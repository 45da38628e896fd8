"""A pooled world is as good as a new one (harness/pool.py): a scenario that runs after one that
left every kind of state behind on the same network, center and Toxiproxy is judged exactly as on
a world of its own."""

import time

from harness.config import LABEL_EXECUTION, LABEL_ROLE, LABEL_RUN, LABEL_SCENARIO, SCENARIOS_DIR
from harness.lifecycle import run_scenario
from harness.pool import WorldPool
from harness.profile import load_profile
from harness.runtime import Run, leftovers
from harness.scenario import load_scenario

SCENARIO = "center-503-then-ok"  # retry gaps, registration and readiness: what leftovers would spoil


def verdicts(result) -> list[tuple[str, str]]:
    return [(v["check"], v["status"]) for v in result.verdicts]


def pollute(docker, infra, profile) -> str:
    """What a scenario whose cleanup failed would leave: the center failing slowly forever, a
    latency toxic, the proxy disabled, a stray proxy, and a crash-looping agent of another scenario
    that registers on each of its starts. Returns the crash-looper's container id."""
    infra.center.behaviour(fail_forever=True, status=500, delay_ms=800, region="polluted",
                           paths=[profile.center.register_path])
    infra.toxiproxy.add_toxic("center", "latency", "left-behind", latency=3000)
    infra.toxiproxy.set_enabled("center", False)
    infra.toxiproxy.create_proxy("stray", "0.0.0.0:18099", "center:8080")
    method, path = profile.center.register_route.split(" ", 1)
    register = (f"import urllib.request as u; u.urlopen(u.Request('http://center:8080{path}', method='{method}', "
                f"data=b'{{\"node_id\": \"leftover\"}}', headers={{'Content-Type': 'application/json'}}), timeout=5)")
    labels = {**infra.labels, LABEL_SCENARIO: "leftover", LABEL_EXECUTION: "leftover-1", LABEL_ROLE: "agent"}
    looper = docker.containers.run(profile.images["amd64"], entrypoint=["python3", "-c", register + "; exit(1)"],
                                   detach=True, network=infra.network.name, labels=labels,
                                   restart_policy={"Name": "always"}, name=f"{infra.prefix}-leftover")
    # the looper's first registration reaches the (failing) center: long polls wait for it
    index, seen, deadline = 0, [], time.monotonic() + 30
    while not any(r.get("node_id") == "leftover" for r in seen):
        assert time.monotonic() < deadline, f"the leftover never reached the center: {seen[-3:]}"
        index, seen = infra.center.requests_since(index, wait_s=5)
    return looper.id


def test_a_scenario_after_a_polluting_one_is_judged_as_on_a_world_of_its_own(docker):
    profile = load_profile("reference")
    scenario = load_scenario(SCENARIOS_DIR / f"{SCENARIO}.yaml")
    run = Run()
    pool = WorldPool(run)
    try:
        first = run_scenario(scenario.model_copy(update={"name": "polluter"}), run, pool=pool)
        assert first.status == "pass", first.summary_line()  # and node-polluter is registered
        infra = pool.current()
        assert infra is not None and "node-polluter" in infra.center.nodes()
        looper = pollute(docker, infra, profile)

        pooled = run_scenario(scenario, run, pool=pool)
        fresh = run_scenario(scenario.model_copy(update={"name": "fresh"}), run)

        assert pool.builds == 1 and pool.current() is infra, "the second scenario ran on the same pooled world"
        assert pooled.status == fresh.status == "pass", (pooled.summary_line(), fresh.summary_line())
        assert verdicts(pooled) == verdicts(fresh)
        # nothing of the first scenario or of the leftover reached the second's timeline
        nodes = {e["fields"].get("node_id") for e in pooled.timeline if e["source"] == "center"
                 and e["kind"] == "request"}
        assert nodes - {None} == {f"node-{SCENARIO}"}, nodes  # None: requests that name no node (metadata)
        ids = {e["fields"].get("id") for e in pooled.timeline if e["source"] == "docker"}
        assert looper[:12] not in ids and {i for i in ids if i}, ids
        # the reset removed the leftover and left Toxiproxy with its one clean proxy
        assert not docker.containers.list(all=True, filters={"label": [f"{LABEL_SCENARIO}=leftover"]})
        proxies = infra.toxiproxy.state()
        assert list(proxies) == ["center"] and proxies["center"]["enabled"] and not proxies["center"]["toxics"]
    finally:
        pool.close()
    assert leftovers(docker, {LABEL_RUN: run.run_id}) == []


def test_an_agent_network_of_its_own_leaves_the_pooled_toxiproxy_reachable(docker):
    """advertise-forwarded puts the agent on a network of its own that the pooled Toxiproxy joins
    (and a forward proxy on it); once that network is removed with the scenario, Toxiproxy's API
    must still answer on its published port (Docker drops a container's published ports when the
    network that gives it its gateway goes), so the next scenario runs on the same world."""
    run = Run()
    pool = WorldPool(run)
    try:
        isolated = run_scenario(load_scenario(SCENARIOS_DIR / "advertise-forwarded.yaml"), run, pool=pool)
        infra = pool.current()
        after = run_scenario(load_scenario(SCENARIOS_DIR / "baseline.yaml"), run, pool=pool)
        assert isolated.status == after.status == "pass", (isolated.summary_line(), after.summary_line())
        assert pool.builds == 1 and pool.current() is infra, "the reset failed: the pool built a new world"
        assert list(infra.toxiproxy.state()) == ["center"]
    finally:
        pool.close()
    assert leftovers(docker, {LABEL_RUN: run.run_id}) == []
