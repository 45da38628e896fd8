"""The center's listen queue as a storm figure: read from the kernel, shown as n/a when unmeasured."""

from __future__ import annotations


def test_the_table_says_n_a_for_an_unmeasured_listen_queue_not_never():
    import pandas as pd

    from harness.storm import report
    summary = pd.DataFrame([{"policy": "profile", "agents": 30, "attempts": 270, "t100_s": 3.8, "listen_overflows": 12},
                            {"policy": "containers", "agents": 30, "attempts": 265, "t100_s": float("nan"),
                             "listen_overflows": float("nan")}])
    lines = report.table(summary, "attempts").splitlines()
    containers = next(line for line in lines if "containers" in line)
    assert containers.rstrip().endswith("n/a") and "never" in containers  # t100 never, the queue unknown
    assert next(line for line in lines if "profile" in line).rstrip().endswith("12")


def test_listen_overflows_reads_the_tcpext_counter(tmp_path):
    from harness.storm.runner import listen_overflows
    netstat = tmp_path / "netstat"
    netstat.write_text("TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 14843 14843\n"
                       "IpExt: InNoRoutes\nIpExt: 0\n")
    assert listen_overflows(netstat) == 14843
    netstat.write_text("IpExt: InNoRoutes\nIpExt: 0\n")
    assert listen_overflows(netstat) is None
    assert listen_overflows(tmp_path / "missing") is None
