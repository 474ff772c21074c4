"""The SDK's log queries answered from the index, so ``qc lot trace``, ``qc alerts`` and ``order show`` run the very
code they run on the chain.

``QualityClient`` and ``SettlementClient`` read every event through one method, ``_logs``; the clients here
override only that method. Lineage, alerts, shipments and funds are then computed by the same SDK functions from
the same events — only where the events come from differs — so the index and the chain cannot give two answers.
What the contracts hold in storage (an order's terms and balances, a shipment's state, an attestation's counts)
is still read from the chain's view functions, as on the chain path: the index holds events, not state.

Indexed rows become web3-shaped event dicts: arguments typed by the ABI (checksummed addresses, ``bytes`` for
fixed and dynamic bytes, ``int``, lists for arrays, dicts for structs), ``event``, ``blockNumber``, ``logIndex``,
``blockHash``, ``transactionHash`` and ``address`` (no ``transactionIndex``: the index does not store it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address
from eth_utils.abi import collapse_if_tuple
from hexbytes import HexBytes
from web3.contract import Contract
from web3.datastructures import AttributeDict
from web3.exceptions import Web3Exception
from web3.types import EventData

from millchain.index import queries
from millchain.index.decode import hashed_in_topic
from millchain.index.reader import index_source
from millchain.index.store import IndexStore, IndexStoreError
from millchain.quality import Alert, Attestation, QualityClient, Trace
from millchain.quality.client import attestation_from_record
from millchain.session import Session
from millchain.settlement import SettlementClient


def _converter(item: Mapping[str, Any]) -> Callable[[Any], Any]:
    """How a JSON value of the index becomes what web3 decodes for an argument of ABI type ``item`` (built once
    per event and query, applied to every row)."""
    kind = str(item["type"])
    if kind.endswith("]"):
        element = _converter({**item, "type": kind[: kind.rindex("[")]})
        return lambda value: [element(v) for v in value]
    if kind == "tuple":
        fields = [(str(c["name"]), _converter(c)) for c in item["components"]]
        return lambda value: AttributeDict({n: f(v) for (n, f), v in zip(fields, value, strict=True)})
    if kind == "address":
        return to_checksum_address
    if kind.startswith("bytes"):
        return _hex_bytes
    if kind.startswith(("uint", "int")):
        return int
    if kind == "bool":
        return bool
    return str


def _hex_bytes(value: Any) -> bytes:
    return bytes.fromhex(str(value)[2:])


def _matches(value: Any, wanted: Any) -> bool:
    """web3's argument filter semantics for one argument: a value, or a list of accepted values."""
    if isinstance(wanted, list):
        return any(_matches(value, w) for w in wanted)
    if isinstance(value, str) and isinstance(wanted, str):
        return value.lower() == wanted.lower()  # addresses in any case
    if isinstance(value, bytes) and isinstance(wanted, (bytes, bytearray, str)):
        return value == (HexBytes(wanted) if isinstance(wanted, str) else bytes(wanted))
    return bool(value == wanted)


class IndexLogs:
    """``get_logs`` of a followed contract's events, from the index, never past block ``upto``."""

    def __init__(self, store: IndexStore, upto: int) -> None:
        self.store = store
        self.upto = upto
        self._names = {str(address): str(name) for address, name in store.query("SELECT address, name FROM contracts")}

    def get(
        self,
        contract: Contract,
        event: str,
        filters: Mapping[str, Any] | None = None,
        *,
        from_block: int = 0,
        to_block: int | str = "latest",
        subjects: Collection[bytes] | None = None,
    ) -> list[EventData]:
        """What ``contract.events.<event>().get_logs(argument_filters=filters, from_block=…, to_block=…)`` returns,
        oldest first; ``subjects`` keeps only the logs whose first indexed argument is one of those topics."""
        address = str(contract.address)
        name = self._names.get(address.lower())
        if name is None:
            raise IndexStoreError(f"the index at {self.store.where} does not follow {address}")
        abi = next(
            (i for i in contract.abi if i.get("type") == "event" and i.get("name") == event),
            None,
        )
        if abi is None:
            raise IndexStoreError(f"{name} has no event {event}")
        inputs: Sequence[Mapping[str, Any]] = cast(Any, abi)["inputs"]
        wanted = dict(filters or {})
        indexed = [i for i in inputs if i.get("indexed")]
        subject = None
        if indexed and indexed[0]["name"] in wanted and not isinstance(wanted[indexed[0]["name"]], list):
            kind = collapse_if_tuple(dict(indexed[0]))
            if not hashed_in_topic(kind):
                # The first indexed argument is the row's subject: the filter runs in SQL, on events_by_subject.
                subject = abi_encode([kind], [wanted.pop(indexed[0]["name"])])
        upto = self.upto if to_block == "latest" else min(int(to_block), self.upto)
        out: list[EventData] = []
        converters = [
            (
                str(i["name"]),
                _hex_bytes if i.get("indexed") and hashed_in_topic(collapse_if_tuple(dict(i))) else _converter(i),
            )
            for i in inputs
        ]
        if subject is not None and subjects is not None:
            subjects = [subject] if subject in subjects else []
        elif subject is not None:
            subjects = [subject]
        found = queries.logs(self.store, name, event, subjects=subjects, from_block=from_block, upto=upto)
        for row in found:
            args = {arg: convert(row.args[arg]) for arg, convert in converters}
            if not all(_matches(args[k], v) for k, v in wanted.items()):
                continue
            out.append(
                cast(
                    EventData,
                    AttributeDict(
                        {
                            "args": AttributeDict(args),
                            "event": event,
                            "address": address,
                            "blockNumber": row.block_number,
                            "logIndex": row.log_index,
                            "blockHash": HexBytes(row.block_hash),
                            "transactionHash": HexBytes(row.tx_hash),
                        }
                    ),
                )
            )
        return out


