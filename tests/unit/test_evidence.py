"""The capture script as shipped, and the bundle reader's refusals (no Docker)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest

from harness import evidence
from harness.cli import main
from harness.errors import InputError


def test_the_printed_script_is_the_one_startle_runs_and_is_valid_posix_sh(capsys, tmp_path):
    assert main(["capture", "--script"]) == 0
    printed = capsys.readouterr().out
    assert printed == evidence.SCRIPT.read_text() and printed.startswith("#!/bin/sh")
    script = tmp_path / "capture.sh"
    script.write_text(printed)
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    usage = subprocess.run(["sh", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: capture.sh" in usage.stderr


def bundle(tmp_path, manifest) -> str:
    path = tmp_path / "b.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = (manifest if isinstance(manifest, str) else json.dumps(manifest)).encode()
        info = tarfile.TarInfo("./manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_a_bundle_of_this_version_is_read(tmp_path):
    assert "manifest.json" in evidence.read_bundle(bundle(tmp_path, {"startle_evidence": 1}))


@pytest.mark.parametrize("manifest, field", [("not json", "manifest.json"), ({"startle_evidence": 9}, "startle_evidence"),
                                             ([1, 2], "startle_evidence")])
def test_a_wrong_manifest_names_the_field_and_the_fix(tmp_path, manifest, field):
    with pytest.raises(InputError) as err:
        evidence.read_bundle(bundle(tmp_path, manifest))
    assert field in str(err.value) and "fix:" in str(err.value)


def test_a_file_that_is_not_a_bundle_is_an_input_error(tmp_path):
    path = tmp_path / "x.tar.gz"
    path.write_bytes(b"\xff\x00 not gzip")
    with pytest.raises(InputError, match="not a readable .tar.gz"):
        evidence.read_bundle(path)


def test_capture_without_a_container_is_exit_2(capsys):
    assert main(["capture"]) == 2
    assert "CONTAINER" in capsys.readouterr().err


# --- from evidence to faults (synthetic bundles) ----------------------------------------------
from harness.evidence import reproduce as rep  # noqa: E402
from harness.evidence import signature as sig  # noqa: E402
from harness.profile import load_profile  # noqa: E402


def files(host_config=None, mounts=(), env=(), image_arch="amd64", host_arch="x86_64", binfmt="status=enabled",
          state=None, events=()):
    container = {"HostConfig": host_config or {}, "Mounts": list(mounts), "RestartCount": 2,
                 "Config": {"Env": list(env), "Entrypoint": ["agent"], "Cmd": None},
                 "State": state or {"Status": "exited", "ExitCode": 11, "OOMKilled": False}}
    image = {"Architecture": image_arch, "Config": {"Env": ["PATH=/bin"], "Entrypoint": ["agent"], "Cmd": None}}
    return {"container.json": json.dumps([container]), "image.json": json.dumps([image]),
            "host.txt": f"arch={host_arch}\n", "binfmt.txt": binfmt,
            "events.jsonl": "\n".join(json.dumps(e) for e in events)}


def test_limits_network_and_a_missing_config_become_faults_and_the_rest_is_named():
    found = rep.infer(files({"Memory": 12 * 1024 * 1024, "PidsLimit": 6, "NetworkMode": "none", "NanoCpus": 500_000_000,
                             "Dns": ["10.0.0.2"], "CapAdd": ["NET_ADMIN"], "Devices": [{"PathOnHost": "/dev/ttyUSB0"}]},
                            env=["PATH=/bin", "NODE_ID=n", "SITE=plant-4", "API_TOKEN=<redacted:API_TOKEN>"]),
                      load_profile("reference"))
    assert found.faults == [{"type": "config_mount", "state": "missing"}, {"type": "memory_limit", "memory_mb": 12},
                            {"type": "cpu_limit", "cpus": 0.5}, {"type": "pids_limit", "pids": 6},
                            {"type": "restart_policy", "name": "no"},
                            {"type": "network_mode", "mode": "none"}, {"type": "env", "values": {"SITE": "plant-4"}},
                            {"type": "device", "device_path": "/dev/ttyUSB0", "mapped": True, "node_mode": "0660"}]
    assert [c.split(":")[0].split(" ")[0] for c in found.cannot] == ["--dns", "--cap-add", "capabilities"]


def test_a_capability_the_profile_adds_and_the_node_lacked_is_dropped_here():
    from harness.containers import AgentSpec
    from harness.faults.capabilities import CapDrop
    profile = load_profile("reference")
    profile = profile.model_copy(update={"run": profile.run.model_copy(update={"cap_add": ["NET_BIND_SERVICE", "CHOWN"]})})
    found = rep.infer(files({"CapDrop": ["ALL"], "CapAdd": ["CHOWN"]}), profile)
    assert {"type": "cap_drop", "caps": ["NET_BIND_SERVICE"]} in found.faults
    assert not [c for c in found.cannot if c.startswith("--cap-add")]  # CHOWN is the profile's own
    spec = AgentSpec(image="x", env={}, cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE", "CHOWN"])
    CapDrop(caps=["NET_BIND_SERVICE"]).on_create(spec)
    assert spec.cap_add == ["CHOWN"] and spec.cap_drop == ["ALL"]


def test_a_bind_mount_the_profile_does_not_declare_is_named_with_its_state():
    bundle = files({"Binds": ["/srv/agent/data:/var/lib/agent", "/etc/agent:/app/config:ro"]})
    bundle["mounts.tsv"] = "/srv/agent/data\tmissing\n/etc/agent\tdirectory\t4096\t755\t0\t0\n"
    cannot = [c for c in rep.infer(bundle, load_profile("reference")).cannot if c.startswith("bind mount")]
    assert cannot == ["bind mount /srv/agent/data at /var/lib/agent (missing on the node): the profile declares no "
                      "such mount; startle mounts only the agent's config and the Docker socket"]


def test_a_resolver_failure_without_dns_flags_comes_from_the_nodes_resolv_conf():
    bundle = files()
    bundle["resolv.conf"] = "search lan\nnameserver 127.0.0.53\n"
    bundle["logs.txt"] = ('2026-12-01T10:00:00.000000000Z {"event": "preflight_fail", "check": "dns", '
                          '"cause": "center.plant: name does not resolve", "ts": 1}\n')
    found = rep.infer(bundle, load_profile("reference"))
    isolated = [r for f, r in zip(found.faults, found.reasons) if f.get("dns") == ["127.0.0.1"]]
    assert isolated and "resolv.conf (nameserver 127.0.0.53)" in isolated[0], found.reasons
    bundle["logs.txt"] = ""
    assert not [f for f in rep.infer(bundle, load_profile("reference")).faults if f.get("dns")]


def test_another_kernel_or_cgroup_version_is_named_as_not_reproducible():
    engine = {"KernelVersion": "6.1.0-13-amd64", "CgroupVersion": "1"}  # the engine the scenario runs on
    same = files()
    same["host.txt"] += "kernel=6.1.0-13-amd64\ncgroup=1\n"
    assert not [c for c in rep.infer(same, load_profile("reference"), engine=engine).cannot
                if "kernel" in c or "cgroup" in c]
    other = files()
    other["host.txt"] += "kernel=5.10.0-rpi-v8\ncgroup=2\n"
    cannot = rep.infer(other, load_profile("reference"), engine=engine).cannot[-2:]
    assert cannot[0].startswith("the node's kernel 5.10.0-rpi-v8 (here 6.1.0-13-amd64)")
    assert cannot[1].startswith("cgroup v2 on the node, v1 here")


def test_a_foreign_image_without_binfmt_is_binfmt_off_and_with_it_needs_qemu():
    off = rep.infer(files(image_arch="arm64", binfmt="status=enabled\n"), load_profile("reference"))
    assert off.arch == "arm64" and {"type": "binfmt_off"} in off.faults
    on = rep.infer(files(image_arch="arm64", binfmt="status=enabled\n[qemu-aarch64]\nenabled\n"), load_profile("reference"))
    assert {"type": "requires", "needs": ["qemu"]} in on.faults


def test_the_signature_and_the_verdicts():
    restarting = files(state={"Running": True, "ExitCode": 0, "OOMKilled": False},
                       events=[{"Action": "die", "Actor": {"Attributes": {"exitCode": "19"}}}])
    profile = load_profile("reference")
    assert rep.field_signature(restarting, profile).exit_code == 19
    oom = rep.field_signature(files(events=[{"Action": "oom"}]), profile)
    assert oom.oom_killed and oom.failed
    field = sig.Signature(exit_code=11)
    assert sig.judge(field, sig.Signature(exit_code=11, health="unhealthy", lived_s=9.0))[0] == sig.REPRODUCED
    assert sig.judge(field, sig.Signature(exit_code=11, restart_count=5))[0] == sig.PARTIAL  # a loop, not one death
    told = sig.Signature(exit_code=17, diagnosis="dns center.example: name does not resolve (temporary failure)")
    assert sig.judge(told, sig.Signature(exit_code=17, diagnosis="dns: name does not resolve"))[0] == sig.PARTIAL
    told.diagnosis = "dns: name does not resolve (temporary failure in name resolution)"
    assert sig.judge(told, sig.Signature(exit_code=17, diagnosis="DNS: name does not resolve"))[0] == sig.REPRODUCED
    assert sig.judge(told, sig.Signature(exit_code=17, diagnosis=None, registered=True))[0] == sig.REPRODUCED
    assert sig.judge(told, sig.Signature(exit_code=17, diagnosis="dns: resolver timed out"))[0] == sig.PARTIAL
    assert sig.judge(field, sig.Signature(exit_code=0))[0] == sig.NOT_REPRODUCED
    assert sig.judge(sig.Signature(137, True), sig.Signature(1, False))[0] == sig.NOT_REPRODUCED
    assert sig.judge(sig.Signature(137, True), sig.Signature(137, False))[0] == sig.NOT_REPRODUCED  # killed, not OOM
    assert sig.judge(sig.Signature(exit_code=42), sig.Signature(exit_code=11))[0] == sig.NOT_REPRODUCED  # another failure


def logs(*records) -> str:
    """``docker logs --timestamps`` lines of the reference agent's JSON log."""
    return "\n".join(f"2026-12-01T10:00:{i:02d}.000000000Z " + json.dumps({"ts": 1764583200 + i, **r})
                     for i, r in enumerate(records))


