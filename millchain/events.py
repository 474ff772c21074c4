"""Decode every log a contract emitted in a receipt, by topic, without web3's per-event mismatch warnings."""

from __future__ import annotations

from typing import Any, cast

from eth_utils import event_abi_to_log_topic
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
