"""The embedded chain's P256VERIFY gives anvil's answers (anvil runs revm's EIP-7951 precompile): the same output
for every edge case and for a spread of EIP-7951's vectors, and the same gas for a call that verifies and one
that does not."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address
from web3 import Web3

from millchain.chain import Chain, connect
from millchain.p256_precompile import P256VERIFY_ADDRESS, P256VERIFY_GAS, has_p256verify
from tests.p256_cases import Case, anvil_chain, edge_cases, eip_vectors  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

PRECOMPILE = to_checksum_address(P256VERIFY_ADDRESS)
# Every 13th published vector: each kind of Wycheproof case is represented, and the test stays a few seconds.
SAMPLE = edge_cases() + eip_vectors()[::13]


@pytest.fixture(scope="module")
def local_chain() -> Chain:
    return connect("local")


def _call(chain: Chain, data: bytes) -> bytes:
    return bytes(chain.w3.eth.call({"to": PRECOMPILE, "data": Web3.to_hex(data)}))


@pytest.mark.parametrize("case", SAMPLE, ids=lambda c: c.name)
def test_anvil_and_embedded_chain_give_the_same_output(anvil_chain: Chain, local_chain: Chain, case: Case) -> None:  # noqa: F811
    assert _call(anvil_chain, case.data) == case.expected
    assert _call(local_chain, case.data) == case.expected


def _gas_used(chain: Chain, data: bytes) -> int:
    tx = chain.w3.eth.send_transaction(
        {"from": chain.accounts[0].address, "to": PRECOMPILE, "data": Web3.to_hex(data), "gas": 100_000}
    )
    receipt = chain.w3.eth.get_transaction_receipt(tx)
    assert receipt["status"] == 1
    return int(receipt["gasUsed"])


@pytest.mark.parametrize("name", ["valid low-s", "wrong hash", "r = 0", "159 bytes"])
def test_anvil_and_embedded_chain_charge_the_same_gas(anvil_chain: Chain, local_chain: Chain, name: str) -> None:  # noqa: F811
    data = next(c for c in edge_cases() if c.name == name).data
    on_anvil = _gas_used(anvil_chain, data)
    assert _gas_used(local_chain, data) == on_anvil
    assert on_anvil == 21_000 + sum(16 if b else 4 for b in data) + P256VERIFY_GAS


# A contract that STATICCALLs 0x100 with its call data and returns what it got, as the lease will call it:
# CALLDATACOPY(0, 0, size); STATICCALL(gas, 0x100, 0, size, 0, 32); RETURN(0, returndatasize).
CALLER_RUNTIME = bytes.fromhex("365f5f3760205f365f6101005afa503d5ff3")
CALLER_INIT = bytes.fromhex("6012600a5f3960125ff3") + CALLER_RUNTIME


def _deploy_caller(chain: Chain) -> str:
    tx = chain.w3.eth.send_transaction({"from": chain.accounts[0].address, "data": Web3.to_hex(CALLER_INIT)})
    address = chain.w3.eth.get_transaction_receipt(tx)["contractAddress"]
    assert bytes(chain.w3.eth.get_code(address)) == CALLER_RUNTIME
    return str(address)


@pytest.mark.parametrize("name", ["valid low-s", "wrong hash", "161 bytes"])
def test_a_contract_calling_0x100_sees_the_same_output_and_pays_the_same_gas_on_both_chains(
    anvil_chain: Chain,  # noqa: F811
    local_chain: Chain,
    name: str,
) -> None:
    """0x100 counts as a precompile for EIP-2929 on the embedded chain too (warm: 100 gas for the call, not a
    cold account's 2,600), so a contract's gas there is what a current chain charges."""
    case = next(c for c in edge_cases() if c.name == name)
    used = []
    for chain in (anvil_chain, local_chain):
        caller = _deploy_caller(chain)
        assert bytes(chain.w3.eth.call({"to": caller, "data": Web3.to_hex(case.data)})) == case.expected
        tx = chain.w3.eth.send_transaction({"from": chain.accounts[0].address, "to": caller,
                                            "data": Web3.to_hex(case.data), "gas": 200_000})  # fmt: skip
        receipt = chain.w3.eth.get_transaction_receipt(tx)
        assert receipt["status"] == 1
        used.append(receipt["gasUsed"])
    assert used[0] == used[1]


def test_has_p256verify_on_anvil(anvil_chain: Chain) -> None:  # noqa: F811
    assert has_p256verify(anvil_chain.w3)
