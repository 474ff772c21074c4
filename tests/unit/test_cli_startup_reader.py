"""ContractReader, the read path of read-only commands (no web3): the same values and the same custom errors as
web3's contract calls, checked on the embedded chain (test_cli_startup.py runs the commands themselves)."""

from __future__ import annotations

from typing import Any

import pytest

from millchain.calls import ContractReader
from millchain.errors import ContractRevert
from millchain.identity import MachineRegistryClient
from millchain.session import Session
from millchain.types import machine_id


@pytest.mark.parametrize(
    ("contract", "function", "args"),
    [
        ("EquipmentLease", "eip712Domain", ()),  # several outputs: bytes1, strings, an address, a uint256[]
        ("SettlementToken", "eip712Domain", ()),
        ("SettlementToken", "decimals", ()),  # one output: unwrapped
        ("MachineRegistry", "signerOf", (machine_id("startup-press"),)),  # (address, uint8)
        ("MachineRegistry", "getMachine", (machine_id("startup-press"),)),  # a struct holding addresses
    ],
)
def test_contract_reader_returns_what_web3s_call_returns(
    local: Session, contract: str, function: str, args: tuple[Any, ...]
) -> None:

    MachineRegistryClient(local, 1).register(machine_id("startup-press"), local.chain.account(5).address)
    expected = getattr(local.contract(contract).functions, function)(*args).call(
        {"from": local.chain.account(0).address}
    )
    read = local.reader(contract).call(function, *args)
    assert read == expected
    assert type(read) is type(expected)


def test_contract_reader_raises_the_contracts_custom_error_as_web3_calls_do(local: Session) -> None:
    with pytest.raises(ContractRevert) as via_web3:
        local.tx.call(local.contract("EquipmentLease").functions.getLease(77))
    reader: ContractReader = local.reader("EquipmentLease")
    with pytest.raises(ContractRevert) as via_reader:
        reader.call("getLease", 77)
    assert (via_reader.value.name, via_reader.value.args_by_name) == (via_web3.value.name, via_web3.value.args_by_name)
    assert via_reader.value.name == "EquipmentLeaseUnknownLease"