def test_the_center_is_read_from_the_agents_own_attempts():
    profile = load_profile("reference")
    answered = logs(*[{"event": "register_result", "attempt": n, "status": 503, "error": None} for n in (1, 2, 3)],
                    {"event": "register_result", "attempt": 4, "status": 200, "error": None}, {"event": "registered"})
    found = rep.infer({**files(), "logs.txt": answered}, profile)
    assert {"type": "center_failure", "status": 503, "fail_next": 3} in found.faults
    refused = logs(*[{"event": "register_result", "attempt": n, "status": None, "error": "refused: connection refused"}
                     for n in (1, 2, 3, 4)])
    found = rep.infer({**files(), "logs.txt": refused}, profile)
    assert {"type": "proxy_down"} in found.faults  # never registered: down for the whole run
    odd = logs({"event": "register_result", "attempt": 1, "status": None, "error": "tls: bad certificate"})
    assert any("'tls'" in c for c in rep.infer({**files(), "logs.txt": odd}, profile).cannot)
    limited = logs(*[{"event": "register_result", "attempt": n, "status": 429, "error": None, "retry_after_s": 1.0}
                     for n in (1, 2)], {"event": "register_result", "attempt": 3, "status": 200, "error": None},
                   {"event": "registered"})
    found = rep.infer({**files(), "logs.txt": limited}, profile)
    assert {"type": "center_failure", "status": 429, "fail_next": 2, "retry_after_s": 1} in found.faults
    dated = limited.replace('"retry_after_s": 1.0', '"retry_after_s": "Wed, 02 Dec 2026 10:00:00 GMT"')
    assert {"type": "center_failure", "status": 429, "fail_next": 2} in rep.infer({**files(), "logs.txt": dated},
                                                                                  profile).faults  # no guess


