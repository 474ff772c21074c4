"""Decode every log a contract emitted in a receipt, by topic, without web3's per-event mismatch warnings; read
receipts and block hashes lean, for a transaction manager watching receipts with hundreds of logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_abi import decode
from eth_utils import event_abi_to_log_topic
from eth_utils.abi import collapse_if_tuple
from web3 import Web3
from web3._utils.events import get_event_data
from web3.contract import Contract
from web3.exceptions import BlockNotFound, TransactionNotFound
from web3.providers import JSONBaseProvider
from web3.types import EventData, RPCEndpoint, TxReceipt

from millchain.errors import ChainError


def decode_events(contract: Contract, receipt: TxReceipt) -> list[EventData]:
    """The logs of ``receipt`` emitted by ``contract``, decoded, in order; others are ignored."""
    by_topic: dict[bytes, Any] = {
        event_abi_to_log_topic(cast(Any, item)): item for item in contract.abi if item.get("type") == "event"
    }
    decoded = []
    for log in receipt["logs"]:
        if log["address"] != contract.address or not log["topics"]:
            continue
        abi = by_topic.get(bytes(log["topics"][0]))
        if abi is not None:
            decoded.append(get_event_data(contract.w3.codec, abi, log))
    return decoded


def event_names(contract: Contract, receipt: TxReceipt) -> list[str]:
    return [str(event["event"]) for event in decode_events(contract, receipt)]


@dataclass(frozen=True)
class Log:
    address: str
    """In lower case."""
    topics: Sequence[bytes]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    """What a transaction manager needs of a receipt: outcome, block, logs."""

    status: int
    block_number: int
    block_hash: bytes
    logs: Sequence[Log]

    @classmethod
    def of(cls, receipt: TxReceipt) -> Receipt:
        """From web3's formatted receipt."""
        return cls(int(receipt["status"]), int(receipt["blockNumber"]), bytes(receipt["blockHash"]),
                   [Log(str(log["address"]).lower(), [bytes(t) for t in log["topics"]], bytes(log["data"]))
                    for log in receipt["logs"]])


def fetch_receipt(w3: Web3, tx_hash: str) -> Receipt | None:
    """The receipt of ``tx_hash``, or None while it is not mined.

    Over JSON-RPC the node's answer is read as it comes: web3's result formatters cost tens of milliseconds
    for a receipt with hundreds of logs (an oracle batch), more than everything else the oracle does with it.
    Other providers (the embedded chain) answer through web3."""
    if isinstance(w3.provider, JSONBaseProvider):
        response = w3.provider.make_request(RPCEndpoint("eth_getTransactionReceipt"), [tx_hash])
        if response.get("error"):
            raise ChainError(f"eth_getTransactionReceipt({tx_hash}): {response['error']}")
        raw = response.get("result")
        if raw is None:
            return None
        return Receipt(int(raw["status"], 16), int(raw["blockNumber"], 16), bytes.fromhex(raw["blockHash"][2:]),
                       [Log(log["address"].lower(), [bytes.fromhex(t[2:]) for t in log["topics"]],
                            bytes.fromhex(log["data"][2:])) for log in raw["logs"]])
    try:
        return Receipt.of(w3.eth.get_transaction_receipt(cast(Any, tx_hash)))
    except TransactionNotFound:
        return None


def block_hash(w3: Web3, number: int) -> bytes | None:
    """The hash of the canonical block ``number``, or None if there is none (yet)."""
    if isinstance(w3.provider, JSONBaseProvider):
        response = w3.provider.make_request(RPCEndpoint("eth_getBlockByNumber"), [hex(number), False])
        if response.get("error"):
            raise ChainError(f"eth_getBlockByNumber({number}): {response['error']}")
        raw = response.get("result")
        return None if raw is None else bytes.fromhex(raw["hash"][2:])
    try:
        return bytes(w3.eth.get_block(number)["hash"])
    except BlockNotFound:
        return None


class LogDecoder:
    """A contract's logs decoded straight with eth_abi, for receipts with hundreds of events (an oracle batch).

    web3's ``get_event_data`` re-derives the event's topic and normalises every value on each log, which costs
    more than the rest of processing a batch's receipt; here the topics and argument types are read from the
    ABI once. Values come as eth_abi decodes them: structs as tuples, addresses in lower case.
    """

    def __init__(self, contract: Contract) -> None:
        self.address = contract.address.lower()
        self._events: dict[bytes, tuple[str, list[tuple[str, str]], list[str], list[str]]] = {}
        for item in contract.abi:
            if item.get("type") != "event" or item.get("anonymous"):
                continue
            event: Any = item
            inputs = event["inputs"]
            indexed = [(i["name"], collapse_if_tuple(i)) for i in inputs if i.get("indexed")]
            data = [i for i in inputs if not i.get("indexed")]
            self._events[event_abi_to_log_topic(event)] = (
                str(event["name"]), indexed, [i["name"] for i in data], [collapse_if_tuple(i) for i in data])

    def decode(self, receipt: Receipt | TxReceipt) -> list[tuple[str, dict[str, Any]]]:
        """(event name, arguments) of each log of ``receipt`` the contract emitted, in order."""
        if not isinstance(receipt, Receipt):
            receipt = Receipt.of(receipt)
        decoded = []
        for log in receipt.logs:
            if log.address != self.address or not log.topics:
                continue
            event = self._events.get(log.topics[0])
            if event is None:
                continue
            name, indexed, data_names, data_types = event
            args = {arg: topic if _hashed_in_topic(kind) else decode([kind], topic)[0]
                    for (arg, kind), topic in zip(indexed, log.topics[1:], strict=True)}
            args.update(zip(data_names, decode(data_types, log.data), strict=True))
            decoded.append((name, args))
        return decoded


def _hashed_in_topic(kind: str) -> bool:
    """Indexed strings, bytes, arrays and structs are stored as their keccak: the topic is all there is."""
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")
