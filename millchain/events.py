"""Decode every log a contract emitted in a receipt, by topic, without web3's per-event mismatch warnings."""

from __future__ import annotations

from typing import Any, cast

from eth_abi import decode
from eth_utils import event_abi_to_log_topic
from eth_utils.abi import collapse_if_tuple
from web3._utils.events import get_event_data
from web3.contract import Contract
from web3.types import EventData, TxReceipt


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


class LogDecoder:
    """A contract's logs decoded straight with eth_abi, for receipts with hundreds of events (an oracle batch).

    web3's ``get_event_data`` re-derives the event's topic and normalises every value on each log, which costs
    more than the rest of processing a batch's receipt; here the topics and argument types are read from the
    ABI once. Values come as eth_abi decodes them: structs as tuples, addresses in lower case.
    """

    def __init__(self, contract: Contract) -> None:
        self.address = contract.address
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

    def decode(self, receipt: TxReceipt) -> list[tuple[str, dict[str, Any]]]:
        """(event name, arguments) of each log of ``receipt`` the contract emitted, in order."""
        decoded = []
        for log in receipt["logs"]:
            if log["address"] != self.address or not log["topics"]:
                continue
            event = self._events.get(bytes(log["topics"][0]))
            if event is None:
                continue
            name, indexed, data_names, data_types = event
            args = {arg: bytes(topic) if _hashed_in_topic(kind) else decode([kind], bytes(topic))[0]
                    for (arg, kind), topic in zip(indexed, log["topics"][1:], strict=True)}
            args.update(zip(data_names, decode(data_types, bytes(log["data"])), strict=True))
            decoded.append((name, args))
        return decoded


def _hashed_in_topic(kind: str) -> bool:
    """Indexed strings, bytes, arrays and structs are stored as their keccak: the topic is all there is."""
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")
