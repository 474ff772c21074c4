"""Logs into rows, with the ABIs of the deployment records.

Events whose data holds only static words (uints, addresses, bools, bytes32 — UsageSettled among them) are
decoded by slicing the words; the rest go through eth_abi. Indexed strings, bytes, arrays and structs appear
only as their keccak in a topic, which is stored as such.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic
from eth_utils.abi import collapse_if_tuple

from millchain.index.schema import row_id
from millchain.index.source import RawLog

USAGE_EVENT = ("EquipmentLease", "UsageSettled")
LINEAGE_EVENT = ("QualityLedger", "LotRegistered")
"""Its inputs also go to ``lot_inputs``, one row per (lot, input)."""
LINEAGE_COLUMNS = ("id", "lot", "input")
ALERT_EVENT = ("QualityLedger", "Attested")
"""With a severity, also a row of ``quality_alerts``."""
ALERT_COLUMNS = ("id", "lot")
EVENT_COLUMNS = ("id", "block_number", "log_index", "block_hash", "tx_hash", "contract", "event", "subject", "args")
USAGE_COLUMNS = ("id", "lease", "block_number", "log_index", "block_hash", "tx_hash", "counter", "units", "amount")


@dataclass(frozen=True)
class Followed:
    """A contract the index follows: its name, address and ABI from deployments/, the block it was deployed in."""

    name: str
    address: str
    abi: Sequence[Mapping[str, Any]]
    start_block: int


def _static_word_decoder(kind: str) -> Any:
    if kind.endswith("]") or kind.startswith("("):
        return None
    if kind.startswith("uint"):
        return lambda w: int.from_bytes(w, "big")
    if kind.startswith("int"):
        return lambda w: int.from_bytes(w, "big", signed=True)
    if kind == "address":
        return lambda w: "0x" + w[12:].hex()
    if kind == "bool":
        return lambda w: w[31] != 0
    if kind.startswith("bytes") and kind != "bytes":
        size = int(kind[5:])
        return lambda w: w[:size]
    return None


def hashed_in_topic(kind: str) -> bool:
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")


@dataclass
class EventSpec:
    contract: str
    name: str
    indexed: list[tuple[str, str]]
    data_names: list[str]
    data_types: list[str]
    words: list[Any] | None = field(default=None)
    """One decoder per data word when every data argument is a static word; else None (eth_abi decodes)."""

    def decode(self, log: RawLog) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for (arg, kind), topic in zip(self.indexed, log.topics[1:], strict=True):
            word = _static_word_decoder(kind)
            args[arg] = topic if hashed_in_topic(kind) or word is None else word(topic)
        data = log.data
        if self.words is not None:
            for i, (arg, word) in enumerate(zip(self.data_names, self.words, strict=True)):
                args[arg] = word(data[32 * i : 32 * i + 32])
        else:
            args.update(zip(self.data_names, abi_decode(self.data_types, data), strict=True))
        return args


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class Quality:
    """Rows for the quality ledger's own tables: lot_inputs and quality_alerts."""

    lot_inputs: list[tuple[Any, ...]] = field(default_factory=list)
    alerts: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, event: str, rid: int, lot: bytes, args: Mapping[str, Any]) -> None:
        """Take in one QualityLedger event (its row id, its lot and its decoded arguments, bytes as bytes or as
        0x hex) if it feeds a table."""
        if event == LINEAGE_EVENT[1]:
            self.lot_inputs.extend((rid, lot, _as_bytes(source)) for source in args["inputs"])
        elif event == ALERT_EVENT[1] and int(args["severity"]) != 0:
            self.alerts.append((rid, lot))


def _as_bytes(value: Any) -> bytes:
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


class Decoder:
    def __init__(self, followed: Iterable[Followed]) -> None:
        self.specs: dict[tuple[str, bytes], EventSpec] = {}
        for contract in followed:
            for item in contract.abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                inputs = item["inputs"]
                data = [i for i in inputs if not i.get("indexed")]
                types = [collapse_if_tuple(dict(i)) for i in data]
                words = [_static_word_decoder(t) for t in types]
                spec = EventSpec(
                    contract.name,
                    str(item["name"]),
                    [(i["name"], collapse_if_tuple(dict(i))) for i in inputs if i.get("indexed")],
                    [i["name"] for i in data],
                    types,
                    None if any(w is None for w in words) else words,
                )
                self.specs[(contract.address.lower(), event_abi_to_log_topic(cast(Any, item)))] = spec

    def rows(
        self, logs: Sequence[RawLog], lease_keys: dict[bytes, int]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[bytes, int], Quality]:
        """(rows for ``events``, rows for ``usage``, lease keys given out here, rows for the quality tables) of
        ``logs``; logs of unknown events are skipped. ``lease_keys`` are the keys the index already holds."""
        fresh: dict[bytes, int] = {}
        next_key = len(lease_keys) + 1
        events: list[tuple[Any, ...]] = []
        usage: list[tuple[Any, ...]] = []
        quality = Quality()
        specs = self.specs
        for log in logs:
            if not log.topics:
                continue
            spec = specs.get((log.address, log.topics[0]))
            if spec is None:
                continue
            rid = row_id(log.block_number, log.log_index)
            if spec.name == USAGE_EVENT[1] and spec.contract == USAGE_EVENT[0]:
                data = log.data
                lease_id = log.topics[1]
                key = lease_keys.get(lease_id) or fresh.get(lease_id)
                if key is None:
                    key = fresh[lease_id] = next_key
                    next_key += 1
                usage.append(
                    (
                        rid,
                        key,
                        log.block_number,
                        log.log_index,
                        log.block_hash,
                        log.tx_hash,
                        str(int.from_bytes(data[0:32], "big")),
                        str(int.from_bytes(data[32:64], "big")),
                        str(int.from_bytes(data[64:96], "big")),
                    )
                )
                continue
            args = spec.decode(log)
            if spec.contract == LINEAGE_EVENT[0] and spec.name in (LINEAGE_EVENT[1], ALERT_EVENT[1]):
                quality.add(spec.name, rid, log.topics[1], args)
            events.append(
                (
                    rid,
                    log.block_number,
                    log.log_index,
                    log.block_hash,
                    log.tx_hash,
                    spec.contract,
                    spec.name,
                    log.topics[1] if len(log.topics) > 1 else None,
                    json.dumps({k: _jsonable(v) for k, v in args.items()}),
                )
            )
        return events, usage, fresh, quality
