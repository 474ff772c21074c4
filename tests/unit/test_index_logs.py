"""Index rows read back as web3 decodes the same logs: every event of the followed contracts, with random
arguments of every ABI type they use, goes through the indexer's decoder into a SQLite index and out through
``IndexLogs``; its arguments equal web3's ``get_event_data`` of the log, and the subject filter finds it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import event_abi_to_log_topic, keccak, to_checksum_address
from eth_utils.abi import collapse_if_tuple
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.events import get_event_data

from millchain.index.decode import EVENT_COLUMNS, USAGE_EVENT, Decoder, Followed, hashed_in_topic
from millchain.index.logs import IndexLogs
from millchain.index.schema import row_id
from millchain.index.source import RawLog
from millchain.index.store import open_store

ARTIFACTS = Path(__file__).resolve().parents[2] / "millchain" / "artifacts" / "contracts"
CONTRACTS = ("QualityLedger", "QualityBonds", "SupplyChainSettlement", "EquipmentLease", "MachineRegistry")


def _value(item: dict[str, Any], rng: random.Random) -> Any:
    kind = str(item["type"])
    if kind.endswith("]"):
        return [_value({**item, "type": kind[: kind.rindex("[")]}, rng) for _ in range(rng.randint(0, 3))]
    if kind == "tuple":
        return tuple(_value(c, rng) for c in item["components"])
    if kind.startswith("uint"):
        return rng.getrandbits(int(kind[4:] or 256))
    if kind.startswith("int"):
        bits = int(kind[3:] or 256)
        return rng.getrandbits(bits) - 2 ** (bits - 1)
    if kind == "address":
        return to_checksum_address(rng.randbytes(20))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "bytes":
        return rng.randbytes(rng.randint(0, 70))
    if kind.startswith("bytes"):
        return rng.randbytes(int(kind[5:]))
    if kind == "string":
        return rng.choice(["", "https://lab.example/r/1", "轴承 批次 ✓"])
    raise AssertionError(f"no generator for {kind}")


def _topic(item: dict[str, Any], value: Any) -> bytes:
    kind = collapse_if_tuple(item)
    if hashed_in_topic(kind):
        return keccak(value if isinstance(value, bytes) else encode([kind], [value]))
    return encode([kind], [value])


def _plain(value: Any) -> Any:
    """Container and byte types aside (web3 gives tuples and HexBytes where the index gives lists and bytes)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return value


def test_every_event_reads_back_from_the_index_as_web3_decodes_it(tmp_path: Path) -> None:
    rng = random.Random(15)
    w3 = Web3()
    contracts = {}
    for number, name in enumerate(CONTRACTS, 1):
        abi = json.loads((ARTIFACTS / f"{name}.json").read_text(encoding="utf-8"))["abi"]
        contracts[name] = w3.eth.contract(address=to_checksum_address(bytes([number]) * 20), abi=abi)
    decoder = Decoder(Followed(n, c.address.lower(), c.abi, 0) for n, c in contracts.items())
    expected: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    logs = []
    for name, contract in contracts.items():
        for item in contract.abi:
            if item.get("type") != "event" or (name, item["name"]) == USAGE_EVENT:
                continue
            values = {i["name"]: _value(i, rng) for i in item["inputs"]}
            indexed = [i for i in item["inputs"] if i.get("indexed")]
            data = [i for i in item["inputs"] if not i.get("indexed")]
            topics = [event_abi_to_log_topic(item), *(_topic(i, values[i["name"]]) for i in indexed)]
            payload = encode([collapse_if_tuple(i) for i in data], [values[i["name"]] for i in data])
            block, index = 10 + len(logs), 0
            log = RawLog(block, b"\x01" * 32, index, b"\x02" * 32, contract.address.lower(), topics, payload)
            logs.append(log)
            web3_log = {
                "address": contract.address,
                "topics": [HexBytes(t) for t in topics],
                "data": HexBytes(payload),
                "blockNumber": block,
                "logIndex": index,
                "transactionIndex": 0,
                "transactionHash": HexBytes(log.tx_hash),
                "blockHash": HexBytes(log.block_hash),
            }
            decoded = get_event_data(w3.codec, item, web3_log)  # type: ignore[arg-type]
            first = {indexed[0]["name"]: values[indexed[0]["name"]]} if indexed else {}
            expected.append((name, item["name"], dict(decoded["args"]), first))
    assert len(expected) > 60  # every event of five contracts, not a handful
    rows, usage, _, quality = decoder.rows(logs, {})
    assert usage == []
    # The quality tables: one lot_inputs row per input of the LotRegistered, the Attested in quality_alerts only
    # with a severity.
    by_event = {(name, event): (args, row_id(10 + n, 0)) for n, (name, event, args, _) in enumerate(expected)}
    registered, rid = by_event[("QualityLedger", "LotRegistered")]
    assert quality.lot_inputs and quality.lot_inputs == [
        (rid, bytes(registered["lotId"]), bytes(i)) for i in registered["inputs"]
    ]
    attested, rid = by_event[("QualityLedger", "Attested")]
    assert quality.alerts == ([(rid, bytes(attested["lotId"]))] if attested["severity"] else [])
    with open_store(tmp_path / "index.sqlite") as store:
        store.insert_many("events", EVENT_COLUMNS, rows)
        store.insert_many(
            "contracts", ("address", "name", "start_block"), [(c.address.lower(), n, 0) for n, c in contracts.items()]
        )
        reader = IndexLogs(store, upto=10 + len(logs))
        for name, event, args, first in expected:
            (found,) = reader.get(contracts[name], event)
            assert found["event"] == event and found["blockHash"] == HexBytes(b"\x01" * 32)
            assert _plain(found["args"]) == _plain(args), (name, event)
            if first:
                assert [_plain(e["args"]) for e in reader.get(contracts[name], event, first)] == [_plain(args)]
                ((key, value),) = first.items()
                if isinstance(value, int) and not isinstance(value, bool):
                    assert reader.get(contracts[name], event, {key: value ^ 1}) == []


def test_a_contract_the_index_does_not_follow_is_an_error_naming_it(tmp_path: Path) -> None:
    from millchain.index.store import IndexStoreError

    abi = json.loads((ARTIFACTS / "QualityLedger.json").read_text(encoding="utf-8"))["abi"]
    contract = Web3().eth.contract(address=to_checksum_address(b"\x07" * 20), abi=abi)
    with (
        open_store(tmp_path / "index.sqlite") as store,
        pytest.raises(IndexStoreError, match=f"does not follow {contract.address}"),
    ):
        IndexLogs(store, upto=0).get(contract, "Attested")
