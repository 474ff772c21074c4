"""What readers (the console, the CLI) ask of the index. Read-only: the indexer is the only writer.

Each query is one SQL statement whose per-lease parts are correlated subqueries on an index, so its cost grows
with the number of leases shown, not with the millions of reports stored.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from millchain.index.schema import DIALECT_TYPES, LOG_INDEX_BITS, row_id
from millchain.index.store import IndexStore
from millchain.leasing import Lease, Statement, StatementLine


@dataclass(frozen=True)
class IndexStatus:
    where: str
    cursor: int
    cursor_hash: str
    events: int
    usage: int
    reorgs: int
    contracts: dict[str, str]


def status(store: IndexStore) -> IndexStatus:
    counts = store.one("SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM usage)")
    assert counts is not None
    return IndexStatus(
        where=store.where,
        cursor=int(store.meta("cursor_number") or -1),
        cursor_hash="0x" + (store.meta("cursor_hash") or ""),
        events=int(counts[0]),
        usage=int(counts[1]),
        reorgs=int(store.meta("reorgs") or 0),
        contracts={str(n): str(a) for n, a in store.query("SELECT name, address FROM contracts")},
    )


def cursor(store: IndexStore) -> int:
    """The last block indexed (-1 before the first run)."""
    return int(store.meta("cursor_number") or -1)


def lease_key(lease_id: int) -> bytes:
    return lease_id.to_bytes(32, "big")


def _before(upto: int | None) -> int:
    """The first row id past block ``upto`` (None: no bound)."""
    return row_id(upto + 1, 0) if upto is not None else 2**62


def statement_lines(store: IndexStore, lease_id: int, *, upto: int | None = None) -> list[StatementLine]:
    """Every UsageSettled of a lease (up to block ``upto``), in chain order, with its block's time."""
    rows = store.query(
        "SELECT u.block_number, b.timestamp, u.counter, u.units, u.amount, u.tx_hash FROM usage u "
        "JOIN blocks b ON b.number = u.block_number "
        "WHERE u.lease = (SELECT key FROM leases WHERE lease_id = ?) AND u.id < ? ORDER BY u.id",
        (lease_key(lease_id), _before(upto)),
    )
    return [
        StatementLine(
            block=int(block),
            time=int(when),
            counter=int(counter),
            units=int(units),
            amount=int(amount),
            tx_hash="0x" + bytes(tx).hex(),
        )
        for block, when, counter, units, amount, tx in rows
    ]


def statement(store: IndexStore, lease: Lease, *, upto: int | None = None) -> Statement:
    """The same :class:`Statement` as ``LeaseClient.statement``, read from the index (up to block ``upto``)."""
    return Statement(lease=lease, lines=statement_lines(store, lease.lease_id, upto=upto))


@dataclass(frozen=True)
class IndexedEvent:
    contract: str
    event: str
    block_number: int
    log_index: int
    time: int
    tx_hash: str
    args: dict[str, Any]


def events(
    store: IndexStore,
    event: str | Sequence[str] | None = None,
    *,
    contract: str | None = None,
    subject: bytes | None = None,
) -> list[IndexedEvent]:
    """Events other than UsageSettled, oldest first, filtered by name(s), contract and first indexed argument."""
    where: list[str] = []
    params: list[Any] = []
    if event is not None:
        names = [event] if isinstance(event, str) else list(event)
        where.append(f"e.event IN ({', '.join('?' for _ in names)})")
        params += names
    if contract is not None:
        where.append("e.contract = ?")
        params.append(contract)
    if subject is not None:
        where.append("e.subject = ?")
        params.append(subject)
    rows = store.query(
        "SELECT e.contract, e.event, e.block_number, e.log_index, b.timestamp, e.tx_hash, e.args FROM events e "
        "JOIN blocks b ON b.number = e.block_number"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY e.id",
        params,
    )
    return [
        IndexedEvent(str(c), str(ev), int(bn), int(li), int(ts), "0x" + bytes(tx).hex(), json.loads(args))
        for c, ev, bn, li, ts, tx, args in rows
    ]


