"""Issue 3, families capabilities / resources / network-mode / mounts / env: the checks on synthetic
timelines (each passes good behaviour and fails bad), AgentSpec, the faults' creation-time part,
and the agent's new preflight behaviour (threads, CONFIG_WAIT_S, init_buffer_mb). No Docker."""

import json
import threading
from pathlib import Path

import pytest

from harness.checks.diagnosis import Diagnosis, LogSays
from harness.checks.exits import Exits, OomKilled
from harness.checks.readiness import NeverReady
from harness.checks.security import SecurityContext
from harness.checks.settings import ConfigPickedUp, Region
from harness.containers import PLACEHOLDER, AgentSpec, ConfigCopy
from harness.faults.capabilities import Device
from harness.faults.env import Env
from harness.faults.mounts import ConfigMount
from harness.faults.network_mode import NetworkMode
from harness.faults.resources import MemoryLimit
from harness.profile import load_profile
from timelines import T0, context

AGENT_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "agent"


def die(t, code):
    return ("docker", "die", t, "agent", {"exit_code": code})


def preflight(t, check, subject, cause, hint, code):
    return [("agent", "preflight_fail", t, "agent", {"check": check, "subject": subject, "cause": cause,
                                                      "hint": hint, "exit_code": code}),
            ("agent", "line", t, "agent", {"line": f"PREFLIGHT FAIL {check} {subject}: {cause} (hint: {hint})"})]


# --- exits -------------------------------------------------------------------------------------
def test_exits_passes_the_documented_code_and_fails_another():
    assert Exits(code=15, within_s=5).evaluate(context([die(0.1, 15)]), False).passed
    verdict = Exits(code=15, within_s=5).evaluate(context([die(0.1, 1)]), False)
    assert verdict.status == "fail" and "code 1" in verdict.message
    assert Exits(code=15, within_s=5).evaluate(context(now_s=1), False) is None
    assert Exits(code=15, within_s=5).evaluate(context(now_s=6), False).status == "fail"


# --- diagnosis ---------------------------------------------------------------------------------
DEVICE = preflight(0.1, "device", "/dev/ttyUSB0", "not present in the container", "--device /dev/ttyUSB0", 15)


def test_diagnosis_passes_when_the_device_and_fix_are_named():
    check = Diagnosis(check="device", subject="/dev/ttyUSB0", hint="--device")
    assert check.evaluate(context(DEVICE + [die(0.2, 15)], now_s=5), False).passed


def test_diagnosis_rejects_a_generic_message():
    generic = preflight(0.1, "preflight", "agent", "startup checks failed", "see the documentation", 15)
    verdict = Diagnosis(check="device", subject="/dev/ttyUSB0").evaluate(context(generic + [die(0.2, 15)], 5), False)
    assert verdict.status == "fail" and "'preflight'" in verdict.message


def test_diagnosis_waits_for_the_last_lines_after_exit_then_fails_without_them():
    check = Diagnosis(check="device")
    assert check.evaluate(context([die(0.1, 15)], now_s=0.5), False) is None
    verdict = check.evaluate(context([die(0.1, 15)], now_s=3), False)
    assert verdict.status == "fail" and "no preflight_fail" in verdict.message


def test_diagnosis_requires_the_stderr_line_to_agree():
    events = DEVICE[:1] + [("agent", "line", 0.1, "agent", {"line": "PREFLIGHT FAIL env NODE_ID: not set (hint: x)"}),
                           die(0.2, 15)]
    assert Diagnosis(check="device").evaluate(context(events, 5), False).status == "fail"


# --- log_says / never_ready ---------------------------------------------------------------------
def test_log_says():
    line = ("agent", "line", 0.3, "agent", {"line": "REGISTER REJECTED 422: cannot connect back to 10.0.0.2:8081"})
    assert LogSays(pattern="^REGISTER REJECTED 422").evaluate(context([line]), False).passed
    assert LogSays(pattern="^REGISTER REJECTED 422").evaluate(context([die(0.3, 21)], now_s=5), False).status == "fail"


