"""What the indexer reads from a node: heads, block headers and logs, over plain JSON-RPC.

Raw JSON-RPC (one HTTP session, batched requests) rather than web3's formatted calls: a backfill reads millions
of logs, and web3's per-log result formatting would cost more than everything the index does with them.
Any node that speaks the standard eth_* methods works (anvil, geth, Besu); nothing here is anvil-specific.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import requests

from millchain.errors import ChainError


@dataclass(frozen=True)
class Header:
    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int


class RawLog(NamedTuple):
    """A log as the node gave it (a NamedTuple: a backfill makes millions, and it builds faster than a
    dataclass)."""

    block_number: int
    block_hash: bytes
    log_index: int
    tx_hash: bytes
    address: str
    """In lower case."""
    topics: Sequence[bytes]
    data: bytes


class TooManyLogs(ChainError):
    """The node refused a log range as too large: the indexer halves it."""


class RpcSource:
    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.url = url
        self._http = requests.Session()
        self._timeout = timeout
        self._ids = itertools.count(1)

    def _post(self, payload: Any) -> Any:
        try:
            response = self._http.post(self.url, json=payload, timeout=self._timeout)
            response.raise_for_status()
            # Parsed from the bytes: requests' .json() may first sniff the charset of a multi-megabyte body.
            return json.loads(response.content)
        except (requests.RequestException, ValueError) as exc:
            raise ChainError(f"node {self.url} did not answer: {exc}") from exc

    def call(self, method: str, params: Sequence[Any]) -> Any:
        answer = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        if "error" in answer:
            message = str(answer["error"].get("message", answer["error"]))
            if method == "eth_getLogs" and any(w in message.lower() for w in ("too many", "limit", "exceed", "range")):
                raise TooManyLogs(f"eth_getLogs: {message}")
            raise ChainError(f"{method}: {message}")
        return answer["result"]

    def batch(self, method: str, params: Sequence[Sequence[Any]]) -> list[Any]:
        """One HTTP request for many calls of ``method``; answers in the order asked."""
        if not params:
            return []
        first = next(self._ids)
        payload = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": list(p)} for i, p in enumerate(params)
        ]
        for _ in payload[1:]:
            next(self._ids)
        answers = self._post(payload)
        if not isinstance(answers, list):
            raise ChainError(f"{method}: the node does not accept batched requests: {answers}")
        by_id = {a["id"]: a for a in answers}
        out = []
        for i in range(len(params)):
            answer = by_id.get(first + i)
            if answer is None or "error" in answer:
                raise ChainError(f"{method}{tuple(params[i])}: {answer and answer.get('error')}")
            out.append(answer["result"])
        return out

    def chain_id(self) -> int:
        return int(self.call("eth_chainId", []), 16)

    def head(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def headers(self, numbers: Sequence[int]) -> dict[int, Header | None]:
        """Headers of the canonical blocks ``numbers`` (None for a block the chain does not have)."""
        found: dict[int, Header | None] = {}
        unique = sorted(set(numbers))
        for start in range(0, len(unique), 200):
            chunk = unique[start : start + 200]
            for number, raw in zip(
                chunk, self.batch("eth_getBlockByNumber", [[hex(n), False] for n in chunk]), strict=True
            ):
                found[number] = (
                    None
                    if raw is None
                    else Header(
                        int(raw["number"], 16),
                        bytes.fromhex(raw["hash"][2:]),
                        bytes.fromhex(raw["parentHash"][2:]),
                        int(raw["timestamp"], 16),
                    )
                )
        return found

    def header(self, number: int) -> Header | None:
        return self.headers([number])[number]

    def logs(self, addresses: Sequence[str], from_block: int, to_block: int) -> list[RawLog]:
        raw = self.call(
            "eth_getLogs", [{"address": list(addresses), "fromBlock": hex(from_block), "toBlock": hex(to_block)}]
        )
        # A block's hundreds of logs share its number and hash, a batch's its transaction hash: each hex string is
        # converted once.
        numbers: dict[str, int] = {}
        hashes: dict[str, bytes] = {}
        fromhex = bytes.fromhex
        out = []
        for log in raw:
            if log.get("removed"):
                continue
            number_hex, block_hex, tx_hex = log["blockNumber"], log["blockHash"], log["transactionHash"]
            number = numbers.get(number_hex)
            if number is None:
                number = numbers[number_hex] = int(number_hex, 16)
            block_hash = hashes.get(block_hex)
            if block_hash is None:
                block_hash = hashes[block_hex] = fromhex(block_hex[2:])
            tx_hash = hashes.get(tx_hex)
            if tx_hash is None:
                tx_hash = hashes[tx_hex] = fromhex(tx_hex[2:])
            out.append(
                RawLog(
                    number,
                    block_hash,
                    int(log["logIndex"], 16),
                    tx_hash,
                    log["address"].lower(),
                    [fromhex(t[2:]) for t in log["topics"]],
                    fromhex(log["data"][2:]),
                )
            )
        return out
