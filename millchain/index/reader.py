"""The CLI's way to the index: use it when one is configured for this chain and these contracts, else say why
the chain is read.

:func:`index_source` is the one place that decides: every reading command (``lease statement``, ``qc lot
trace``, ``qc alerts``, ``order show``) asks it, gets an open store or the reason to read the chain's logs, and
prints :attr:`Source.note` on stderr.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from millchain.errors import MillchainError
from millchain.index import queries
from millchain.index.schema import SCHEMA_VERSION
from millchain.index.store import IndexStore, configured_index, is_dsn, open_store
from millchain.leasing import LeaseClient, Statement
from millchain.session import Session


@dataclass(frozen=True)
class Source:
    """Where a command reads the events it needs: ``store`` (open for the ``with`` block) up to block ``upto``,
    or the chain's logs when ``store`` is None; ``note`` says which and why, for stderr."""

    store: IndexStore | None
    note: str
    upto: int = -1
    """The last block indexed, read once when the source was chosen: every query of one command stops there,
    so a follower writing meanwhile cannot mix two moments into one answer."""


def _database_errors() -> tuple[type[BaseException], ...]:
    """What opening or reading someone else's database may raise besides our own errors."""
    errors: list[type[BaseException]] = [MillchainError, sqlite3.Error, OSError]
    try:
        import psycopg
    except ImportError:
        pass
    else:
        errors.append(psycopg.Error)
    return tuple(errors)


def index_mismatch(store: IndexStore, session: Session, follows: Mapping[str, str]) -> str | None:
    """Why ``store`` is not an index of this chain following the contracts ``follows`` (name -> address), or None.

    The same identity the indexer records (:meth:`Indexer.prepare`): the chain id, the hash of the block before
    the deployments (two fresh dev chains share ids and addresses, not that hash) and each contract's address."""
    found = int(store.meta("schema_version") or 0)
    if found > SCHEMA_VERSION:
        return f"{store.where} has index schema {found}, newer than this millchain's {SCHEMA_VERSION}"
    raw = store.meta("identity")
    if raw is None or store.meta("cursor_number") is None:
        return f"the index at {store.where} has indexed nothing yet: run `millchain index backfill`"
    identity = json.loads(raw)
    chain_id = session.chain.chain_id
    if identity.get("chain_id") != chain_id:
        return f"the index at {store.where} follows another chain (chainId {identity.get('chain_id')}, not {chain_id})"
    base, base_hash = store.meta("base_block"), identity.get("base")
    if base is not None and int(base) >= 0 and base_hash is not None:
        block = session.chain.w3.eth.get_block(int(base))
        if bytes(block["hash"]).hex() != base_hash:
            return f"the index at {store.where} follows another chain (its block {base} is not this chain's)"
    indexed = {str(name): str(address) for name, address in store.query("SELECT name, address FROM contracts")}
    for name, address in follows.items():
        if indexed.get(name) != address.lower():
            return (
                f"the index at {store.where} follows another contract: {name} at {indexed.get(name, 'none')}, "
                f"this chain's is {address.lower()}"
            )
    return None


@contextmanager
def index_source(session: Session, follows: Mapping[str, str], what: str) -> Iterator[Source]:
    """The index to read ``what`` from (``follows``: the contracts it needs, name -> address), or why the chain's
    logs are read instead. The store is closed when the ``with`` block ends."""
    chain = f"{what} read from the chain's logs"
    target = configured_index(session.project.root)
    if target is None:
        yield Source(None, f"{chain} (no index configured)")
        return
    if not is_dsn(target) and not Path(target).is_file():
        # Opening a SQLite path would create an empty database there: a reader never writes.
        yield Source(None, f"{chain} (index unusable: no index file at {target})")
        return
    errors = _database_errors()
    try:
        store = open_store(target, migrate=False)
    except errors as exc:
        yield Source(None, f"{chain} (index unusable: {exc})")
        return
    with store:
        try:
            if "meta" not in store.tables():
                reason: str | None = f"{store.where} is no index"
            else:
                reason = index_mismatch(store, session, follows)
            upto = queries.cursor(store)
        except errors as exc:
            reason = f"index unusable: {exc}"
        if reason is not None:
            yield Source(None, f"{chain} ({reason})")
            return
        head = int(session.chain.w3.eth.block_number)
        behind = f", {head - upto} block(s) behind the head" if head > upto else ""
        yield Source(store, f"{what} read from the index at {store.where} (to block {upto}{behind})", upto)


def statement(session: Session, client: LeaseClient, lease_id: int) -> tuple[Statement, str]:
    """A lease's statement and where it came from: the index when one is configured and follows this chain's
    lease contract, else the chain's logs (the note says why)."""
    with index_source(session, {"EquipmentLease": client.reader.address}, "statement") as source:
        if source.store is None:
            return client.statement(lease_id), source.note
        return queries.statement(source.store, client.get(lease_id), upto=source.upto), source.note
