"""Architecture, rollback, liveness and log-export checks, and the skip mechanism, on synthetic
timelines (no Docker): each passes good behaviour and fails the bad behaviour it exists for."""

from __future__ import annotations

import pytest

from harness.checks.architecture import EmulatedReady, ExecFormatError, classify_exit
from harness.checks.liveness import RestartedAfterHang
from harness.checks.log_export import LogsDelivered
from harness.checks.rollback import RolledBack, Upgraded
from harness.lifecycle import ScenarioResult
from harness.reports.build import run_data
from harness.reports.journal import totals
from harness.reports.junit import junit_document
from harness.runtime import Run
from timelines import NODE, T0, context





# --- architecture ---------------------------------------------------------------------------
def test_exec_format_error_is_classified_from_the_log_line_not_the_code():
    died = ("docker", "die", 0.05, "agent", {"exit_code": 1})
    line = ("agent", "line", 0.06, "agent", {"line": "exec /usr/bin/python3: exec format error"})
    verdict = ExecFormatError(within_s=10).evaluate(context([died, line], now_s=0.1), final=False)
    assert verdict.passed and verdict.measured["classification"] == "exec-format-error"
    crash = ("agent", "line", 0.06, "agent", {"line": "Traceback (most recent call last):"})
    assert ExecFormatError(within_s=10).evaluate(context([died, crash], now_s=0.5), final=False) is None
    failed = ExecFormatError(within_s=10).evaluate(context([died, crash], now_s=4), final=False)
    assert failed.status == "fail" and "crash" in failed.message and "code 1" in failed.message
    late = ("docker", "die", 0.05, "agent", {"exit_code": 1, "lag_s": 2.5})  # an engine that told startle late:
    assert ExecFormatError(within_s=10).evaluate(context([late, crash], now_s=4), final=False) is None  # still waits
    oom = classify_exit(context([("docker", "oom", 1, "agent", {}), ("docker", "die", 1.1, "agent",
                                                                        {"exit_code": 137})]))
    assert oom["classification"] == "oom"
    running = ExecFormatError(within_s=10).evaluate(context([], now_s=11), final=False)
    assert running.status == "fail" and "did not exit" in running.message


def test_emulated_ready_states_the_slowdown_against_native():
    native = ("harness", "native_ready", -3, "native", {"ready_after_s": 0.1})
    start = ("agent", "agent_start", 0.5, "agent", {"arch": "arm64"})
    ready = ("probe", "ready", 4.0, "agent", {"ok": True})
    verdict = EmulatedReady(within_s=60).evaluate(context([native, start, ready], now_s=4), final=False)
    assert verdict.passed and verdict.measured["slowdown_x"] == 40.0 and "40.0x" in verdict.message
    wrong = EmulatedReady(within_s=60).evaluate(
        context([native, ("agent", "agent_start", 0.5, "agent", {"arch": "amd64"}), ready]), final=False)
    assert wrong.status == "fail" and "amd64" in wrong.message
    bounded = EmulatedReady(within_s=60, max_slowdown=10).evaluate(context([native, start, ready]), final=False)
    assert bounded.status == "fail" and "bound 10.0x" in bounded.message
    never = EmulatedReady(within_s=60).evaluate(context([native, start], now_s=61), final=False)
    assert never.status == "fail"
    claimed = ("agent", "stage", 4.0, "agent", {"stage": "ready"})
    assert EmulatedReady(within_s=60).evaluate(context([native, start, claimed], now_s=61), final=False).status == "fail"
    image = ("harness", "agent_image", 0.0, "agent", {"arch": "arm64", "healthcheck": True})
    silent = EmulatedReady(within_s=60).evaluate(context([native, image, ready], now_s=4), final=False)
    assert silent.passed and silent.measured["arch_from"] == "the image"
    # An agent that logs no arch: the image's word is checked against what the host sees it run.
    unlogged = ("agent", "agent_start", 0.5, "agent", {"version": "2.0.11"})
    emulated = ("harness", "agent_image", 0.0, "agent", {"arch": "arm64", "exe": "/usr/bin/qemu-aarch64-static"})
    assert EmulatedReady(within_s=60).evaluate(context([native, unlogged, emulated, ready]), final=False).passed
    mislabelled = ("harness", "agent_image", 0.0, "agent", {"arch": "arm64", "exe": "/usr/sbin/mosquitto"})
    native_run = EmulatedReady(within_s=60).evaluate(context([native, unlogged, mislabelled, ready]), final=False)
    assert native_run.status == "fail" and "not under QEMU" in native_run.message


