"""`startle storm --containers N` options: what is refused with a fix, what the simulation beside it runs."""

from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.storm import cli


def settings(*argv: str):
    return cli.settings_from(cli.parser().parse_args(list(argv)))


def test_containers_alone_simulate_the_profile_at_the_fleet_size():
    s = settings("--mode", "outage", "--containers", "30")
    assert [p.name for p in s.policies] == ["profile"] and s.agents == [30]


def test_named_policies_are_kept_and_the_profile_added():
    s = settings("--mode", "outage", "--containers", "30", "--policy", "none")
    assert [p.name for p in s.policies] == ["none", "profile"]


@pytest.mark.parametrize("argv, fix", [
    (("--mode", "boot", "--containers", "30"), "--mode outage"),
    (("--mode", "outage", "--containers", "0"), "--mode outage --containers N"),
    (("--mode", "outage", "--containers", "30", "--agents", "100"), "drop --agents"),
    (("--mode", "outage", "--containers", "30", "--center-url", "http://127.0.0.1:1"), "drop --center-url"),
])
def test_refused_with_the_fix(argv, fix):
    with pytest.raises(InputError, match=fix):
        settings(*argv)
