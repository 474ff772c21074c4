"""The durable outbox: every accepted reading and every transaction attempt, committed before anything leaves.

SQLite in WAL mode with synchronous=FULL: a reading acknowledged by :meth:`Outbox.accept` survives a SIGKILL
or a power cut. Counters are cumulative, so a newer pending reading of a lease supersedes the older ones;
only the newest must reach the chain.

Reading states:  pending -> submitted -> settled | quarantined (with a reason)
                 pending -> superseded (a newer reading of the same lease carries its units)
                 submitted -> pending (its transaction was dropped or reverted, or the chain skipped it for a
                              reason that passes: sent again, with the reason, after ``not_before``)

A reading is settled only when the chain's counter for its lease reached its counter (read from the lease
after the receipt), never because its transaction succeeded. ``stale`` is a state of outboxes written before
that rule; it is read as delivered.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from oracle.telemetry import MachineState

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    machine TEXT NOT NULL,
    machine_id BLOB NOT NULL,
    lease_id TEXT NOT NULL,
    counter INTEGER NOT NULL,
    runtime INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    r BLOB NOT NULL,
    vs BLOB NOT NULL,
    received_at REAL NOT NULL,
    anchor INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    batch_id INTEGER,
    reason TEXT,
    settled_at REAL,
    not_before REAL,
    tries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS readings_state ON readings(state, lease_id);
CREATE INDEX IF NOT EXISTS readings_batch ON readings(batch_id);
CREATE TABLE IF NOT EXISTS machines (
    machine TEXT PRIMARY KEY,
    last_counter INTEGER,
    last_runtime INTEGER,
    last_timestamp INTEGER,
    counter_offset INTEGER NOT NULL DEFAULT 0,
    runtime_offset INTEGER NOT NULL DEFAULT 0,
    quarantined TEXT,
    lock_state TEXT,
    lock_lease TEXT,
    rate_credit INTEGER,
    rebaseline INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    nonce INTEGER NOT NULL,
    reading_ids TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    tx_hash TEXT PRIMARY KEY,
    batch_id INTEGER NOT NULL,
    raw TEXT NOT NULL,
    max_fee INTEGER NOT NULL,
    tip INTEGER NOT NULL,
    gas INTEGER NOT NULL,
    sent_block INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
    machine TEXT PRIMARY KEY,
    lease_id TEXT,
    status INTEGER NOT NULL,
    max_rate INTEGER NOT NULL,
    anchored INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS preflight (check_name TEXT NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL,
                                      at REAL NOT NULL);
"""
MIGRATIONS = {
    # Columns added after the first release: an outbox written by an older oracle gains them at start.
    "readings": (("not_before", "REAL"), ("tries", "INTEGER NOT NULL DEFAULT 0")),
    "machines": (("rate_credit", "INTEGER"), ("rebaseline", "INTEGER NOT NULL DEFAULT 0")),
}

UNSIGNED = b""
"""r and vs of a gateway-signed reading not sent yet: the submitter signs the readings it sends, and records the
signature with the batch, before broadcast."""

P = ParamSpec("P")
R = TypeVar("R")
DELIVERED = ("settled", "stale")
_READING_COLUMNS = "id, machine, machine_id, lease_id, counter, runtime, timestamp, r, vs, received_at"


@dataclass(frozen=True)
class SettledHead:
    """A lease's newest reading the outbox holds as settled, and its anchor reading's id when still kept."""

    id: int
    counter: int
    timestamp: int
    anchor_id: int | None


@dataclass(frozen=True)
class PendingReading:
    id: int
    machine: str
    machine_id: bytes
    lease_id: int
    counter: int
    runtime: int
    timestamp: int
    r: bytes
    vs: bytes
    received_at: float


@dataclass(frozen=True)
class AcceptedReading:
    """A validated, signed reading about to be stored; counters as reported on chain (offsets applied)."""

    machine: str
    machine_id: bytes
    lease_id: int
    counter: int
    runtime: int
    timestamp: int
    r: bytes
    vs: bytes
    device_counter: int
    device_runtime: int
    received_at: float
    anchor: bool = False
    """The first reading of a lease not yet anchored on chain: it fixes the starting counter, so a newer
    reading must not supersede it (the units in between would go unbilled)."""
    state: MachineState | None = None
    """The machine's state once this reading is accepted (rate credit, offsets); None: only the counters."""


