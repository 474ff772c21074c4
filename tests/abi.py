"""ABI facts the tests compute independently of the contracts: canonical parameter types and ERC-165 ids."""

from __future__ import annotations

from functools import reduce
from typing import Any

from eth_utils import function_signature_to_4byte_selector


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type of an ABI parameter, tuples spelled out: ``(uint256,bytes32)[]``."""
    if param["type"].startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return str(param["type"])


def interface_id(abi: list[dict[str, Any]]) -> bytes:
    """ERC-165: the XOR of the selectors of every function the interface's ABI declares."""
    selectors = [function_signature_to_4byte_selector(f"{f['name']}({','.join(abi_type(p) for p in f['inputs'])})")
                 for f in abi if f["type"] == "function"]
    return reduce(lambda a, b: bytes(x ^ y for x, y in zip(a, b, strict=True)), selectors)
