"""Contract calldata encoded straight with eth_abi, for calls made by the hundred.

web3's ``ContractFunction`` looks the function up in the ABI, validates and normalises every argument on each
call; for a 400-report batch or a thousand-machine multicall that costs more than everything else done with
the call. Here the selector and argument types are read from the ABI once, so an ABI change comes with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_abi_to_4byte_selector
from eth_utils.abi import collapse_if_tuple


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