def test_a_failure_the_node_recovered_from_is_watched_until_it_recovers_here():
    """Restarted twice, then registered and ready on the node: the scenario lasts until it is here
    too, and an agent up again after dying is judged by its last death's exit code."""
    profile = load_profile("reference")
    signature = sig.Signature(exit_code=1, restart_count=2, registered=True, ready=True)
    scenario = rep.scenario_for("field-n", rep.infer(files(), profile), signature, profile)
    assert [e["type"] for e in scenario["expect"]] == ["exits", "registered", "ready"]
    from types import SimpleNamespace
    result = SimpleNamespace(agent={"status": "running", "exit_code": 0, "restart_count": 2},
                             profile_spec=profile.model_dump(mode="json", by_alias=True),
                             timeline=[{"source": "docker", "container": "agent", "kind": "die", "t": 1.0,
                                        "fields": {"exit_code": 1}}])
    assert sig.here_signature(result, profile).exit_code == 1


MOUNTED = [{"Type": "bind", "Source": "/srv/agent/config", "Destination": "/app/config"}]


def with_config(text: str | None, stat: str = "regular file\t120\t644\t0\t0") -> dict[str, str]:
    """A bundle whose node mounts a config folder; ``text``: its agent.json as captured (None: not kept)."""
    bundle = {**files(mounts=MOUNTED), "mounts.tsv": "/srv/agent/config\tdirectory\t4096\t755\t0\t0\n",
              "mountfiles.tsv": f"app/config/agent.json\t{stat}\n"}
    if text is not None:
        bundle["mountfiles/app/config/agent.json"] = text
    return bundle


