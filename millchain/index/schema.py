"""The index's tables and their migrations: the only place the schema is written down.

Every row derived from a log carries the block number and hash it came from, so a reorg can be undone exactly.
``blocks`` holds the hash of each block the index took rows from and of each range end it stopped at: the
indexer compares them with the chain to find where a reorganised chain forks from what it stored.
Numbers that may exceed 63 bits (token amounts, counters, uint256 ids) are stored as decimal text or 32-byte
blobs: neither backend has a 256-bit integer, and money is never summed in SQL here.
"""

from __future__ import annotations

from collections.abc import Sequence

SCHEMA_VERSION = 2

# Each migration is a list of statements. {blob} and {bigint} are filled per dialect; never edit a released
# migration, append a new one.
MIGRATIONS: Sequence[Sequence[str]] = (
    (
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        # The contracts followed: name and address from deployments/, the block each was deployed in.
        "CREATE TABLE contracts (address TEXT PRIMARY KEY, name TEXT NOT NULL, start_block {bigint} NOT NULL)",
        "CREATE TABLE blocks (number {bigint} PRIMARY KEY, hash {blob} NOT NULL, parent_hash {blob} NOT NULL, "
        "timestamp {bigint} NOT NULL)",
        "CREATE INDEX blocks_by_time ON blocks (timestamp)",
        # id = block_number << 20 | log_index: one integer key in log order (SQLite's rowid, fastest to append).
        "CREATE TABLE events (id {bigint} PRIMARY KEY, block_number {bigint} NOT NULL, log_index INTEGER NOT NULL, "
        "block_hash {blob} NOT NULL, tx_hash {blob} NOT NULL, contract TEXT NOT NULL, event TEXT NOT NULL, "
        "subject {blob}, args TEXT NOT NULL)",
        "CREATE INDEX events_by_subject ON events (event, subject, id)",
        "CREATE INDEX events_by_contract ON events (contract, event, id)",
        # UsageSettled is the bulk of the chain (every report of every leased machine): typed columns of its own,
        # the lease as a small integer key (a 32-byte id in its index made appending three times slower).
        "CREATE TABLE leases (key {bigint} PRIMARY KEY, lease_id {blob} NOT NULL UNIQUE)",
        "CREATE TABLE usage (id {bigint} PRIMARY KEY, lease {bigint} NOT NULL, block_number {bigint} NOT NULL, "
        "log_index INTEGER NOT NULL, block_hash {blob} NOT NULL, tx_hash {blob} NOT NULL, counter TEXT NOT NULL, "
        "units TEXT NOT NULL, amount TEXT NOT NULL)",
        "CREATE INDEX usage_by_lease ON usage (lease, id)",
    ),
    (
        # QualityLedger's LotRegistered inputs, one row per (lot, input) with the event's id: `qc lot trace` walks
        # a lot's lineage both ways on these indexes instead of reading every lot ever registered.
        "CREATE TABLE lot_inputs (id {bigint} NOT NULL, lot {blob} NOT NULL, input {blob} NOT NULL, "
        "PRIMARY KEY (id, input))",
        "CREATE INDEX lot_inputs_by_input ON lot_inputs (input, id)",
        "CREATE INDEX lot_inputs_by_lot ON lot_inputs (lot, id)",
        # QualityLedger's Attested with a severity (alerts), by lot: `qc alerts` reads the alerted lots, what was
        # built from them and their records, not every lot and attestation.
        "CREATE TABLE quality_alerts (id {bigint} PRIMARY KEY, lot {blob} NOT NULL)",
        # An index of version 1 already holds lots and attestations these tables lack: the indexer fills them from
        # their events when it next starts (Indexer.prepare); until then readers read every lot.
        "INSERT INTO meta (key, value) SELECT 'lineage_incomplete', '1' FROM events "
        "WHERE event IN ('LotRegistered', 'Attested') LIMIT 1",
    ),
)

DIALECT_TYPES = {
    "sqlite": {"blob": "BLOB", "bigint": "INTEGER"},
    "postgres": {"blob": "BYTEA", "bigint": "BIGINT"},
}

LOG_INDEX_BITS = 20
"""Logs per block the row id leaves room for (about a million: a 30M-gas block holds far fewer)."""


def row_id(block_number: int, log_index: int) -> int:
    return block_number << LOG_INDEX_BITS | log_index


def statements(dialect: str, version: int) -> list[str]:
    """The statements of migration ``version`` (1-based) for ``dialect``."""
    return [sql.format(**DIALECT_TYPES[dialect]) for sql in MIGRATIONS[version - 1]]
