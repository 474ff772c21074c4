"""What `qc lot trace` and `qc alerts` read from the index, timed at a size no test chain reaches.

    python -m scripts.bench_index_readers [--lots 100000] [--db PATH]

A SQLite index is filled through the indexer's own decoder (millchain.index.decode.Decoder) with synthetic
QualityLedger logs: ``--lots`` LotRegistered in product families of eight (each lot consumes up to three earlier
lots of its family), one Attested per lot (one in twenty an alert). Timed, median of 20 runs:

- trace's reads: the lineage walked on lot_inputs (queries.lineage) and the registrations and attestations of
  those lots only (IndexLogs.get with subjects) — what IndexedQualityClient.trace asks of the index;
- the same reads without lot_inputs (an index migrated from schema 1): every LotRegistered and Attested;
- alerts' reads: the alerted lots (quality_alerts), what was built from them (lot_inputs), their attestations and
  registrations — what IndexedQualityClient.alerts asks besides the few organisations and acknowledgements —
  and, without those tables, every LotRegistered and Attested.

No chain is involved: these are the index's share of each command; the chain's view calls come on top.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_utils import event_abi_to_log_topic, to_checksum_address
from web3 import Web3

from millchain.compiler import PACKAGED_ARTIFACTS
from millchain.index import queries
from millchain.index.decode import ALERT_COLUMNS, EVENT_COLUMNS, LINEAGE_COLUMNS, Decoder, Followed
from millchain.index.logs import IndexLogs
from millchain.index.source import RawLog
from millchain.index.store import open_store


def _median_ms(run: Callable[[], Any], times: int = 20) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lots", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file to create (default: a temporary one)")
    args = parser.parse_args(argv)
    abi = json.loads((PACKAGED_ARTIFACTS / "contracts" / "QualityLedger.json").read_text(encoding="utf-8"))["abi"]
    ledger = Web3().eth.contract(address=to_checksum_address(b"\x01" * 20), abi=abi)
    events = {item["name"]: item for item in abi if item.get("type") == "event"}
    topic = {name: event_abi_to_log_topic(item) for name, item in events.items()}
    rng = random.Random(15)
    logs: list[RawLog] = []
    producer, product, zero = b"\x0a" * 32, b"\x0b" * 32, b"\x00" * 32

    def lot(n: int) -> bytes:
        return n.to_bytes(32, "big")

    for n in range(args.lots):
        family = n - n % 8
        inputs = sorted({lot(rng.randrange(family, n)) for _ in range(rng.randint(0, 3))} if n > family else set())
        block = 1 + n
        data = encode(["uint64", "bytes32", "bytes32[]"], [100, zero, inputs])
        logs.append(
            RawLog(
                block,
                b"\x01" * 32,
                0,
                b"\x02" * 32,
                ledger.address.lower(),
                [topic["LotRegistered"], lot(n), producer, product],
                data,
            )
        )
        severity = 2 if n % 20 == 0 else 0
        data = encode(["uint8", "uint8", "uint32", "string"], [3 if severity else 1, severity, 0, ""])
        logs.append(
            RawLog(
                block,
                b"\x01" * 32,
                1,
                b"\x02" * 32,
                ledger.address.lower(),
                [topic["Attested"], lot(n), (1).to_bytes(32, "big"), b"\x00" * 12 + b"\x03" * 20],
                data,
            )
        )
    rows, _, _, quality = Decoder([Followed("QualityLedger", ledger.address.lower(), abi, 0)]).rows(logs, {})
    folder = Path(tempfile.mkdtemp(prefix="millchain-bench-readers-"))
    target = args.db or folder / "index.sqlite"
    with open_store(target) as store:
        with store.transaction():
            store.insert_many(
                "contracts", ("address", "name", "start_block"), [(ledger.address.lower(), "QualityLedger", 0)]
            )
            store.insert_many("events", EVENT_COLUMNS, rows)
            store.insert_many("lot_inputs", LINEAGE_COLUMNS, quality.lot_inputs)
            store.insert_many("quality_alerts", ALERT_COLUMNS, quality.alerts)
        reader = IndexLogs(store, upto=args.lots + 1)
        probe = lot(args.lots // 2 - args.lots // 2 % 8 + 3)

        def trace_reads() -> int:
            found = queries.lineage(store, probe)
            assert found is not None
            return len(reader.get(ledger, "LotRegistered", subjects=found)) + len(
                reader.get(ledger, "Attested", subjects=found)
            )

        def every_lot() -> int:
            return len(reader.get(ledger, "LotRegistered")) + len(reader.get(ledger, "Attested"))

        def alerts_reads() -> int:
            found = queries.alerted(store)
            assert found is not None
            return len(reader.get(ledger, "Attested", subjects=found[0])) + len(
                reader.get(ledger, "LotRegistered", subjects=found[1])
            )

        def alerts_every_lot() -> int:
            return sum(
                len(reader.get(ledger, name))
                for name in ("OrganisationRegistered", "LotRegistered", "Attested", "AlertAcknowledged")
            )

        tables = f"{len(quality.lot_inputs):,} lot_inputs rows, {len(quality.alerts):,} alerts"
        print(f"index: {len(rows):,} events, {tables} ({target})")
        print(f"trace, lineage on lot_inputs ({trace_reads()} rows): {_median_ms(trace_reads):.1f} ms")
        print(f"trace, every lot (schema 1 index): {_median_ms(every_lot, 3):.0f} ms")
        print(
            f"alerts, alerted lots and what was built from them ({alerts_reads()} rows): "
            f"{_median_ms(alerts_reads, 5):.0f} ms"
        )
        print(f"alerts, every lot and attestation (schema 1 index): {_median_ms(alerts_every_lot, 3):.0f} ms")


if __name__ == "__main__":
    main()
