"""P256VERIFY (EIP-7951) as the embedded chain runs it: the EIP's vectors, the edge cases, gas and wiring."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import to_checksum_address
from web3 import Web3

from millchain.chain import Chain, connect
from millchain.p256_precompile import (
    P256VERIFY_ADDRESS,
    P256VERIFY_GAS,
    VALID,
    has_p256verify,
    is_on_curve,
    p256_verify,
    with_p256verify,
)
from tests.p256_cases import Case, edge_cases, eip_vectors

PRECOMPILE = to_checksum_address(P256VERIFY_ADDRESS)
TX_BASE = 21_000


def calldata_gas(data: bytes) -> int:
    """Intrinsic calldata cost after EIP-2028 (16 a non-zero byte, 4 a zero byte)."""
    return sum(16 if b else 4 for b in data)


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    yield connect("local")


def test_eip_vectors_all_give_the_published_output() -> None:
    vectors = eip_vectors()
    assert len(vectors) == 781
    wrong = [v.name for v in vectors if p256_verify(v.data) != v.expected]
    assert wrong == []
    # The file holds both outcomes in numbers, so a verifier that always accepted or refused would fail here.
    assert sum(v.expected == VALID for v in vectors) == 566


@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c.name)
def test_edge_case_output(case: Case) -> None:
    assert p256_verify(case.data) == case.expected


def test_point_at_infinity_and_out_of_field_coordinates_are_not_on_the_curve() -> None:
    assert not is_on_curve(0, 0)
    g_x = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
    g_y = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
    assert is_on_curve(g_x, g_y)
    assert not is_on_curve(g_x, g_y + 1)


@pytest.mark.parametrize("case", edge_cases() + eip_vectors()[:12] + eip_vectors()[-3:], ids=lambda c: c.name)
def test_embedded_chain_answers_eth_call_at_0x100(chain: Chain, case: Case) -> None:
    assert bytes(chain.w3.eth.call({"to": PRECOMPILE, "data": Web3.to_hex(case.data)})) == case.expected


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in edge_cases()
        if c.name in ("valid low-s", "wrong hash", "159 bytes", "r = 0", "point at infinity (0, 0)")
    ],
    ids=lambda c: c.name,
)
def test_6900_gas_is_charged_on_success_and_failure_alike(chain: Chain, case: Case) -> None:
    sender = chain.accounts[0].address
    tx = chain.w3.eth.send_transaction({"from": sender, "to": PRECOMPILE, "data": Web3.to_hex(case.data)})
    receipt = chain.w3.eth.get_transaction_receipt(tx)
    assert receipt["status"] == 1  # a failed verification is a successful call with empty output, never a revert
    assert receipt["gasUsed"] == TX_BASE + calldata_gas(case.data) + P256VERIFY_GAS


def test_one_gas_short_of_6900_fails_the_call(chain: Chain) -> None:
    data = edge_cases()[0].data
    sender = chain.accounts[0].address
    limit = TX_BASE + calldata_gas(data) + P256VERIFY_GAS
    short = chain.w3.eth.send_transaction(
        {"from": sender, "to": PRECOMPILE, "data": Web3.to_hex(data), "gas": limit - 1}
    )
    enough = chain.w3.eth.send_transaction({"from": sender, "to": PRECOMPILE, "data": Web3.to_hex(data), "gas": limit})
    assert chain.w3.eth.get_transaction_receipt(short)["status"] == 0
    assert chain.w3.eth.get_transaction_receipt(enough)["status"] == 1


def test_with_p256verify_adds_only_0x100_and_is_idempotent() -> None:
    from eth.vm.forks.prague import PragueVM

    vm = with_p256verify(PragueVM)
    before = PragueVM.get_state_class().computation_class.get_precompiles()
    after = vm.get_state_class().computation_class.get_precompiles()
    assert set(after) - set(before) == {P256VERIFY_ADDRESS}
    assert P256VERIFY_ADDRESS not in before  # py-evm's Prague itself has none: the hook is what adds it
    assert with_p256verify(vm) is vm


def test_precompile_survives_a_snapshot_revert(chain: Chain) -> None:
    tester = chain.tester
    assert tester is not None
    snapshot = tester.take_snapshot()
    tester.mine_blocks(2)
    tester.revert_to_snapshot(snapshot)
    assert bytes(chain.w3.eth.call({"to": PRECOMPILE, "data": Web3.to_hex(edge_cases()[0].data)})) == VALID


def test_has_p256verify_is_true_on_the_embedded_chain_and_false_on_plain_prague(chain: Chain) -> None:
    from eth_tester import EthereumTester, PyEVMBackend
    from web3.providers.eth_tester import EthereumTesterProvider

    assert has_p256verify(chain.w3)
    plain = Web3(EthereumTesterProvider(EthereumTester(PyEVMBackend())))  # py-evm's Prague, no hook
    assert not has_p256verify(plain)