def test_emulated_ready_within_the_first_probe_rounds_states_no_slowdown():
    native = ("harness", "native_ready", -3, "native", {"ready_after_s": 0.002})
    quick = ("probe", "ready", 0.004, "agent", {"ok": True})
    image = ("harness", "agent_image", 0.0, "agent", {"arch": "arm64", "exe": "/usr/bin/qemu-aarch64-static"})
    verdict = EmulatedReady(within_s=60).evaluate(context([native, image, quick]), final=False)
    assert verdict.passed and verdict.measured["slowdown_x"] is None and "too fast" in verdict.message
    bounded = EmulatedReady(within_s=60, max_slowdown=5).evaluate(context([native, image, quick]), final=False)
    assert bounded.status == "skip" and "too fast" in bounded.message


def test_an_exit_code_the_profile_declares_is_the_agents_own_exit_not_a_crash():
    died = ("docker", "die", 1.0, "agent", {"exit_code": 11})
    facts = classify_exit(context([died]))
    assert facts["classification"] == "agent-exit" and facts["reason"] == "config-missing"
    assert classify_exit(context([("docker", "die", 1.0, "agent", {"exit_code": 42})]))["classification"] == "crash"


# --- liveness -------------------------------------------------------------------------------
def hang_events(unhealthy=15.0, died=25.0, restart=25.5, ready=26.0):
    events = [("fault", "applied", 6.0, "", {"fault": "agent_hang"})]
    if unhealthy is not None:
        events.append(("docker", "health_status: unhealthy", unhealthy, "agent", {}))
    if died is not None:
        events.append(("docker", "die", died, "agent", {"exit_code": 22}))
    if restart is not None:
        events.append(("docker", "start", restart, "agent", {}))
    if ready is not None:
        events.append(("probe", "ready", ready, "agent", {"ok": True}))
    return events


def test_restarted_after_hang_needs_unhealthy_then_restart_then_ready():
    check = RestartedAfterHang(unhealthy_within_s=24, restart_within_s=35, ready_within_s=15)
    verdict = check.evaluate(context(hang_events(), now_s=27), final=False)
    assert verdict.passed and verdict.measured["exit_code"] == 22
    blind = check.evaluate(context(hang_events(unhealthy=None), now_s=27), final=False)
    assert blind.status == "fail" and "before Docker reported it unhealthy" in blind.message
    stuck = check.evaluate(context(hang_events(died=None, restart=None, ready=None), now_s=42), final=False)
    assert stuck.status == "fail" and "not restarted" in stuck.message
    assert check.evaluate(context(hang_events(died=None, restart=None, ready=None), now_s=20), final=False) is None


# --- rollback -------------------------------------------------------------------------------
def launcher_events(code, running_image, lkg, registered_again=True, took=11.0, version="1.0.0"):
    v1, v2 = "startle/agent:amd64", "startle/agent-upgrade-bad:x"
    events = [("launcher", "invoke", 0.0, "", {"step": "install", "image": v1, "version": "1.0.0"}),
              ("launcher", "exit", 1.0, "", {"step": "install", "code": 0}),
              ("launcher", "invoke", 1.1, "", {"step": "upgrade", "image": v2, "version": "2.0.0"}),
              ("center", "request", 0.8, "center", {"path": "/v1/register", "status": 200, "node_id": NODE})]
    if registered_again:
        events.append(("center", "request", took, "center", {"path": "/v1/register", "status": 200, "node_id": NODE}))
    events += [("launcher", "exit", 1.1 + took, "", {"step": "upgrade", "code": code}),
               ("launcher", "state", 1.1 + took, "", {"step": "upgrade",
                                                      "running": {"image": running_image, "status": "running"},
                                                      "state_file": {"image": lkg}, "center_node": {"version": version}})]
    return events, v1, v2