def test_the_nodes_own_config_file_becomes_its_state_or_its_changed_settings():
    profile = load_profile("reference")
    template = json.loads((profile.config_source() / "agent.json").read_text())
    changed = {**template, "retry": {**template["retry"], "deadline_s": 6}, "init_buffer_mb": 96}
    found = rep.infer(with_config(json.dumps(changed)), profile)
    assert {"type": "config_override", "keys": {"retry.deadline_s": 6}} in found.faults
    assert {"type": "config_override", "keys": {"init_buffer_mb": 96}} in found.faults
    assert not any(f["type"] == "config_mount" for f in found.faults)
    assert {"type": "config_mount", "state": "malformed"} in rep.infer(with_config('{"retry": {'), profile).faults
    assert {"type": "config_mount", "state": "empty"} in rep.infer(with_config(""), profile).faults
    unreadable = rep.infer(with_config(json.dumps(template), "regular file\t120\t600\t0\t0"), profile)
    assert {"type": "config_mount", "state": "unreadable"} in unreadable.faults  # the agent runs as 1000
    assert not [f for f in rep.infer(with_config(json.dumps(template)), profile).faults if "config" in f["type"]]


def test_readable_by_owner_group_and_others():
    assert rep.readable_by("regular file\t1\t600\t1000\t1000", "1000:1000")
    assert not rep.readable_by("regular file\t1\t600\t0\t0", "1000:1000")
    assert rep.readable_by("regular file\t1\t640\t0\t1000", "1000:1000")
    assert rep.readable_by("regular file\t1\t604\t0\t0", "1000")
    assert rep.readable_by("regular file\t1\t600\t0\t0", "agent")  # a name: the benefit of the doubt