def test_never_ready_passes_on_exit_and_fails_on_a_ready_stage_or_probe():
    assert NeverReady().evaluate(context([die(0.1, 11)]), False).passed
    stage = ("agent", "stage", 0.2, "agent", {"stage": "ready"})
    assert NeverReady().evaluate(context([stage]), False).status == "fail"
    probe = ("probe", "ready", 0.2, "agent", {"ok": True, "detail": "HTTP 200"})
    assert NeverReady().evaluate(context([probe]), False).status == "fail"
    said_no = ("probe", "ready", 0.2, "agent", {"ok": False, "detail": "HTTP 503"})
    assert NeverReady().evaluate(context([said_no, die(0.3, 11)]), False).passed
    assert NeverReady(within_s=5).evaluate(context(now_s=2), False) is None
    assert NeverReady(within_s=5).evaluate(context(now_s=6), False).passed


# --- oom -----------------------------------------------------------------------------------------
def test_oom_classified_with_peak_memory():
    events = [("docker", "oom", 0.5, "agent", {}), die(0.55, 137),
              ("harness", "memory", 0.56, "agent", {"peak_mib": 48.0, "limit_mib": 48.0})]
    verdict = OomKilled(within_s=10).evaluate(context(events), False)
    assert verdict.passed and verdict.measured["peak_mib"] == 48.0 and "48.0 MiB" in verdict.message


def test_an_oom_kill_turned_into_a_crash_code_fails():
    """A child OOM-killed, the agent itself exiting 1: the kill is hidden behind a crash code."""
    events = [("docker", "oom", 0.5, "agent", {}), die(0.55, 1),
              ("harness", "memory", 0.56, "agent", {"peak_mib": 48.0, "limit_mib": 48.0})]
    verdict = OomKilled(within_s=10).evaluate(context(events), False)
    assert verdict.status == "fail" and "code 1, not 137" in verdict.message


def test_a_crash_is_not_an_oom():
    verdict = OomKilled(within_s=10).evaluate(context([die(0.5, 1)], now_s=3), False)
    assert verdict.status == "fail" and "crash" in verdict.message
    # a 137 without the oom event yet: wait a moment for it
    assert OomKilled(within_s=10).evaluate(context([die(0.5, 137)], now_s=1), False) is None


# --- security context -------------------------------------------------------------------------------
def config_event(**overrides):
    fields = {"privileged": False, "user": "1000:1000", "cap_drop": ["ALL"], "cap_add": [], "group_add": ["dialout"],
              "security_opt": ["no-new-privileges:true"]}
    fields.update(overrides)
    return ("harness", "agent_config", 0.01, "agent", fields)


def test_security_context():
    assert SecurityContext(allowed_groups=["dialout"]).evaluate(context([config_event()]), False).passed
    for bad in ({"privileged": True}, {"user": ""}, {"user": "0:0"}, {"cap_drop": []}, {"cap_add": ["SYS_ADMIN"]},
                {"group_add": ["dialout", "root"]}, {"security_opt": []}):
        verdict = SecurityContext(allowed_groups=["dialout"]).evaluate(context([config_event(**bad)]), False)
        assert verdict.status == "fail", bad


def test_agent_spec_refuses_privileged():
    spec = AgentSpec(image="x", env={})
    assert spec.docker_kwargs()["privileged"] is False
    spec.extra["privileged"] = True
    with pytest.raises(ValueError, match="privileged"):
        spec.docker_kwargs()


# --- region / config picked up ----------------------------------------------------------------------
def test_region_from_metadata():
    region = ("agent", "region", 0.2, "agent", {"region": "ap-edge-7", "source": "metadata", "attempt": 1})
    region = ("agent", "region", 0.2, "agent", {**region[4]})
    served = ("center", "request", 0.15, "center", {"path": "/v1/metadata", "status": 200})
    assert Region(expected="ap-edge-7").evaluate(context([served, region]), False).passed
    wrong = ("agent", "region", 0.2, "agent", {"region": None, "source": "metadata", "error": "timeout"})
    assert Region(expected="ap-edge-7").evaluate(context([wrong]), False).status == "fail"
    assert Region(expected="ap-edge-7").evaluate(context([region]), True).status == "fail"


