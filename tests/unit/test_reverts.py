"""Revert data -> named errors with decoded arguments, whatever shape the provider wrapped it in."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from millchain.errors import ContractRevert
from millchain.reverts import RevertDecoder, revert_data

ABI = [
    {"type": "error", "name": "MachineRegistryUnknownMachine",
     "inputs": [{"name": "machineId", "type": "bytes32"}]},
    {"type": "error", "name": "Pair", "inputs": [{"name": "who", "type": "address"}, {"name": "", "type": "uint64"}]},
]
DECODER = RevertDecoder([ABI])


def error_data(signature: str, types: list[str], values: list[object]) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, values)


def test_custom_error_is_named_with_its_arguments() -> None:
    data = error_data("MachineRegistryUnknownMachine(bytes32)", ["bytes32"], [b"\x01" * 32])
    revert = DECODER.decode(data)
    assert revert is not None
    assert revert.name == "MachineRegistryUnknownMachine"
    assert revert.args_by_name == {"machineId": b"\x01" * 32}
    assert str(revert) == "MachineRegistryUnknownMachine(machineId=0x" + "01" * 32 + ")"


def test_unnamed_parameters_get_positional_names_and_addresses_are_checksummed() -> None:
    who = "0x90f79bf6eb2c4f870365e785982e1f101e93b906"
    revert = DECODER.decode(error_data("Pair(address,uint64)", ["address", "uint64"], [who, 7]))
    assert revert is not None
    assert str(revert) == "Pair(who=0x90F79bf6EB2c4f870365E785982E1f101E93b906, arg1=7)"


def test_require_string_and_panic_are_decoded() -> None:
    assert str(DECODER.decode(error_data("Error(string)", ["string"], ["nope"]))) == "Error(message=nope)"
    assert str(DECODER.decode(error_data("Panic(uint256)", ["uint256"], [0x11]))) == "Panic(code=0x11)"


def test_unknown_or_truncated_data_decodes_to_nothing() -> None:
    assert DECODER.decode(b"\xde\xad\xbe\xef") is None
    assert DECODER.decode(b"\x01") is None
    truncated = error_data("MachineRegistryUnknownMachine(bytes32)", ["bytes32"], [b"\x01" * 32])[:20]
    assert DECODER.decode(truncated) is None


def test_revert_bytes_are_found_in_hex_repr_and_nested_causes() -> None:
    data = error_data("Pair(address,uint64)", ["address", "uint64"], ["0x" + "11" * 20, 1])
    assert revert_data(ValueError("execution reverted", "0x" + data.hex())) == data
    assert revert_data(ValueError(f"execution reverted: {data!r}")) == data
    assert revert_data(ValueError({"code": 3, "data": "0x" + data.hex()})) == data
    try:
        try:
            raise ValueError(data)
        except ValueError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert revert_data(outer) == data
    assert revert_data(ValueError("no data here")) is None


def test_contract_revert_is_a_millchain_error_with_one_line() -> None:
    revert = ContractRevert("X", {"a": 1, "b": [b"\x02", 3]})
    assert "\n" not in str(revert)
    assert str(revert) == "X(a=1, b=[0x02, 3])"
