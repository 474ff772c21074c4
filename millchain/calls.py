"""Contract calldata encoded straight with eth_abi, for calls made by the hundred.

web3's ``ContractFunction`` looks the function up in the ABI, validates and normalises every argument on each
call; for a 400-report batch or a thousand-machine multicall that costs more than everything else done with
the call. Here the selector and argument types are read from the ABI once, so an ABI change comes with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eth_abi import decode, encode
from eth_abi.grammar import ABIType, BasicType, TupleType, parse
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from eth_utils.abi import collapse_if_tuple

from millchain.errors import ChainError, ContractRevert
from millchain.reverts import RevertDecoder, revert_data

if TYPE_CHECKING:
    from millchain.chain import Chain


class FunctionCall:
    """Calldata of the function ``name`` of ``abi`` (one overload only)."""

    def __init__(self, abi: Sequence[Mapping[str, Any]], name: str) -> None:
        matches = [item for item in abi if item.get("type") == "function" and item.get("name") == name]
        if len(matches) != 1:
            raise ValueError(f"the ABI has {len(matches)} functions named {name!r}, expected one")
        fn: Any = matches[0]
        self.name = name
        self.selector = bytes(function_abi_to_4byte_selector(fn))
        self.types = [collapse_if_tuple(item) for item in fn["inputs"]]
        self.output_types = [collapse_if_tuple(item) for item in fn.get("outputs", [])]

    def encode(self, *args: Any) -> bytes:
        return self.selector + encode(self.types, list(args))

    def decode_output(self, data: bytes) -> tuple[Any, ...]:
        """What the function returned (structs as tuples)."""
        return tuple(decode(self.output_types, data))


def explain_failure(decoder: RevertDecoder, exc: BaseException) -> Exception:
    """The ContractRevert hidden in whatever a provider raised, or a ChainError saying what happened."""
    data = revert_data(exc)
    if data is not None:
        decoded = decoder.decode(data)
        if decoded is not None:
            return decoded
    return ChainError(f"{type(exc).__name__}: {exc}")


class ContractReader:
    """View calls to one contract without web3 (a read-only command then never imports it, see
    :mod:`millchain.rpc`): calldata and results through eth_abi, results shaped as web3's ``.call()`` gives them
    (addresses checksummed, arrays as lists, structs as tuples, a single output unwrapped), a revert raised as
    its ContractRevert. Calls carry no sender: for views that do not read msg.sender."""

    def __init__(self, chain: Chain, address: str, abi: Sequence[Mapping[str, Any]], decoder: RevertDecoder) -> None:
        self.chain = chain
        self.address = address
        self.abi = abi
        self.decoder = decoder
        self._functions: dict[str, tuple[FunctionCall, list[ABIType]]] = {}

    def call(self, name: str, *args: Any, block: int | str = "latest") -> Any:
        if name not in self._functions:
            found = FunctionCall(self.abi, name)
            self._functions[name] = (found, [parse(t) for t in found.output_types])
        function, output_types = self._functions[name]
        try:
            returned = self.chain.call(self.address, function.encode(*args), block=block)
        except ContractRevert:
            raise
        except Exception as exc:
            raise explain_failure(self.decoder, exc) from exc
        if not returned and function.output_types:
            raise ChainError(f"{name} at {self.address} returned nothing: is the contract deployed on this chain?")
        values = [_as_web3_returns(t, v) for t, v in zip(output_types, function.decode_output(returned), strict=True)]
        return values[0] if len(values) == 1 else values


def _as_web3_returns(abi_type: ABIType, value: Any) -> Any:
    if abi_type.is_array:
        return [_as_web3_returns(abi_type.item_type, item) for item in value]
    if isinstance(abi_type, TupleType):
        return tuple(_as_web3_returns(t, v) for t, v in zip(abi_type.components, value, strict=True))
    if isinstance(abi_type, BasicType) and abi_type.base == "address":
        return to_checksum_address(value)
    return value