def test_config_picked_up():
    waited = ("agent", "config_wait", 0.1, "agent", {"wait_s": 30})
    applied = ("fault", "applied", 4.0, "", {"fault": "config_mount"})
    loaded = ("agent", "config_loaded", 4.15, "agent", {"waited_s": 4.0})
    assert ConfigPickedUp().evaluate(context([waited, applied, loaded], 5), False).passed
    slow = ("agent", "config_loaded", 7.0, "agent", {})
    assert ConfigPickedUp().evaluate(context([waited, applied, slow], 8), False).status == "fail"
    assert ConfigPickedUp().evaluate(context([applied, loaded], 5), False).status == "fail"  # never waited


def test_config_picked_up_counts_from_the_start_of_the_write():
    """A remote engine's write takes a while: the agent may load the file before the harness's call
    returns. Only a load before the write began is early; a bound crossed inside the window is a skip."""
    waited = ("agent", "config_wait", 0.1, "agent", {"wait_s": 30})
    applied = ("fault", "applied", 4.3, "", {"fault": "config_mount", "requested": T0 + 4.0})
    inside = ("agent", "config_loaded", 4.28, "agent", {})
    verdict = ConfigPickedUp().evaluate(context([waited, applied, inside], 5), False)
    assert verdict.passed and verdict.measured["pickup_s"] == pytest.approx(0.28)
    early = ("agent", "config_loaded", 3.9, "agent", {})
    assert "before the harness began" in ConfigPickedUp().evaluate(context([waited, applied, early], 5), False).message
    straddles = ("agent", "config_loaded", 6.1, "agent", {})
    assert ConfigPickedUp().evaluate(context([waited, applied, straddles], 7), False).status == "skip"
    late = ("agent", "config_loaded", 6.4, "agent", {})
    assert ConfigPickedUp().evaluate(context([waited, applied, late], 7), False).status == "fail"


# --- faults at creation ----------------------------------------------------------------------------
@pytest.fixture
def spec(tmp_path):
    """The reference agent's spec as World.agent_spec makes it (config copy, knobs, probe ports)."""
    profile = load_profile("reference")
    config = tmp_path / "config"
    config.mkdir()
    (config / "agent.json").write_text((AGENT_DIR / "config" / "agent.json").read_text())
    return AgentSpec(image="x", env={"NODE_ID": "n", "CENTER_ENDPOINT": "http://toxiproxy:18080",
                                     "METADATA_URL": "http://toxiproxy:18080/v1/metadata"},
                     volumes={str(config): {"bind": "/app/config", "mode": "ro"}},
                     config=ConfigCopy(config, "/app/config", "agent.json", "json", dict(profile.config.keys)),
                     knobs={k: v for k, v in profile.knobs.model_dump().items() if v},
                     ports=profile.health.ports(), scratch_dir=tmp_path)


def test_network_none_uses_an_ip_placeholder(spec):
    NetworkMode(mode="none").on_create(spec)
    assert spec.docker_kwargs()["network_mode"] == "none" and spec.docker_kwargs()["network"] is None
    assert spec.env["CENTER_ENDPOINT"] == "http://{ip:toxiproxy}:18080"
    assert PLACEHOLDER.search(spec.env["CENTER_ENDPOINT"]).group(1, 2) == ("ip", "toxiproxy")


def test_network_host_goes_through_loopback(spec):
    NetworkMode(mode="host").on_create(spec)
    assert spec.env["CENTER_ENDPOINT"] == "http://127.0.0.1:{hostport:toxiproxy:18080}"
    moved = spec.host_ports[8081]
    assert spec.env["ADVERTISE_ADDR"] == f"127.0.0.1:{moved}" == f"127.0.0.1:{spec.env['HEALTH_PORT']}"
    assert spec.env["HEALTH_BIND"] == "127.0.0.1"


def test_dns_only_loopback(spec):
    with pytest.raises(ValueError, match="loopback"):
        NetworkMode(mode="isolated", dns=["8.8.8.8"]).on_create(spec)


def test_config_mount_states(spec):
    folder = Path(next(iter(spec.volumes)))
    ConfigMount(state="malformed").on_create(spec)
    with pytest.raises(json.JSONDecodeError):
        json.loads((folder / "agent.json").read_text())
    ConfigMount(state="missing").on_create(spec)
    assert spec.volumes == {}