def test_rolled_back_passes_the_reference_launcher_and_fails_one_without_rollback():
    events, v1, v2 = launcher_events(6, "startle/agent:amd64", "startle/agent:amd64")
    verdict = RolledBack(within_s=40).evaluate(context(events, now_s=13), final=False)
    assert verdict.passed and verdict.measured["launcher_exit"] == 6
    events, v1, v2 = launcher_events(7, v2, v1, registered_again=False)
    bad = RolledBack(within_s=40).evaluate(context(events, now_s=13), final=False)
    assert bad.status == "fail" and "exited 7" in bad.message and "did not register" in bad.message
    slow, _, _ = launcher_events(6, v1, v1, took=50)
    late = RolledBack(within_s=40).evaluate(context(slow, now_s=52), final=False)
    assert late.status == "fail" and "bound is 40" in late.message
    pending = launcher_events(6, v1, v1)[0][:3]
    assert RolledBack(within_s=40).evaluate(context(pending, now_s=5), final=False) is None


def test_upgraded_waits_for_stays_s_and_fails_a_v2_that_dies():
    events, v1, v2 = launcher_events(0, "startle/agent-upgrade-bad:x", "startle/agent-upgrade-bad:x",
                                     version="2.0.0")
    check = Upgraded(within_s=30, stays_s=5)
    assert check.evaluate(context(events, now_s=13), final=False) is None
    assert check.evaluate(context(events, now_s=18), final=False).passed
    died = events + [("docker", "die", 14.0, "agent", {"exit_code": 1})]
    verdict = check.evaluate(context(died, now_s=15), final=False)
    assert verdict.status == "fail" and "died" in verdict.message
    old, _, _ = launcher_events(0, v2, v2, version="1.0.0")
    stale = check.evaluate(context(old, now_s=18), final=False)
    assert stale.status == "fail" and "expected v2 2.0.0" in stale.message


# --- log export -----------------------------------------------------------------------------
def log_events(lost_seq=None, swap=False):
    events, lines = [], []
    for k in range(1, 11):
        t = float(k)
        events.append(("agent", "heartbeat", t, "agent", {"ts": T0 + t}))
        lines.append((k, "heartbeat", T0 + t))
    events += [("fault", "applied", 3.5, "", {"fault": "proxy_down"}),
               ("fault", "cleared", 7.5, "", {"fault": "proxy_down"}),
               ("agent", "log_export", 10.5, "agent", {"sent": 10, "buffered": 0})]
    order = [l for l in lines if l[0] != lost_seq]
    if swap:
        order[5], order[6] = order[6], order[5]
    for i, (seq, event, ts) in enumerate(order):
        rx = 1.2 + i * 0.1 if ts < T0 + 3.5 else 7.6 + i * 0.01 + (3 if ts > T0 + 7.5 else 0)
        events.append(("center", "log_line", rx, "center", {"seq": seq, "event": event, "msg_ts": ts}))
    return events


def test_a_line_passing_while_the_clear_was_under_way_is_not_early():
    """The outage's lines arrive from 7.40 s; the harness's call lifting it returned at 7.5 s. Asked
    at 7.3 s, the lift may have taken effect before they passed; asked at 7.45 s, it had not."""
    def events(requested_s):
        out = []
        for e in log_events():
            if e[1] == "cleared":
                e = (*e[:4], {"fault": "proxy_down", "requested": T0 + requested_s})
            elif e[1] == "log_line" and T0 + 3.5 < e[4]["msg_ts"] < T0 + 7.5:
                e = (e[0], e[1], 7.4 + (e[4]["seq"] - 4) * 0.01, *e[3:])
            out.append(e)
        return out
    check = LogsDelivered(within_s=10)
    assert check.evaluate(context(events(7.3), now_s=11), final=False).passed
    verdict = check.evaluate(context(events(7.45), now_s=11), final=False)
    assert verdict.status == "fail" and "before it ended" in verdict.message