@dataclass(frozen=True)
class Outcome:
    """What became of a reading sent on chain: settled, quarantined (for good, with the reason) or pending
    again (the reason passes: sent again after ``not_before``, re-timed to ``timestamp`` if set)."""

    state: str
    reason: str | None = None
    timestamp: int | None = None
    not_before: float | None = None
    counted: bool = True
    """Whether going back to pending counts as a try (MAX_TRIES): not for reasons that pass with time (the chain's
    clock behind the reading, a same-second counter carried), which are waited out however long they take."""


@dataclass(frozen=True)
class Attempt:
    tx_hash: str
    batch_id: int
    raw: str
    max_fee: int
    tip: int
    gas: int
    sent_block: int


@dataclass(frozen=True)
class Batch:
    id: int
    nonce: int
    reading_ids: list[int]


def _serialised(method: Callable[P, R]) -> Callable[P, R]:
    """Run ``method`` holding the outbox lock: intake, submitter and watcher use the one connection from
    worker threads, and SQLite transactions on a shared connection must not interleave."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with args[0]._lock:  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return wrapper


class Outbox:
    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        for table, columns in MIGRATIONS.items():
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        self._leases_with_readings: set[str] | None = None
        """Leases with a reading the chain did not refuse (what :meth:`has_readings` answers), loaded once and
        kept in step by every write that changes it: the outbox is the readings' only writer while it runs."""

    def close(self) -> None:
        # Under the lock: a worker thread still finishing a call (its task was cancelled at shutdown, the
        # thread was not) must never see the connection closed under it, which crashes the interpreter.
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ machines

    @_serialised
    def machine_state(self, machine: str) -> MachineState:
        row = self._db.execute(
            "SELECT last_counter, last_runtime, last_timestamp, counter_offset, runtime_offset, quarantined, "
            "rate_credit, rebaseline FROM machines WHERE machine = ?",
            (machine,),
        ).fetchone()
        if row is None:
            return MachineState()
        last_counter, last_runtime, last_timestamp, counter_offset, runtime_offset, quarantined, credit, flag = row
        return MachineState(
            last_counter, last_runtime, last_timestamp, counter_offset, runtime_offset, quarantined, credit, bool(flag)
        )

    @_serialised
    def quarantine_machine(self, machine: str, reason: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO machines(machine, quarantined) VALUES (?, ?) "
                "ON CONFLICT(machine) DO UPDATE SET quarantined = excluded.quarantined",
                (machine, reason),
            )

    @_serialised
    def rebaseline(self, machine: str) -> MachineState:
        """Lift a machine's quarantine. Its next reading decides what happened: below the last one, the machine
        restarted its counters and the chain's counters continue from the last ones seen with the new counts on
        top; at or above it, nothing was reset (the reading that caused the quarantine was false) and billing
        continues unchanged. Either way every report stays one the contract accepts."""
        with self._tx() as db:
            db.execute("INSERT INTO machines(machine) VALUES (?) ON CONFLICT(machine) DO NOTHING", (machine,))
            db.execute(
                "UPDATE machines SET quarantined = NULL, rebaseline = 1, rate_credit = NULL WHERE machine = ?",
                (machine,),
            )
        return self.machine_state(machine)

    # ------------------------------------------------------------------ readings

    @_serialised
    def accept_many(self, readings: Sequence[AcceptedReading]) -> list[int]:
        """Store signed readings as pending, superseding older pending ones of the same lease, in one
        transaction: a group commit, so thousands of readings a second cost one fsync each round.

        The work is per group, not per reading: older pending readings are superseded once per lease, a
        reading a newer one of the same group replaces is stored superseded, and each machine's last counters
        are written once. An anchor is never superseded (it fixes the lease's starting counter)."""
        if not readings:
            return []
        newest = {item.lease_id: i for i, item in enumerate(readings)}
        last_of_machine = {item.machine: item for item in readings}
        states = [
            (
                item.machine,
                item.state
                or MachineState(
                    last_counter=item.device_counter, last_runtime=item.device_runtime, last_timestamp=item.timestamp
                ),
            )
            for item in last_of_machine.values()
        ]
        rows = [
            (
                item.machine,
                item.machine_id,
                hex(item.lease_id),
                item.counter,
                item.runtime,
                item.timestamp,
                item.r,
                item.vs,
                item.received_at,
                int(item.anchor),
                "pending" if item.anchor or newest[item.lease_id] == i else "superseded",
            )
            for i, item in enumerate(readings)
        ]
        with self._tx() as db:
            db.executemany(
                "UPDATE readings SET state = 'superseded' WHERE lease_id = ? AND state = 'pending' AND anchor = 0",
                [(hex(lease),) for lease in newest],
            )
            db.executemany(
                "INSERT INTO readings(machine, machine_id, lease_id, counter, runtime, timestamp, r, vs, "
                "received_at, anchor, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            # Rows inserted in one write transaction take consecutive ids after the largest one.
            last = int(db.execute("SELECT MAX(id) FROM readings").fetchone()[0])
            db.executemany(
                "INSERT INTO machines(machine, last_counter, last_runtime, last_timestamp, counter_offset, "
                "runtime_offset, rate_credit, rebaseline) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(machine) DO UPDATE SET last_counter = excluded.last_counter, "
                "last_runtime = excluded.last_runtime, last_timestamp = excluded.last_timestamp, "
                "counter_offset = excluded.counter_offset, runtime_offset = excluded.runtime_offset, "
                "rate_credit = excluded.rate_credit, rebaseline = excluded.rebaseline",
                [
                    (
                        name,
                        st.last_counter,
                        st.last_runtime,
                        st.last_timestamp,
                        st.counter_offset,
                        st.runtime_offset,
                        st.rate_credit,
                        int(st.rebaseline),
                    )
                    for name, st in states
                ],
            )
        if self._leases_with_readings is not None:  # only once committed
            self._leases_with_readings.update(hex(lease) for lease in newest)
        return list(range(last - len(rows) + 1, last + 1))

    @_serialised
    def has_readings(self, lease_id: int) -> bool:
        """Whether any reading of this lease was ever accepted (other than ones the chain refused). The intake
        asks for every reading of a lease not yet anchored on chain, so it is answered from memory."""
        return hex(lease_id) in self._lease_set()

    def _lease_set(self) -> set[str]:
        """The leases (hex) with readings other than refused ones, kept in memory once read."""
        if self._leases_with_readings is None:
            self._leases_with_readings = {
                row[0]
                for row in self._db.execute("SELECT DISTINCT lease_id FROM readings WHERE state != 'quarantined'")
            }
        return self._leases_with_readings

    @_serialised
    def pending(self, limit: int) -> list[PendingReading]:
        rows = self._db.execute(
            f"SELECT {_READING_COLUMNS} FROM readings WHERE state = 'pending' AND "
            "(not_before IS NULL OR not_before <= ?) ORDER BY id LIMIT ?",
            (time.time(), limit),
        ).fetchall()
        return [_reading(row) for row in rows]

    @_serialised
    def count_pending(self, limit: int) -> int:
        """How many readings are pending, counting no further than ``limit``."""
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM readings WHERE state = 'pending' AND "
                "(not_before IS NULL OR not_before <= ?) LIMIT ?)",
                (time.time(), limit),
            ).fetchone()[0]
        )

    @_serialised
    def depth(self) -> int:
        return int(
            self._db.execute("SELECT COUNT(*) FROM readings WHERE state IN ('pending', 'submitted')").fetchone()[0]
        )

    # ------------------------------------------------------------------ batches and attempts

    @_serialised
    def open_batch(self, nonce: int, readings: Sequence[PendingReading], attempt: Attempt) -> Batch:
        """Record a batch and its first signed attempt, and mark its readings submitted with the signatures they
        are sent with, before broadcast."""
        ids = [r.id for r in readings]
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO batches(nonce, reading_ids, state, created_at) VALUES (?, ?, 'inflight', ?)",
                (nonce, json.dumps(ids), time.time()),
            )
            batch_id = cursor.lastrowid
            assert batch_id is not None
            db.executemany(
                "UPDATE readings SET state = 'submitted', batch_id = ?, r = ?, vs = ? "
                "WHERE id = ? AND state = 'pending'",
                [(batch_id, r.r, r.vs, r.id) for r in readings],
            )
            self._insert_attempt(db, Attempt(**{**attempt.__dict__, "batch_id": batch_id}))
        return Batch(batch_id, nonce, ids)

    def _insert_attempt(self, db: sqlite3.Connection, attempt: Attempt) -> None:
        db.execute(
            "INSERT OR IGNORE INTO attempts(tx_hash, batch_id, raw, max_fee, tip, gas, sent_block, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                attempt.tx_hash,
                attempt.batch_id,
                attempt.raw,
                attempt.max_fee,
                attempt.tip,
                attempt.gas,
                attempt.sent_block,
                time.time(),
            ),
        )

    @_serialised
    def add_attempt(self, attempt: Attempt) -> None:
        with self._tx() as db:
            self._insert_attempt(db, attempt)

    @_serialised
    def inflight(self) -> list[Batch]:
        rows = self._db.execute("SELECT id, nonce, reading_ids FROM batches WHERE state = 'inflight' ORDER BY nonce")
        return [Batch(i, n, json.loads(ids)) for i, n, ids in rows.fetchall()]

    @_serialised
    def attempts(self, batch_id: int) -> list[Attempt]:
        rows = self._db.execute(
            "SELECT tx_hash, batch_id, raw, max_fee, tip, gas, sent_block FROM attempts "
            "WHERE batch_id = ? ORDER BY created_at",
            (batch_id,),
        ).fetchall()
        return [Attempt(*row) for row in rows]

    @_serialised
    def readings(self, ids: Sequence[int]) -> list[PendingReading]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"SELECT {_READING_COLUMNS} FROM readings WHERE id IN ({marks}) ORDER BY id", list(ids)
        ).fetchall()
        return [_reading(row) for row in rows]

    @_serialised
    def finish_batch(self, batch: Batch, outcomes: dict[int, Outcome]) -> None:
        """Record each reading's outcome and close the batch. A reading going back to pending whose units a newer
        reading of the same lease already carries is superseded instead (an anchor never is)."""
        now = time.time()
        with self._tx() as db:
            for rid, outcome in outcomes.items():
                state = outcome.state
                if state == "pending":
                    lease, anchor = db.execute("SELECT lease_id, anchor FROM readings WHERE id = ?", (rid,)).fetchone()
                    newer = db.execute(
                        "SELECT 1 FROM readings WHERE lease_id = ? AND id > ? AND state IN "
                        "('pending', 'submitted', 'settled') LIMIT 1",
                        (lease, rid),
                    ).fetchone()
                    if newer and not anchor:
                        state = "superseded"
                if state == "pending" and outcome.timestamp is not None:
                    # Re-timed: the gateway signs it again when it is sent.
                    db.execute(
                        "UPDATE readings SET timestamp = ?, r = ?, vs = ? WHERE id = ?",
                        (outcome.timestamp, UNSIGNED, UNSIGNED, rid),
                    )
                db.execute(
                    "UPDATE readings SET state = ?, reason = ?, settled_at = ?, not_before = ?, "
                    "tries = tries + ?, batch_id = CASE WHEN ? = 'pending' THEN NULL ELSE batch_id END "
                    "WHERE id = ?",
                    (
                        state,
                        outcome.reason,
                        now if state == "settled" else None,
                        outcome.not_before,
                        int(state == "pending" and outcome.counted),
                        state,
                        rid,
                    ),
                )
            db.execute("UPDATE batches SET state = 'done' WHERE id = ?", (batch.id,))
        self._forget_refused([rid for rid, o in outcomes.items() if o.state == "quarantined"])

    @_serialised
    def tries(self, ids: Sequence[int]) -> dict[int, int]:
        """How many times each reading went back to pending after the chain skipped it."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {
            int(rid): int(n)
            for rid, n in self._db.execute(
                f"SELECT id, tries FROM readings WHERE id IN ({marks})", list(ids)
            ).fetchall()
        }

    @_serialised
    def hold(self, held: Sequence[tuple[int, str, float]]) -> None:
        """Keep pending readings back (id, reason, unix time to look again): dated after the chain's time, or
        one the lease would flag. The reason is what status and metrics show while they wait."""
        with self._tx() as db:
            db.executemany(
                "UPDATE readings SET reason = ?, not_before = ? WHERE id = ? AND state = 'pending'",
                [(reason, not_before, rid) for rid, reason, not_before in held],
            )

    @_serialised
    def waiting(self) -> dict[str, int]:
        """Pending readings held back or sent again, counted by reason code (the reason up to its first ':')."""
        out: dict[str, int] = {}
        for reason, n in self._db.execute(
            "SELECT reason, COUNT(*) FROM readings WHERE state = 'pending' AND reason IS NOT NULL GROUP BY reason"
        ).fetchall():
            code = str(reason).split(":")[0]
            out[code] = out.get(code, 0) + int(n)
        return out

    @_serialised
    def quarantine_pending(self, ids: Sequence[int], reason: str) -> None:
        """Readings that cannot be sent (no key to sign them with any more) are quarantined with the reason."""
        with self._tx() as db:
            db.executemany(
                "UPDATE readings SET state = 'quarantined', reason = ? WHERE id = ? AND state = 'pending'",
                [(reason, rid) for rid in ids],
            )
        self._forget_refused(ids)

    def _forget_refused(self, refused: Sequence[int]) -> None:
        if not refused or self._leases_with_readings is None:
            return
        # A lease whose only readings were refused has no anchor on its way: its next reading is one.
        marks = ",".join("?" * len(refused))
        for (lease,) in self._db.execute(
            f"SELECT DISTINCT lease_id FROM readings WHERE id IN ({marks})", list(refused)
        ).fetchall():
            if (
                self._db.execute(
                    "SELECT 1 FROM readings WHERE lease_id = ? AND state != 'quarantined' LIMIT 1", (lease,)
                ).fetchone()
                is None
            ):
                self._leases_with_readings.discard(lease)

    @_serialised
    def settled_heads(self) -> dict[int, SettledHead]:
        """Per lease, its newest reading held as settled and its anchor reading (if kept): what the chain must
        still hold for the outbox's word "settled" to be true. Index seeks per lease (the reconciliation asks
        every few seconds, and a day's outbox holds millions of readings)."""
        heads: dict[int, SettledHead] = {}
        for lease in self._lease_set():
            newest = max(
                (
                    rid
                    for (rid,) in (
                        self._db.execute(
                            "SELECT MAX(id) FROM readings WHERE state = ? AND lease_id = ?", (state, lease)
                        ).fetchone()
                        for state in DELIVERED
                    )
                    if rid is not None
                ),
                default=None,
            )
            if newest is None:
                continue
            counter, timestamp = self._db.execute(
                "SELECT counter, timestamp FROM readings WHERE id = ?", (newest,)
            ).fetchone()
            anchor = self._db.execute(
                "SELECT MIN(id) FROM readings WHERE state = 'settled' AND lease_id = ? AND anchor = 1", (lease,)
            ).fetchone()[0]
            heads[int(lease, 16)] = SettledHead(int(newest), int(counter), int(timestamp), anchor)
        return heads

    @_serialised
    def reopen(self, ids: Sequence[int], why: str) -> None:
        """Readings held as settled that the chain no longer holds go back to pending, sent again as they are."""
        with self._tx() as db:
            db.executemany(
                "UPDATE readings SET state = 'pending', batch_id = NULL, settled_at = NULL, not_before = NULL, "
                "reason = ? WHERE id = ? AND state IN ('settled', 'stale')",
                [(why, rid) for rid in ids],
            )

    @_serialised
    def drop_batch(self, batch: Batch, why: str) -> None:
        """The batch can never be mined (nonce taken, or it reverted): its readings go back to pending,
        unless a newer reading of the same lease arrived meanwhile (that one carries the units)."""
        with self._tx() as db:
            for rid in batch.reading_ids:
                lease, anchor = db.execute("SELECT lease_id, anchor FROM readings WHERE id = ?", (rid,)).fetchone()
                newer = db.execute(
                    "SELECT 1 FROM readings WHERE lease_id = ? AND id > ? AND state IN "
                    "('pending', 'submitted', 'settled') LIMIT 1",
                    (lease, rid),
                ).fetchone()
                state = "superseded" if newer and not anchor else "pending"
                db.execute("UPDATE readings SET state = ?, batch_id = NULL, reason = ? WHERE id = ?", (state, why, rid))
            db.execute("UPDATE batches SET state = 'dropped' WHERE id = ?", (batch.id,))

    # ------------------------------------------------------------------ locks and cursors

    @_serialised
    def lock_state(self, machine: str) -> tuple[str | None, str | None]:
        row = self._db.execute("SELECT lock_state, lock_lease FROM machines WHERE machine = ?", (machine,)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    @_serialised
    def lock_states(self, machines: Sequence[str]) -> dict[str, str | None]:
        """The command last delivered to each of ``machines`` (None: none yet)."""
        states = dict.fromkeys(machines)
        for machine, state in self._db.execute("SELECT machine, lock_state FROM machines").fetchall():
            if machine in states:
                states[machine] = state
        return states

    @_serialised
    def set_lock_states(self, delivered: Sequence[tuple[str, str, int]]) -> None:
        """Record commands delivered, (machine, command, lease id) each, in one transaction."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO machines(machine, lock_state, lock_lease) VALUES (?, ?, ?) "
                "ON CONFLICT(machine) DO UPDATE SET lock_state = excluded.lock_state, "
                "lock_lease = excluded.lock_lease",
                [(machine, state, hex(lease_id)) for machine, state, lease_id in delivered],
            )

    @_serialised
    def cursor(self, name: str) -> int | None:
        row = self._db.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else None

    @_serialised
    def set_cursor(self, name: str, value: int) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO cursors(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    @_serialised
    def save_leases(self, leases: Sequence[tuple[str, int | None, int, int, bool]]) -> None:
        """Each machine's lease as last read from the chain (machine, lease id or None, status, max rate,
        anchored): what the intake works from when the oracle starts while the node is down."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO leases(machine, lease_id, status, max_rate, anchored) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(machine) DO UPDATE SET lease_id = excluded.lease_id, status = excluded.status, "
                "max_rate = excluded.max_rate, anchored = excluded.anchored",
                [(m, None if i is None else hex(i), st, rate, int(a)) for m, i, st, rate, a in leases],
            )

    @_serialised
    def load_leases(self) -> list[tuple[str, int | None, int, int, bool]]:
        rows = self._db.execute("SELECT machine, lease_id, status, max_rate, anchored FROM leases").fetchall()
        return [(m, None if i is None else int(i, 16), int(st), int(rate), bool(a)) for m, i, st, rate, a in rows]

    @_serialised
    def count_start(self) -> int:
        """Record one more start of the oracle on this outbox; returns how many there were."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO cursors(name, value) VALUES ('starts', 1) ON CONFLICT(name) DO UPDATE SET "
                "value = value + 1"
            )
            return int(db.execute("SELECT value FROM cursors WHERE name = 'starts'").fetchone()[0])

    @_serialised
    def save_preflight(self, findings: Sequence[tuple[str, str, str]]) -> None:
        """The last preflight's findings (check, level, message), replacing the previous run's."""
        with self._tx() as db:
            db.execute("DELETE FROM preflight")
            db.executemany(
                "INSERT INTO preflight(check_name, level, message, at) VALUES (?, ?, ?, ?)",
                [(*f, time.time()) for f in findings],
            )

    @_serialised
    def preflight(self) -> list[dict[str, object]]:
        return [
            {"check": c, "level": lv, "message": m, "at": at}
            for c, lv, m, at in self._db.execute(
                "SELECT check_name, level, message, at FROM preflight ORDER BY rowid"
            ).fetchall()
        ]

    @_serialised
    def last_settled_at(self) -> float | None:
        row = self._db.execute("SELECT MAX(settled_at) FROM readings WHERE state = 'settled'").fetchone()
        return None if row[0] is None else float(row[0])

    @_serialised
    def prune(self, older_than: float, limit: int = 5_000) -> int:
        """Delete delivered history received before ``older_than`` (unix time), at most ``limit`` readings a call:
        superseded and settled readings except each lease's anchor and newest settled one (status shows it; a chain
        that lost their blocks is sent them again), and the closed batches and attempts no remaining reading refers
        to. Pending, in-flight and quarantined readings are kept (quarantined ones are what an operator must look
        into). Returns the readings deleted."""
        with self._tx() as db:
            cursor = db.execute(
                "DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE state IN ('superseded', 'settled', "
                "'stale') AND received_at < ? AND anchor = 0 AND id NOT IN (SELECT MAX(id) FROM readings WHERE "
                "state IN ('settled', 'stale') GROUP BY lease_id) LIMIT ?)",
                (older_than, limit),
            )
            deleted = cursor.rowcount
            db.execute(
                "DELETE FROM attempts WHERE batch_id IN (SELECT b.id FROM batches b WHERE b.state != "
                "'inflight' AND b.created_at < ? AND NOT EXISTS (SELECT 1 FROM readings r WHERE "
                "r.batch_id = b.id))",
                (older_than,),
            )
            db.execute(
                "DELETE FROM batches WHERE state != 'inflight' AND created_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM readings r WHERE r.batch_id = batches.id)",
                (older_than,),
            )
        return int(deleted)

    # ------------------------------------------------------------------ status

    @_serialised
    def status(self) -> list[dict[str, object]]:
        """Per machine: last counter seen, last settled, pending, quarantined readings, quarantine reason."""
        rows = self._db.execute(
            "SELECT machine, last_counter, counter_offset, quarantined, lock_state FROM machines ORDER BY machine"
        ).fetchall()
        out = []
        for machine, last_counter, offset, quarantined, lock_state in rows:

            def count(where: str, m: str = machine) -> int:
                return int(
                    self._db.execute(f"SELECT COUNT(*) FROM readings WHERE machine = ? AND {where}", (m,)).fetchone()[0]
                )

            settled = self._db.execute(
                "SELECT MAX(counter) FROM readings WHERE machine = ? AND state IN ('settled', 'stale')", (machine,)
            ).fetchone()[0]
            reasons = [
                r
                for (r,) in self._db.execute(
                    "SELECT DISTINCT reason FROM readings WHERE machine = ? AND state = 'quarantined'", (machine,)
                )
            ]
            waiting = sorted(
                {
                    str(r).split(":")[0]
                    for (r,) in self._db.execute(
                        "SELECT DISTINCT reason FROM readings WHERE machine = ? AND state = 'pending' AND "
                        "reason IS NOT NULL",
                        (machine,),
                    )
                }
            )
            out.append(
                {
                    "machine": machine,
                    "last_seen": None if last_counter is None else last_counter + offset,
                    "last_settled": settled,
                    "pending": count("state IN ('pending', 'submitted')"),
                    "waiting_reasons": waiting,
                    "quarantined_readings": count("state = 'quarantined'"),
                    "quarantine_reasons": reasons,
                    "machine_quarantined": quarantined,
                    "lock": lock_state,
                }
            )
        return out


def _reading(row: Any) -> PendingReading:
    rid, machine, machine_id, lease, counter, runtime, timestamp, r, vs, received_at = row
    return PendingReading(
        rid, machine, bytes(machine_id), int(lease, 16), counter, runtime, timestamp, bytes(r), bytes(vs), received_at
    )