RECORDS_PER_REQUEST = 200
"""Attestation records asked for in one batched JSON-RPC request (nodes cap a batch's length)."""


class IndexedQualityClient(QualityClient):
    """A QualityClient whose event reads come from the index (state reads and transactions from the chain)."""

    def __init__(self, session: Session, index: IndexLogs, account_index: int | None = None) -> None:
        super().__init__(session, account_index)
        self.index = index
        self._records: dict[tuple[bytes, int], Sequence[Any]] = {}
        self._only: dict[str, set[bytes]] = {}
        """While trace() or alerts() runs: event -> the lots whose logs of that event it needs (the others are not
        read at all)."""

    def trace(self, lot: bytes) -> Trace:
        """As :meth:`QualityClient.trace`, reading only the lots of ``lot``'s lineage (walked on lot_inputs) and
        their attestations, not every lot ever registered; the whole history when the index cannot walk it."""
        lots = queries.lineage(self.index.store, bytes(lot), upto=self.index.upto)
        self._only = {} if lots is None else {"LotRegistered": lots, "Attested": lots}
        try:
            return super().trace(lot)
        finally:
            self._only = {}

    def alerts(self, *, org: bytes | None = None, pending_only: bool = False, active_only: bool = False) -> list[Alert]:
        """As :meth:`QualityClient.alerts`; the alerts' records (counts, commitment, inspector's organisation:
        storage, not events) are read in batched requests first rather than one round trip per alert."""
        found = queries.alerted(self.index.store, upto=self.index.upto)
        # Only the alerted lots' attestations (their alerts and corrections) and the registrations of those lots and
        # of what was built from them: what AlertView needs for the alerts and everyone they concern.
        self._only = {} if found is None else {"Attested": found[0], "LotRegistered": found[1]}
        try:
            refs = [
                (bytes(e["args"]["lotId"]), int(e["args"]["seq"]))
                for e in self._attested()
                if e["args"]["severity"] != 0
            ]
            self._records = self._batched_records(refs)
            return super().alerts(org=org, pending_only=pending_only, active_only=active_only)
        finally:
            self._records = {}
            self._only = {}

    def attestation(self, lot: bytes, seq: int, *, uri: str | None = None) -> Attestation:
        record = self._records.get((bytes(lot), seq))
        if record is None or uri is None:
            return super().attestation(lot, seq, uri=uri)
        return attestation_from_record(lot, seq, record, uri)

    def _batched_records(self, refs: Sequence[tuple[bytes, int]]) -> dict[tuple[bytes, int], Sequence[Any]]:
        records: dict[tuple[bytes, int], Sequence[Any]] = {}
        w3 = self.session.chain.w3
        for start in range(0, len(refs), RECORDS_PER_REQUEST):
            chunk = refs[start : start + RECORDS_PER_REQUEST]
            try:
                with w3.batch_requests() as batch:
                    for lot, seq in chunk:
                        batch.add(self.ledger.functions.attestation(lot, seq))
                    answers = batch.execute()
            except (Web3Exception, OSError, ValueError):
                # A node refusing batches (or one record it cannot give): the rest are asked one by one, as on
                # the chain path, which raises the SDK's own error if a record is really missing.
                return records
            records.update(zip(chunk, cast(list[Sequence[Any]], answers), strict=True))
        return records

    def _logs(
        self,
        event: str,
        filters: dict[str, Any] | None = None,
        *,
        from_block: int | None = None,
        to_block: int | str = "latest",
        contract: Contract | None = None,
    ) -> list[EventData]:
        source = contract if contract is not None else self.ledger
        # Inside trace() and alerts(): only the lots they need.
        only = self._only.get(event) if source is self.ledger else None
        return self.index.get(
            source,
            event,
            filters,
            from_block=self.start_block if from_block is None else from_block,
            to_block=to_block,
            subjects=only,
        )


class IndexedSettlementClient(SettlementClient):
    """A SettlementClient whose event reads come from the index (state reads and transactions from the chain)."""

    def __init__(self, session: Session, index: IndexLogs, account_index: int | None = None) -> None:
        super().__init__(session, account_index)
        self.index = index

    def _logs(self, event: str, filters: dict[str, Any]) -> list[EventData]:
        return self.index.get(self.contract, event, filters, from_block=self.start_block)


@contextmanager
def quality_reader(session: Session, what: str) -> Iterator[tuple[QualityClient, str]]:
    """A QualityClient reading the index when one follows this chain's ledger, else the chain; and the note
    saying which (for stderr)."""
    client = QualityClient(session)
    with index_source(session, {"QualityLedger": client.ledger.address}, what) as source:
        if source.store is None:
            yield client, source.note
        else:
            yield IndexedQualityClient(session, IndexLogs(source.store, source.upto)), source.note


@contextmanager
def settlement_reader(session: Session, what: str) -> Iterator[tuple[SettlementClient, str]]:
    """A SettlementClient reading the index when one follows this chain's settlement contract, else the chain;
    and the note saying which (for stderr)."""
    client = SettlementClient(session)
    with index_source(session, {"SupplyChainSettlement": client.contract.address}, what) as source:
        if source.store is None:
            yield client, source.note
        else:
            yield IndexedSettlementClient(session, IndexLogs(source.store, source.upto)), source.note
