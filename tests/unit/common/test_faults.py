"""The test-only fault switch: inert by default, parsed strictly, fires once."""

from __future__ import annotations

import pytest

from podium_common import faults
from podium_common.errors import ConfigError


@pytest.fixture(autouse=True)
def _inert():
    yield
    faults.install({})
    faults._desync.clear()


def test_no_variable_arms_nothing():
    faults.install({})
    assert faults.armed("consumed", "any") is None


def test_a_point_with_a_match_and_a_stall():
    faults.install({"PODIUM_FAULT": "published@abc=stall:2.5, consumed"})
    assert faults.armed("published", "xxabcxx") == faults.Fault("published", "abc", 2.5)
    assert faults.armed("published", "other") is None
    assert faults.armed("consumed", "other") == faults.Fault("consumed", "", None)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("landed", "unknown fault point 'landed'"),
        ("consumed=explode", "kill, raise, desync or stall:SECONDS, not 'explode'"),
        ("consumed=stall:soon", "not 'stall:soon'"),
        ("consumed=desync:5", "kill, raise, desync or stall:SECONDS, not 'desync:5'"),
    ],
)
def test_a_bad_spec_names_what_is_wrong(spec, says):
    with pytest.raises(ConfigError, match=says):
        faults.install({"PODIUM_FAULT": spec})


async def test_a_stall_fires_once():
    faults.install({"PODIUM_FAULT": "stored=stall:0"})
    await faults.reach("stored", "k")
    assert faults.armed("stored", "k") is None


async def test_raise_raises_an_injected_fault():
    faults.install({"PODIUM_FAULT": "consumed@g1=raise"})
    with pytest.raises(faults.InjectedFault, match="injected at consumed for g1"):
        await faults.reach("consumed", "g1")


async def test_desync_pushes_the_registered_producer_ahead_once_and_goes_on():
    pushed: list[str] = []

    def push_ahead() -> int:
        pushed.append("ahead")
        return 3

    faults.desync_with(push_ahead)
    faults.install({"PODIUM_FAULT": "stored@g1=desync"})

    await faults.reach("stored", "g1")
    await faults.reach("stored", "g1")

    assert pushed == ["ahead"]


async def test_desync_where_no_producer_is_registered_fails_loudly():
    faults.install({"PODIUM_FAULT": "consumed=desync"})
    with pytest.raises(faults.InjectedFault, match="registered no producer"):
        await faults.reach("consumed", "k")