@dataclass(frozen=True)
class FleetRow:
    machine_id: bytes
    lease_id: int
    lessee: str
    opened_block: int
    closed: bool
    suspended: bool
    last_counter: int | None
    last_report_at: int | None
    """Block time of the last settled report."""
    units_today: int
    """How far the machine's counter advanced through reports settled since ``day_start``."""


# Per lease, two lookups on usage_by_lease: the last report ("id:counter" in one go) and the last before today, or
# (COALESCE evaluates it only then) the first report, the anchor that billed nothing, for a lease started today.
_FLEET_SQL = """
SELECT o.subject, o.args, o.block_number,
  (SELECT CAST(u.id AS TEXT) || ':' || u.counter FROM usage u WHERE u.lease = l.key ORDER BY u.id DESC LIMIT 1),
  COALESCE(
    (SELECT u.counter FROM usage u WHERE u.lease = l.key AND u.id < ? ORDER BY u.id DESC LIMIT 1),
    (SELECT u.counter FROM usage u WHERE u.lease = l.key ORDER BY u.id LIMIT 1))
FROM events o LEFT JOIN leases l ON l.lease_id = o.subject WHERE o.event = 'LeaseOpened' ORDER BY o.id
"""
# Closing, suspending and resuming are rare: one pass over them for the whole fleet.
_STATE_SQL = (
    "SELECT subject, event, MAX(id) FROM events WHERE event IN ('LeaseClosed', 'LeaseSuspended', 'LeaseResumed') "
    "GROUP BY subject, event"
)


def fleet(store: IndexStore, *, day_start: int) -> list[FleetRow]:
    """Every opened lease with its machine, state and today's metered units (``day_start``: a unix time)."""
    first_today = store.one("SELECT MIN(number) FROM blocks WHERE timestamp >= ?", (day_start,))
    boundary = row_id(int(first_today[0]), 0) if first_today and first_today[0] is not None else 2**62
    rows = store.query(_FLEET_SQL, (boundary,))
    latest: dict[tuple[bytes, str], int] = {
        (bytes(subject), str(event)): int(last) for subject, event, last in store.query(_STATE_SQL)
    }
    last_reports = {bytes(r[0]): tuple(int(v) for v in str(r[3]).split(":")) for r in rows if r[3] is not None}
    numbers = sorted({last_id >> LOG_INDEX_BITS for last_id, _ in last_reports.values()})
    times: dict[int, int] = {}
    if numbers:
        times = {
            int(n): int(t)
            for n, t in store.query(
                f"SELECT number, timestamp FROM blocks WHERE number IN ({', '.join('?' for _ in numbers)})", numbers
            )
        }
    out = []
    for subject, args, opened, _last, before in rows:
        key = bytes(subject)
        data = json.loads(args)
        last_id, last_counter = last_reports.get(key, (None, None))
        baseline = None if before is None else int(before)
        suspended, resumed = latest.get((key, "LeaseSuspended")), latest.get((key, "LeaseResumed"))
        out.append(
            FleetRow(
                machine_id=bytes.fromhex(str(data["machineId"])[2:]),
                lease_id=int.from_bytes(key, "big"),
                lessee=str(data["lessee"]),
                opened_block=int(opened),
                closed=(key, "LeaseClosed") in latest,
                suspended=suspended is not None and (resumed is None or resumed < suspended),
                last_counter=last_counter,
                last_report_at=None if last_id is None else times.get(last_id >> LOG_INDEX_BITS),
                units_today=0 if last_counter is None or baseline is None else last_counter - baseline,
            )
        )
    return out


@dataclass(frozen=True)
class LogRow:
    """An indexed log as stored: where it came from and its arguments as JSON values (bytes as 0x hex)."""

    block_number: int
    log_index: int
    block_hash: bytes
    tx_hash: bytes
    args: dict[str, Any]