def test_config_mount_empty_then_late(spec):
    folder = spec.config.folder
    fault = ConfigMount(state="late", at_s=4)
    fault.on_create(spec)
    assert list(folder.iterdir()) == [] and spec.env["CONFIG_WAIT_S"] == "30"
    fault.apply(None)
    assert json.loads((folder / "agent.json").read_text())["retry"]["base_ms"] == 100


def test_memory_and_device_change_config(spec):
    folder = Path(next(iter(spec.volumes)))
    MemoryLimit(memory_mb=48, init_buffer_mb=96).on_create(spec)
    assert spec.memory_mb == spec.memswap_mb == 48
    assert json.loads((folder / "agent.json").read_text())["init_buffer_mb"] == 96
    Device(mapped=False).on_create(spec)
    assert json.loads((folder / "agent.json").read_text())["devices"] == ["/dev/ttyUSB0"]
    Env(unset=["NODE_ID"], values={"X": "1"}).on_create(spec)
    assert "NODE_ID" not in spec.env and spec.env["X"] == "1"


def test_env_by_what_a_variable_holds(spec):
    fault = Env(unset_holding=["node_id"], break_holding={"center_url": "toxiproxy:18080"})
    assert fault.missing(load_profile("reference")) == []
    fault.on_create(spec)
    assert "NODE_ID" not in spec.env and spec.env["CENTER_ENDPOINT"] == "toxiproxy:18080"


# --- the agent's preflight additions -------------------------------------------------------------------
@pytest.fixture
def agent_preflight(monkeypatch):
    monkeypatch.syspath_prepend(str(AGENT_DIR))
    import preflight
    return preflight


def test_threads_check_names_the_pids_limit(agent_preflight, monkeypatch):
    agent_preflight.check_threads(4)  # plenty here
    real = threading.Thread.start
    count = {"n": 0}

    def start(self):
        count["n"] += 1
        if count["n"] > 2:
            raise RuntimeError("can't start new thread")
        real(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(agent_preflight.PreflightFailure) as failure:
        agent_preflight.check_threads(8)
    assert failure.value.exit_code == 19 and failure.value.check == "threads"
    assert "only 3 started" in failure.value.cause and "--pids-limit" in failure.value.hint


def test_config_wait_picks_up_a_late_file(agent_preflight, tmp_path):
    seen = []
    timer = threading.Timer(0.3, lambda: (tmp_path / "agent.json").write_text("{}"))
    timer.start()
    waited = agent_preflight.wait_for_config(str(tmp_path), 5, lambda p, s: seen.append(p))
    timer.join()
    assert 0.2 < waited < 2 and seen == [str(tmp_path / "agent.json")]
    path, config, keys = agent_preflight.check_config(str(tmp_path), waited)
    assert keys == [] and config["init_buffer_mb"] == 0


def test_config_wait_times_out_as_config_empty(agent_preflight, tmp_path):
    waited = agent_preflight.wait_for_config(str(tmp_path), 0.3)
    with pytest.raises(agent_preflight.PreflightFailure) as failure:
        agent_preflight.check_config(str(tmp_path), waited)
    assert failure.value.check == "config-empty" and "waited" in failure.value.cause
    assert agent_preflight.config_wait_s({"CONFIG_WAIT_S": "x"}) == 0.0
    assert agent_preflight.config_wait_s({"CONFIG_WAIT_S": "2.5"}) == 2.5


def test_init_buffer_mb_is_validated(agent_preflight):
    assert agent_preflight.validate_config(agent_preflight.merge_config({"init_buffer_mb": 64})) is None
    assert "init_buffer_mb" in agent_preflight.validate_config(agent_preflight.merge_config({"init_buffer_mb": -1}))


def test_read_only_socket_mount_is_named(agent_preflight, tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text("100 90 0:50 /sock /var/run/docker.sock ro,relatime - tmpfs tmpfs rw\n"
                    "101 90 0:51 / /app/config ro,relatime - ext4 /dev/x rw\n")
    assert agent_preflight.mount_options("/var/run/docker.sock", str(info)) == ["ro", "relatime"]
    assert agent_preflight.mount_options("/nowhere", str(info)) is None
