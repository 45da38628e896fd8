"""The storm takes the agent from its profile (no Docker): the register route, what registers (any
2xx), what is retried and whether Retry-After is honoured; a profile it cannot storm is refused
with the file, the field and the fix; the real fleet tells its agents apart and counts only their
registration attempts."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from harness.clients import RequestLog
from harness.containers import AgentSpec, ConfigCopy
from harness.errors import InputError
from harness.profile import PROFILES_DIR, load_profile
from harness.storm import cli, fleet, metrics
from harness.storm import policies as pol
from harness.storm.simagent import COLUMNS, SimulatedAgent
from harness.storm.target import StormTarget, target_of
from harness.storm.wire import Answer
from harness.view import Route

T0 = 1_000.0


@pytest.fixture(scope="module")
def prometheus():
    return load_profile("tp-prometheus")


def edited(tmp_path: Path, name: str, **changes) -> Path:
    """A copy of profile ``name`` with top-level sections updated (dicts merged one level deep)."""
    data = yaml.safe_load((PROFILES_DIR / f"{name}.yaml").read_text())
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / f"{name}-edited.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# --- refusal ------------------------------------------------------------------------------------
def test_an_mqtt_agent_with_its_own_center_is_refused_naming_file_field_and_fix():
    with pytest.raises(InputError) as caught:
        cli.settings_from(cli.parser().parse_args(["--mode", "outage", "--containers", "3",
                                                   "--profile", "tp-mosquitto"]))
    err = caught.value
    assert err.path.endswith("fixtures/profiles/tp-mosquitto.yaml") and err.field == "center.register"
    assert "center.protocol: tcp" in err.problem and "center.image" in err.problem
    assert "center.register: METHOD /path" in err.fix


def test_the_cli_exits_2_before_touching_docker(capsys):
    assert cli.main(["--mode", "outage", "--containers", "3", "--profile", "tp-mosquitto"]) == cli.EXIT_INPUT
    assert "tp-mosquitto.yaml: center.register:" in capsys.readouterr().err


def test_an_http_agent_with_its_own_center_image_is_refused(tmp_path):
    path = edited(tmp_path, "tp-prometheus", center={"image": {"image": "x/center", "port": 80,
                                                                "ready": {"tcp": {"port": 80}}}})
    with pytest.raises(InputError) as caught:
        target_of(load_profile(path))
    assert caught.value.field == "center.image" and caught.value.path == str(path)


def test_the_fleet_refuses_what_it_cannot_count_before_starting_anything():
    policy = pol.PolicySpec("profile", 100, 1000)
    with pytest.raises(InputError, match="center.register"):
        fleet.cross_check(None, load_profile("tp-mosquitto"), 3, fleet.ModeParams("outage"), policy)


def test_no_retry_policy_is_refused(tmp_path):
    path = edited(tmp_path, "tp-prometheus", retry_policy=None)
    with pytest.raises(InputError, match="retry_policy"):
        cli.settings_from(cli.parser().parse_args(["--profile", str(path)]))


# --- the simulated agent ------------------------------------------------------------------------
class Center:
    """Scripted answers on a fake clock."""

    def __init__(self, answers):
        self.t, self.answers, self.sent = T0, list(answers), []

    def clock(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds

    def send(self, method, path, body):
        self.sent.append((method, path))
        self.t += 0.01
        return self.answers.pop(0) if self.answers else Answer(204)


def simulate(profile, answers, name="profile", seed=1):
    spec = pol.make_policies([name], base_ms=100, cap_ms=2000, factor=2.0, deadline_s=60, profile=profile)[0]
    center, records = Center(answers), []
    agent = SimulatedAgent("n1", pol.Backoff(spec), center.send, center.sleep, center.clock, random.Random(seed),
                           records=records, start=center.t, monotonic=center.clock, target=target_of(profile))
    outcome = agent.run()
    return outcome, center, {c: [r[COLUMNS.index(c)] for r in records] for c in COLUMNS}


def test_registers_on_the_profile_s_route_and_any_2xx_registers(prometheus):
    outcome, center, rec = simulate(prometheus, [Answer(503), Answer(204)])
    assert outcome == "registered" and rec["status"] == [503, 204]
    assert center.sent == [("POST", "/api/v1/write")] * 2


def test_only_the_declared_statuses_are_retried(prometheus):
    assert 501 in prometheus.retry_policy.retry_statuses and 408 not in prometheus.retry_policy.retry_statuses
    outcome, _c, rec = simulate(prometheus, [Answer(501), Answer(None, error="refused"), Answer(204)])
    assert outcome == "registered" and rec["status"] == [501, None, 204]
    outcome, _c, rec = simulate(prometheus, [Answer(408)])  # the reference agent retries it; Prometheus does not
    assert outcome == "rejected" and rec["status"] == [408]
    reference = load_profile("reference")  # and the reference agent does not retry a 501
    assert simulate(reference, [Answer(501)])[0] == "rejected"
    assert simulate(reference, [Answer(408)])[0] == "registered"


def test_generic_policies_retry_what_the_profile_retries(prometheus):
    for spec in pol.make_policies(list(pol.POLICY_NAMES), base_ms=100, cap_ms=2000, factor=2, deadline_s=60,
                                  profile=prometheus):
        assert spec.retry_statuses == tuple(prometheus.retry_policy.retry_statuses), spec.name
        assert pol.PolicySpec.from_dict(spec.to_dict()) == spec  # through the locust config (JSON)


def test_a_declared_honoured_retry_after_replaces_the_backoff_without_jitter_for_a_jitterless_agent(prometheus):
    assert prometheus.retry_policy.jitter == "none"
    outcome, _c, rec = simulate(prometheus, [Answer(429, retry_after="3")])
    assert outcome == "registered" and rec["sleep_s"][0] == pytest.approx(3.0)


def test_retry_after_declared_ignored_is_ignored(tmp_path, prometheus):
    deaf = load_profile(edited(tmp_path, "tp-prometheus", retry_policy={"honours_retry_after": False}))
    (spec,) = pol.make_policies(["profile"], base_ms=1, cap_ms=1, factor=1, deadline_s=60, profile=deaf)
    assert spec.retry_after == "ignore"
    outcome, _c, rec = simulate(deaf, [Answer(429, retry_after="3"), Answer(429, retry_after="3")])
    assert outcome == "registered"
    assert rec["sleep_s"][:2] == pytest.approx([0.1, 0.2])  # its own doubling from min_backoff


def test_the_declaration_of_tp_mosquitto_is_not_honoured_by_the_storm_policy():
    (spec,) = pol.make_policies(["profile"], base_ms=1, cap_ms=1, factor=1, deadline_s=60,
                                profile=load_profile("tp-mosquitto"))
    assert spec.retry_after == "ignore" and spec.retry_statuses == ()


# --- the center's records -----------------------------------------------------------------------
def test_record_kinds_come_from_the_profile_s_route(prometheus):
    log = [{"ts": T0, "method": "POST", "path": "/api/v1/write", "node_id": "a", "status": 204},
           {"ts": T0 + 1, "method": "GET", "path": "/api/v1/write", "node_id": "a", "status": 405},
           {"ts": T0 + 2, "method": "POST", "path": "/v1/register", "node_id": "a", "status": 200},
           {"ts": T0 + 3, "method": "GET", "path": "/v1/registry", "node_id": "a", "status": 200}]
    frame = metrics.records_from_center_log(log, target_of(prometheus))
    assert frame["kind"].tolist() == ["register", "/api/v1/write", "/v1/register", "read"]
    s = metrics.summarise(frame, agents=1, t_ref=T0)
    assert s["attempts"] == 1 and s["registered"] == 1 and s["center_ok"] == 1  # a 204 registers
    reference = metrics.records_from_center_log(log, target_of(load_profile("reference")))
    assert reference["kind"].tolist() == ["/api/v1/write", "/api/v1/write", "register", "read"]


def test_contention_makes_the_register_route_the_center_s_conditional_write(prometheus):
    target = target_of(prometheus)
    assert target.center_routes() == [r.model_dump(exclude_none=True) for r in prometheus.center.routes]
    assert target.center_routes(contention=True) == [{"method": "POST", "path": "/api/v1/write", "builtin": "register"}]
    assert StormTarget.from_dict(target.to_dict()) == target


# --- the real fleet -----------------------------------------------------------------------------
class Container:
    """What Senders reads of a docker SDK container after a (re)start."""

    def __init__(self, started: str, address: str | None):
        self.attrs = {"State": {"StartedAt": started},
                      "NetworkSettings": {"Networks": {"bridge": {"IPAddress": address}}}}

    def reload(self):
        pass


def test_senders_named_by_node_id_or_by_their_address_at_that_time():
    senders = fleet.Senders(["fleet-0001", "fleet-0002"])
    senders.record_start("fleet-0001", Container("1970-01-01T00:16:40Z", "172.17.0.2"))         # T0
    senders.record_start("fleet-0002", Container("1970-01-01T00:16:40.5Z", "172.17.0.3"))
    # restarted: 0001 now has 0002's old address, 0002 a new one
    senders.record_start("fleet-0002", Container("1970-01-01T00:16:50.000000001Z", "172.17.0.4"))
    senders.record_start("fleet-0001", Container("1970-01-01T00:16:51Z", "172.17.0.3"))
    records = [{"ts": T0 + 1, "remote": "172.17.0.3", "node_id": None},    # 0002 before its restart
               {"ts": T0 + 11, "remote": "172.17.0.3", "node_id": None},   # 0001 after its restart
               {"ts": T0 + 11, "remote": "172.17.0.9", "node_id": None},   # nobody of the fleet
               {"ts": T0 + 12, "remote": "10.0.0.1", "node_id": "fleet-0002"},  # names itself
               {"ts": T0 + 5, "remote": "172.17.0.2", "node_id": None}]    # 0001 before its restart
    assert [senders.of(r) for r in records] == ["fleet-0002", "fleet-0001", None, "fleet-0002", "fleet-0001"]
    after = senders.attributed(records, since_start=True)
    assert [(r["ts"], r["node_id"]) for r in after] == [(T0 + 11, "fleet-0001"), (T0 + 12, "fleet-0002")]


def test_attempts_end_at_each_agent_s_first_accepted_write(prometheus):
    target = target_of(prometheus)
    write = {"method": "POST", "path": "/api/v1/write"}
    records = [{**write, "ts": T0, "node_id": "a", "status": None},
               {**write, "ts": T0 + 1, "node_id": "a", "status": 204},
               {**write, "ts": T0 + 2, "node_id": "a", "status": 204},   # its next write, not a retry
               {"method": "GET", "path": "/-/x", "ts": T0 + 0.5, "node_id": "b", "status": 404},
               {**write, "ts": T0 + 0.6, "node_id": "b", "status": 503}]
    kept = fleet.until_registered(records, target)
    assert [(r["node_id"], r["ts"]) for r in kept] == [("a", T0), ("b", T0 + 0.6), ("a", T0 + 1)]


def test_a_config_naming_the_node_is_copied_per_agent(tmp_path):
    shared = tmp_path / "config"
    shared.mkdir()
    (shared / "prometheus.yml").write_text(f"node: {fleet.TEMPLATE_ID}\n")
    (shared / "blob.bin").write_bytes(b"\xff\xfe")
    assert fleet._names(shared, fleet.TEMPLATE_ID) and not fleet._names(shared, "fleet-0001")
    spec = AgentSpec(image="x", env={}, config=ConfigCopy(shared, "/etc/startle", "prometheus.yml", "yaml"))
    spec.volumes[str(shared)] = {"bind": "/etc/startle", "mode": "ro"}
    fleet._own_config(spec, "fleet-0001")
    own = tmp_path / "config-fleet-0001"
    assert spec.volumes == {str(own): {"bind": "/etc/startle", "mode": "ro"}}
    assert spec.config.folder == own and spec.config.main.read_text() == "node: fleet-0001\n"
    assert (shared / "prometheus.yml").read_text() == f"node: {fleet.TEMPLATE_ID}\n"


# --- the one follower of the center's request log -----------------------------------------------
class Admin:
    """``requests_since`` over a list, pages of ``limit`` (or 2)."""

    def __init__(self, records):
        self.records, self.calls = records, []

    def requests_since(self, index, wait_s=0.0, limit=None):
        self.calls.append((index, wait_s, limit))
        page = self.records[index:index + (limit or 2)]
        return index + len(page), page


def test_request_log_drains_page_by_page_and_waits_for_a_condition():
    admin = Admin([{"i": i} for i in range(5)])
    log = RequestLog(admin, since=1)
    log.PAGE = 2
    assert [r["i"] for r in log.drain()] == [1, 2, 3, 4] and log.next == 5 and log.records == []
    kept = RequestLog(admin, keep=True)
    assert kept.wait_for(lambda recs: len(recs) >= 3, timeout_s=5)
    assert len(kept.records) == 4 and kept.next == 4  # two pages of 2
    assert not RequestLog(admin, since=5, keep=True).wait_for(lambda recs: bool(recs), timeout_s=0)


def test_route_matching_is_the_view_s():
    assert Route("POST", "/w").matches("POST", "/w") and Route("POST", "/w").matches(None, "/w")
    assert not Route("POST", "/w").matches("GET", "/w") and Route("*", "/w").matches("GET", "/w")
    assert StormTarget(Route("*", "/w")).send_method == "POST"
