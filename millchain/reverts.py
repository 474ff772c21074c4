"""Turn revert data into :class:`ContractRevert` with the custom error's name and decoded arguments."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector

from millchain.errors import ContractRevert

_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")
_HEX = re.compile(r"0x[0-9a-fA-F]{8,}")
_BYTES_REPR = re.compile(r"b'(?:[^'\\]|\\.)*'" + r'|b"(?:[^"\\]|\\.)*"')
"""eth-tester puts the repr of the revert bytes into its message, e.g. ``execution reverted: b'\\xc1...'``."""


def _canonical_type(param: Mapping[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


class RevertDecoder:
    """Knows every custom error declared in a set of ABIs, by selector."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_canonical_type(p) for p in item["inputs"]]
                names = [p["name"] or f"arg{i}" for i, p in enumerate(item["inputs"])]
                selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                self._errors[selector] = (item["name"], types, names)

    def decode(self, data: bytes) -> ContractRevert | None:
        """The revert for ``data``, or None if it is empty or unknown."""
        if len(data) < 4:
            return None
        selector, body = data[:4], data[4:]
        try:
            if selector == _ERROR_STRING:
                return ContractRevert("Error", {"message": decode(["string"], body)[0]})
            if selector == _PANIC:
                return ContractRevert("Panic", {"code": hex(decode(["uint256"], body)[0])})
            known = self._errors.get(selector)
            if known is None:
                return None
            name, types, names = known
            values = decode(types, body)
        except Exception:  # malformed payload: eth_abi raises several unrelated types
            return None
        return ContractRevert(name, dict(zip(names, values, strict=True)))


def revert_data(exc: BaseException) -> bytes | None:
    """Dig the raw revert bytes out of whatever a provider raised (web3 and eth-tester differ)."""
    candidates: list[Any] = [getattr(exc, "data", None), *getattr(exc, "args", ())]
    for item in candidates:
        if isinstance(item, (bytes, bytearray)) and len(item) >= 4:
            return bytes(item)
        if isinstance(item, dict):
            candidates.extend(item.values())
            continue
        if isinstance(item, str):
            match = _HEX.search(item)
            if match:
                return bytes.fromhex(match.group(0)[2:])
            literal = _BYTES_REPR.search(item)
            if literal:
                value = ast.literal_eval(literal.group(0))
                if isinstance(value, bytes) and len(value) >= 4:
                    return value
    cause = exc.__cause__ or exc.__context__
    return revert_data(cause) if cause is not None else None