def test_a_written_scenario_is_an_ordinary_one_and_fixed_asserts_the_fixed_behaviour(tmp_path):
    import yaml

    from harness.scenario import load_scenario
    profile = load_profile("reference")
    signature = sig.Signature(exit_code=11, lived_s=0.3, diagnosis="config-missing: directory not mounted",
                              registered=False)
    found = rep.infer(files(), profile)
    for fixed in (False, True):
        path = tmp_path / f"field-n{int(fixed)}.yaml"
        path.write_text(yaml.safe_dump(rep.scenario_for(f"field-n{int(fixed)}", found, signature, profile, "b.tar.gz",
                                                        fixed=fixed)))
        scenario = load_scenario(path)
        kinds = [check.type for check in scenario.checks]
        assert kinds == (["no_restart", "ready", "registered"] if fixed else ["exits", "stays_down"]), kinds
        assert scenario.field["signature"]["exit_code"] == 11 and scenario.field["bundle"] == "b.tar.gz"


def test_pytest_collects_a_field_scenario_where_reproduce_writes_it(tmp_path):
    import sys

    import yaml
    field = tmp_path / "scenarios" / "field"
    field.mkdir(parents=True)
    found = rep.infer(files(), load_profile("reference"))
    scenario = rep.scenario_for("field-n1", found, sig.Signature(exit_code=11), load_profile("reference"))
    (field / "field-n1.yaml").write_text(yaml.safe_dump(scenario))
    listed = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                             "scenarios"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert "scenarios/field/field-n1.yaml::field-n1" in listed, listed


def test_an_inspect_json_alone_is_read_and_its_unknown_architecture_is_said(tmp_path):
    inspect = tmp_path / "inspect.json"
    inspect.write_text(files()["container.json"])
    logs = tmp_path / "logs.txt"
    logs.write_text(logs_text := "2026-12-01T10:00:00.000000000Z PREFLIGHT FAIL config-missing /app/config: "
                    "directory not mounted (hint: mount it)\n")
    read = evidence.read_inspect(inspect, logs)
    assert read["logs.txt"] == logs_text and not evidence.is_bundle(inspect)
    found = rep.infer(read, load_profile("reference"))
    assert any("architecture" in c for c in found.cannot)
    assert rep.field_signature(read, load_profile("reference")).diagnosis == "config-missing: directory not mounted"
    bad = tmp_path / "bad.json"
    bad.write_text('{"Id": "x"}')
    with pytest.raises(InputError, match="State / HostConfig"):
        evidence.read_inspect(bad)


def test_a_mounted_docker_socket_is_startles_own_with_the_nodes_group_and_flag():
    profile = load_profile("reference")
    node = {**files({"Binds": ["/var/run/docker.sock:/var/run/docker.sock:ro"], "GroupAdd": ["999"]}),
            "mounts.tsv": "/var/run/docker.sock\tsocket\t0\t660\t0\t999\n"}
    wanted = {"type": "docker_socket", "mounted": True, "socket_gid": 999, "group_add": True, "read_only": True}
    assert wanted in rep.infer(node, profile).faults
    template = json.loads((profile.config_source() / "agent.json").read_text())  # its config does not need it
    both = files({"Binds": ["/var/run/docker.sock:/var/run/docker.sock:ro"], "GroupAdd": ["999"]}, mounts=MOUNTED)
    unneeded = {**with_config(json.dumps(template)), "container.json": both["container.json"]}
    assert not [f for f in rep.infer(unneeded, profile).faults if f["type"] == "docker_socket"]


def test_ready_is_the_ready_signal_or_dockers_healthy():
    profile = load_profile("reference")
    healthy = files(events=[{"Action": "health_status: healthy", "status": "health_status: healthy"}])
    assert rep.field_signature(healthy, profile).ready is True
    assert rep.field_signature(files(), profile).ready is False  # the reference declares its ready signal
    claimed = files(events=[{"Action": "health_status: unhealthy", "status": "health_status: unhealthy"}])
    claimed["logs.txt"] = '2026-12-01T10:00:00.000000000Z {"event": "stage", "stage": "ready", "ts": 1}\n'
    assert rep.field_signature(claimed, profile).ready is False  # its HEALTHCHECK said otherwise: not its word
    assert sig.judge(sig.Signature(exit_code=20, ready=False), sig.Signature(exit_code=20, ready=True))[0] == sig.PARTIAL
