"""The embedded chain's two-execution gas estimate: never too low, even where the 63/64 rule compounds over
nested calls, and close to what the transaction uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eth_tester.exceptions import TransactionFailed

from millchain.chain import connect
from millchain.compiler import compile_project, load_artifact
from millchain.project import Project
from tests.unit.test_compiler import make_project

NEST = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Nest {
    uint256 public sum;
    /// Works at every level, then calls itself: each nested call gets only 63/64 of what is left.
    function dig(uint256 depth) external {
        require(depth < 50, "too deep");
        uint256 x;
        for (uint256 i; i < 300; ++i) x += i;
        sum += x;
        if (depth > 0) this.dig(depth - 1);
    }
}
"""


@pytest.fixture(scope="module")
def nest(tmp_path_factory: pytest.TempPathFactory, project: Project) -> Any:
    tiny = make_project(Path(tmp_path_factory.mktemp("nest")), project, {"Nest.sol": NEST})
    compile_project(tiny)
    artifact = load_artifact(tiny, "Nest")
    w3 = connect("local").w3
    sender = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    address = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": sender}))["contractAddress"]
    return w3.eth.contract(address=address, abi=artifact["abi"]), sender


@pytest.mark.parametrize("depth", [0, 1, 3, 8])
def test_a_transaction_sent_with_exactly_the_estimate_succeeds(nest: Any, depth: int) -> None:
    contract, sender = nest
    call = contract.functions.dig(depth)
    estimate = call.estimate_gas({"from": sender})
    receipt = contract.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, "gas": estimate}))
    assert receipt["status"] == 1
    # Close to the need, which the 63/64 rule compounds once per nesting level: within the 1/63 and stipend
    # slack, or within py-evm's own search step where that slack was not enough and the search took over.
    need = receipt["gasUsed"] * (64 / 63) ** (depth + 1)
    assert receipt["gasUsed"] <= estimate <= need + 21_000


def test_a_transaction_that_reverts_at_the_block_limit_fails_to_estimate_with_its_reason(nest: Any) -> None:
    contract, sender = nest
    with pytest.raises(TransactionFailed, match="too deep"):
        contract.functions.dig(50).estimate_gas({"from": sender})