def test_logs_delivered_counts_against_the_agents_output():
    check = LogsDelivered(within_s=10)
    verdict = check.evaluate(context(log_events(), now_s=11), final=False)
    assert verdict.passed and verdict.measured["due"] == 10 and verdict.measured["during_outage"] == 4
    lost = check.evaluate(context(log_events(lost_seq=5), now_s=18), final=False)
    assert lost.status == "fail" and "never reached the center" in lost.message
    swapped = check.evaluate(context(log_events(swap=True), now_s=11), final=False)
    assert swapped.status == "fail" and "out of order" in swapped.message


# --- skip -----------------------------------------------------------------------------------
def test_requires_skips_with_the_reason_when_qemu_is_missing(tmp_path, monkeypatch):
    import harness.skip as skip
    from harness.faults.requires import Requires
    monkeypatch.setattr(skip, "BINFMT", tmp_path)
    monkeypatch.setattr(skip, "QEMU_ENTRY", tmp_path / "qemu-aarch64")
    (tmp_path / "status").write_text("enabled\n")
    with pytest.raises(skip.ScenarioSkipped, match="QEMU is missing"):
        Requires(needs=["qemu"]).on_create(None)
    (tmp_path / "qemu-aarch64").write_text("disabled\ninterpreter /nonexistent\n")
    with pytest.raises(skip.ScenarioSkipped, match="disabled"):
        Requires(needs=["qemu"]).on_create(None)
    (tmp_path / "qemu-aarch64").write_text(f"enabled\ninterpreter {tmp_path / 'status'}\n")
    Requires(needs=["qemu"]).on_create(None)  # met: no skip


def test_a_skip_is_reported_as_skip_never_as_pass():
    result = ScenarioResult("arch-qemu", "architecture", status="skip", error="requires qemu: QEMU is missing",
                            started=1.0, finished=2.0)
    assert "skip" in result.summary_line() and "QEMU is missing" in result.summary_line()
    assert totals([result.status]) == {"pass": 0, "fail": 0, "error": 0, "skip": 1}
    xml = junit_document(run_data(Run(), [result], {}, 3.0)).getroot()
    assert xml.get("skipped") == "1" and xml.find("testcase/skipped").get("message").startswith("requires qemu")


def test_a_qemu_check_waits_for_a_scenario_that_switched_emulation_off(tmp_path, monkeypatch):
    """arch-qemu next to arch-binfmt-off (-j 3): the check waits for emulation to come back, no skip."""
    import threading

    import harness.skip as skip
    from harness.faults.requires import Requires
    monkeypatch.setattr(skip, "BINFMT", tmp_path)
    monkeypatch.setattr(skip, "QEMU_ENTRY", tmp_path / "qemu-aarch64")
    monkeypatch.setattr(skip, "LOCK_PATH", tmp_path / "binfmt.lock")
    (tmp_path / "status").write_text("enabled\n")
    (tmp_path / "qemu-aarch64").write_text("disabled\n")  # switched off by the holder of the lock
    switched_off = skip.BinfmtLock()
    switched_off.acquire(exclusive=True)
    outcome = []

    def preflight():
        try:
            Requires(needs=["qemu"]).preflight()
            outcome.append("met")
        except skip.ScenarioSkipped as exc:
            outcome.append(f"skipped: {exc}")

    waiter = threading.Thread(target=preflight)
    waiter.start()
    waiter.join(timeout=0.3)
    assert waiter.is_alive() and outcome == []  # waiting on the lock, not judging the switched-off state
    (tmp_path / "qemu-aarch64").write_text(f"enabled\ninterpreter {tmp_path / 'status'}\n")
    switched_off.release()
    waiter.join(timeout=10)
    assert outcome == ["met"]
