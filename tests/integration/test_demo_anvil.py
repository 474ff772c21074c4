"""`millchain demo --network anvil` twice on the same node: both runs play the whole day, and the node's clock
is left in step with the wall clock for the next tour (the day's hours are rolled back with its snapshot)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from millchain.chain import connect
from millchain.node import AnvilNode

pytestmark = pytest.mark.integration


def test_the_demo_runs_twice_on_one_node_and_leaves_its_clock_usable(
    anvil: AnvilNode, anvil_cli: Callable[..., str]
) -> None:
    for _ in range(2):
        report = json.loads(anvil_cli("demo", "--json"))
        assert report["parts"]["leasing"]["refund"] > 0
        assert "rolled back" in report["clock"]
    chain = connect("anvil", rpc_url=anvil.url)
    assert abs(chain.now() - time.time()) < 120  # not the ~7 h the day plays


def test_keep_state_says_plainly_that_the_clock_moved(anvil: AnvilNode, anvil_cli: Callable[..., str]) -> None:
    report = json.loads(anvil_cli("demo", "--keep-state", "--json"))
    assert "for good" in report["clock"] and "millchain node --fresh" in report["clock"]
    assert connect("anvil", rpc_url=anvil.url).now() - time.time() > 6 * 3600
    again = json.loads(anvil_cli("demo", "--json"))  # new names: the kept machines do not collide
    assert again["parts"]["leasing"]["summary"].keys().isdisjoint(report["parts"]["leasing"]["summary"].keys())