SUBJECTS_PER_QUERY = 500
"""Subjects in one ``IN (…)`` list: far below SQLite's and PostgreSQL's parameter limits."""


def logs(
    store: IndexStore,
    contract: str,
    event: str,
    *,
    subject: bytes | None = None,
    subjects: Collection[bytes] | None = None,
    from_block: int = 0,
    upto: int | None = None,
) -> list[LogRow]:
    """One event of one contract (its deployment name), oldest first, in blocks ``from_block``..``upto``; with
    ``subject``, only the logs whose first indexed argument is that topic (``subjects``: any of those). On
    events_by_subject (with subjects: the contract is then checked on the few rows found, so the planner has no
    other index to prefer) or on events_by_contract (without)."""
    if subject is not None:
        subjects = [subject]
    span: list[Any] = [event, row_id(max(from_block, 0), 0), _before(upto)]
    head = "SELECT contract, id, block_number, log_index, block_hash, tx_hash, args FROM events WHERE event = ? AND "
    if subjects is None:
        rows = store.query(head + "id >= ? AND id < ? AND contract = ? ORDER BY id", [*span, contract])
    else:
        wanted = sorted(set(subjects))
        rows = []
        for start in range(0, len(wanted), SUBJECTS_PER_QUERY):
            chunk = wanted[start : start + SUBJECTS_PER_QUERY]
            marks = ", ".join("?" for _ in chunk)
            rows += store.query(head + f"id >= ? AND id < ? AND subject IN ({marks})", [*span, *chunk])
        rows.sort(key=lambda row: int(row[1]))
    return [
        LogRow(int(number), int(index), bytes(block), bytes(tx), json.loads(args))
        for name, _, number, index, block, tx, args in rows
        if name == contract
    ]


def lineage(store: IndexStore, lot: bytes, *, upto: int | None = None) -> set[bytes] | None:
    """``lot``, every lot it was built from and every lot built from it (transitively), up to block ``upto``:
    two recursive walks on lot_inputs' indexes. None when the index cannot say (its schema predates lot_inputs, or
    it was migrated from it and the indexer has not started since to fill the table)."""
    if int(store.meta("schema_version") or 0) < 2 or store.meta("lineage_incomplete") is not None:
        return None
    blob = DIALECT_TYPES[store.dialect]["blob"]
    before = _before(upto)
    rows = store.query(
        f"WITH RECURSIVE down(lot) AS (SELECT CAST(? AS {blob}) UNION "
        "SELECT i.lot FROM lot_inputs i JOIN down d ON i.input = d.lot WHERE i.id < ?), "
        f"up(lot) AS (SELECT CAST(? AS {blob}) UNION "
        "SELECT i.input FROM lot_inputs i JOIN up u ON i.lot = u.lot WHERE i.id < ?) "
        "SELECT lot FROM down UNION SELECT lot FROM up",
        (lot, before, lot, before),
    )
    return {bytes(found) for (found,) in rows}


def alerted(store: IndexStore, *, upto: int | None = None) -> tuple[set[bytes], set[bytes]] | None:
    """(the lots with an alert, those lots and every lot built from them), up to block ``upto``: quality_alerts
    and a recursive walk on lot_inputs. None when the index cannot say (as :func:`lineage`)."""
    if int(store.meta("schema_version") or 0) < 2 or store.meta("lineage_incomplete") is not None:
        return None
    before = _before(upto)
    alerts = {bytes(lot) for (lot,) in store.query("SELECT DISTINCT lot FROM quality_alerts WHERE id < ?", (before,))}
    rows = store.query(
        "WITH RECURSIVE down(lot) AS (SELECT lot FROM quality_alerts WHERE id < ? UNION "
        "SELECT i.lot FROM lot_inputs i JOIN down d ON i.input = d.lot WHERE i.id < ?) SELECT lot FROM down",
        (before, before),
    )
    return alerts, {bytes(lot) for (lot,) in rows}
