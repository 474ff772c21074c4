"""Backfill and follow the deployed contracts' events into the index, surviving reorgs and hard kills.

Each block range is read and checked, then written in one database transaction together with the cursor
(the last block indexed and its hash): a process killed at any instant leaves either the whole range or none
of it, and resumes from the cursor without a gap or a duplicate.

A reorg shows as a parent-hash mismatch: the first block after the cursor does not descend from the block the
cursor names (checked on restart and before every range). The indexer then walks back through the hashes it
stored until one matches the chain — the common ancestor —, deletes every row above it and replays from there.
A range is kept only if the chain did not change while it was read (its last block's hash is the same before
and after, and every log's block hash is the header's), so rows never mix two branches.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from millchain.errors import ChainError
from millchain.index.decode import (
    ALERT_COLUMNS,
    EVENT_COLUMNS,
    LINEAGE_COLUMNS,
    LINEAGE_EVENT,
    USAGE_COLUMNS,
    Decoder,
    Followed,
    Quality,
)
from millchain.index.schema import row_id
from millchain.index.source import Header, RawLog, RpcSource, TooManyLogs
from millchain.index.store import IndexStore, IndexStoreError
from millchain.session import Session

log = logging.getLogger("millchain.index")


@dataclass(frozen=True)
class RangeDone:
    from_block: int
    to_block: int
    events: int
    """Rows written (events and usage)."""


@dataclass(frozen=True)
class Reorg:
    old_cursor: int
    ancestor: int


def followed_contracts(session: Session) -> list[Followed]:
    """Every contract recorded in deployments/ for the session's network, with its ABI and deploy block."""
    out = []
    for name in session.store.names():
        record = session.store.get(name)
        if record is None or not any(item.get("type") == "event" for item in record.get("abi", [])):
            continue
        out.append(Followed(name, str(record["address"]).lower(), record["abi"], int(record["blockNumber"])))
    if not out:
        where = session.store.folder or "this chain"
        raise IndexStoreError(f"no deployed contracts recorded in {where}: run `millchain deploy` first")
    return out


class Indexer:
    def __init__(
        self,
        store: IndexStore,
        source: RpcSource,
        followed: Sequence[Followed],
        *,
        chain_id: int,
        max_range: int = 500,
        target_logs: int = 10_000,
    ) -> None:
        self.store = store
        self.source = source
        self.followed = list(followed)
        self.addresses = [f.address for f in self.followed]
        self.decoder = Decoder(self.followed)
        self.chain_id = chain_id
        self.max_range = max_range
        self.target_logs = target_logs
        # Slow start: the first range is small (a chain may hold hundreds of thousands of logs per thousand blocks);
        # each quiet range doubles it up to max_range.
        self.span = min(max_range, 64)
        # The next range's logs are read by a second connection while this one's rows are written: the node and
        # the database work at the same time.
        self._ahead = RpcSource(source.url)
        self._executor: ThreadPoolExecutor | None = None
        self._pending: tuple[int, int, Future[tuple[Header | None, list[RawLog]]]] | None = None
        self._stuck = 0
        self._lease_keys: dict[bytes, int] | None = None
        """lease id -> its key in ``usage`` (the ``leases`` table, read once)."""
        self.on_range: Callable[[RangeDone], None] | None = None
        self.on_reorg: Callable[[Reorg], None] | None = None

    # ------------------------------------------------------------------ identity and cursor

    def prepare(self, *, rebuild: bool = False) -> None:
        """Check the index belongs to this chain and these contracts (or start it); ``rebuild`` empties it."""
        start = min(f.start_block for f in self.followed) - 1
        header = self.source.header(start) if start >= 0 else None
        if start >= 0 and header is None:
            raise ChainError(f"the chain has no block {start}: are the deployments from this node?")
        # Chain id and addresses repeat across fresh dev chains; the hash of the block before the deployments
        # tells two of them apart.
        identity = json.dumps(
            {
                "chain_id": self.chain_id,
                "base": header.hash.hex() if header else None,
                "contracts": sorted((f.name, f.address, f.start_block) for f in self.followed),
            }
        )
        recorded = self.store.meta("identity")
        if recorded is not None and recorded != identity and not rebuild:
            raise IndexStoreError(
                f"the index at {self.store.where} was built for another chain or other deployments than "
                f"chainId {self.chain_id} with the contracts in deployments/: pass --rebuild to index this one "
                "from scratch"
            )
        if recorded == identity and not rebuild:
            self._complete_lineage()
            return
        with self.store.transaction():
            self._lease_keys = None
            for table in ("events", "usage", "leases", "lot_inputs", "quality_alerts", "blocks", "contracts"):
                self.store.execute(f"DELETE FROM {table}")
            self.store.execute("DELETE FROM meta WHERE key = 'lineage_incomplete'")  # every lot replays into it
            self.store.insert_many(
                "contracts",
                ("address", "name", "start_block"),
                [(f.address, f.name, f.start_block) for f in self.followed],
            )
            base = header.hash if header else b"\0" * 32
            self.store.insert_many(
                "blocks",
                ("number", "hash", "parent_hash", "timestamp"),
                [(start, base, header.parent_hash if header else b"\0" * 32, header.timestamp if header else 0)],
            )
            self._set_cursor(start, base)
            self.store.set_meta("base_block", str(start))
            self.store.set_meta("reorgs", "0")
            self.store.set_meta("identity", identity)

    def _insert_quality(self, quality: Quality) -> None:
        self.store.insert_many("lot_inputs", LINEAGE_COLUMNS, quality.lot_inputs)
        self.store.insert_many("quality_alerts", ALERT_COLUMNS, quality.alerts)

    def _complete_lineage(self) -> None:
        """Fill the quality tables from the lots and attestations an index of schema 1 stored before they existed
        (once, at start)."""
        if self.store.meta("lineage_incomplete") is None:
            return
        contract = LINEAGE_EVENT[0]
        with self.store.transaction():
            self.store.execute("DELETE FROM lot_inputs")
            self.store.execute("DELETE FROM quality_alerts")
            rows = self.store.query(
                "SELECT id, event, subject, args FROM events WHERE event IN ('LotRegistered', 'Attested') "
                "AND contract = ? ORDER BY id",
                (contract,),
            )
            quality = Quality()
            for rid, event, lot, args in rows:
                quality.add(str(event), int(rid), bytes(lot), json.loads(args))
            self._insert_quality(quality)
            self.store.execute("DELETE FROM meta WHERE key = 'lineage_incomplete'")
        log.info("lineage and alerts of %d event(s) indexed before schema 2 added to their tables", len(rows))

    def cursor(self) -> tuple[int, bytes]:
        number, hash_hex = self.store.meta("cursor_number"), self.store.meta("cursor_hash")
        if number is None or hash_hex is None:
            raise IndexStoreError(f"the index at {self.store.where} has no cursor: run prepare() first")
        return int(number), bytes.fromhex(hash_hex)

    def _set_cursor(self, number: int, block_hash: bytes) -> None:
        self.store.set_meta("cursor_number", str(number))
        self.store.set_meta("cursor_hash", block_hash.hex())

    # ------------------------------------------------------------------ one step

    def step(self, head: int | None = None) -> RangeDone | Reorg | None:
        """Index the next range up to ``head`` (default: the chain's), or undo a reorg; None when caught up."""
        number, cursor_hash = self.cursor()
        head = self.source.head() if head is None else head
        if head <= number:
            # Nothing new, or a chain shorter than the index (rolled back): is the cursor's block still ours?
            current = self.source.header(number) if head == number else None
            if current is None or current.hash != cursor_hash:
                return self._rollback(number)
            return None
        first, last = number + 1, min(head, number + self.span)
        pending, self._pending = self._pending, None
        try:
            if pending is not None and pending[0] == first and pending[1] <= head:
                last = pending[1]
                end, logs = pending[2].result()
            else:
                if pending is not None:
                    pending[2].cancel()
                end, logs = _read_range(self.source, self.addresses, first, last)
        except TooManyLogs:
            if self.span == 1:
                raise
            self.span = max(1, self.span // 2)
            return self.step(head)
        if end is None:
            return None  # the head moved back between two calls: the next step sees the reorg
        # Aim each range at about target_logs logs: small enough for one quick transaction, big enough to amortise it.
        if len(logs) > self.target_logs:
            self.span = max(1, self.span * self.target_logs // len(logs))
        elif len(logs) < self.target_logs // 4:
            self.span = min(self.max_range, self.span * 2)
        if last < head:
            self._read_ahead(last + 1, min(head, last + self.span))
        headers = self.source.headers(sorted({first, *(entry.block_number for entry in logs)}))
        start = headers[first]
        if start is None or start.parent_hash != cursor_hash:
            return self._rollback(number)
        again = self.source.header(last)
        if (
            again is None
            or again.hash != end.hash
            or any((h := headers.get(entry.block_number)) is None or h.hash != entry.block_hash for entry in logs)
        ):
            log.info("chain changed while blocks %d-%d were read; reading them again", first, last)
            return self.step()
        if self._lease_keys is None:
            self._lease_keys = {bytes(i): int(k) for k, i in self.store.query("SELECT key, lease_id FROM leases")}
        events, usage, fresh, quality = self.decoder.rows(logs, self._lease_keys)
        blocks: dict[int, Header] = {last: end}
        for entry in logs:
            header = headers[entry.block_number]
            assert header is not None
            blocks[entry.block_number] = header
        with self.store.transaction():
            self.store.insert_many(
                "blocks",
                ("number", "hash", "parent_hash", "timestamp"),
                [(h.number, h.hash, h.parent_hash, h.timestamp) for h in blocks.values()],
            )
            self.store.insert_many("events", EVENT_COLUMNS, events)
            self.store.insert_many("leases", ("key", "lease_id"), [(k, i) for i, k in fresh.items()])
            self.store.insert_many("usage", USAGE_COLUMNS, usage)
            self._insert_quality(quality)
            self._set_cursor(last, end.hash)
        self._lease_keys.update(fresh)  # only once committed: a failed range gives its keys out again
        self._stuck = 0
        done = RangeDone(first, last, len(events) + len(usage))
        if self.on_range:
            self.on_range(done)
        return done

    def _read_ahead(self, first: int, last: int) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="millchain-index-read")
        self._pending = (first, last, self._executor.submit(_read_range, self._ahead, self.addresses, first, last))

    def close(self) -> None:
        """Stop reading ahead (the database is the caller's to close)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _rollback(self, cursor_number: int) -> Reorg:
        """Find the newest stored block the chain still has, delete everything above it, move the cursor there."""
        ancestor: tuple[int, bytes] | None = None
        below = cursor_number
        while ancestor is None:
            page = self.store.query(
                "SELECT number, hash FROM blocks WHERE number <= ? ORDER BY number DESC LIMIT 200", (below,)
            )
            if not page:
                break
            chain = self.source.headers([int(n) for n, _ in page])
            for n, stored in page:
                header = chain.get(int(n))
                if header is not None and header.hash == bytes(stored):
                    ancestor = (int(n), header.hash)
                    break
            below = int(page[-1][0]) - 1
        if ancestor is None:
            raise IndexStoreError(
                f"the chain shares no block with the index at {self.store.where} (not even the one before the "
                "deployments): rebuild it with --rebuild"
            )
        number, block_hash = ancestor
        if number == cursor_number:
            # Nothing to undo: the cursor's block is canonical, yet the next block does not descend from it.
            self._stuck += 1
            if self._stuck >= 3:
                raise ChainError(
                    f"the node's block {cursor_number + 1} does not name block {cursor_number} "
                    f"(0x{block_hash.hex()}) as its parent, three times running: the node's chain is inconsistent"
                )
        else:
            self._stuck = 0
        with self.store.transaction():
            first_gone = row_id(number + 1, 0)
            self.store.execute("DELETE FROM events WHERE id >= ?", (first_gone,))
            self.store.execute("DELETE FROM usage WHERE id >= ?", (first_gone,))
            self.store.execute("DELETE FROM lot_inputs WHERE id >= ?", (first_gone,))
            self.store.execute("DELETE FROM quality_alerts WHERE id >= ?", (first_gone,))
            self.store.execute("DELETE FROM blocks WHERE number > ?", (number,))
            self._set_cursor(number, block_hash)
            self.store.set_meta("reorgs", str(int(self.store.meta("reorgs") or 0) + 1))
        log.warning(
            "reorg: the chain no longer holds blocks after %d; rolled back from %d and replaying", number, cursor_number
        )
        self.span = min(self.span, 100)
        reorg = Reorg(cursor_number, number)
        if self.on_reorg:
            self.on_reorg(reorg)
        return reorg

    # ------------------------------------------------------------------ loops

    def backfill(self, *, to_block: int | None = None) -> int:
        """Index up to ``to_block`` (default: the head when called); returns the rows written."""
        target = self.source.head() if to_block is None else to_block
        written = 0
        try:
            while True:
                outcome = self.step(target)
                if outcome is None:
                    return written
                if isinstance(outcome, RangeDone):
                    written += outcome.events
                elif outcome.ancestor < target and self.source.head() < target:
                    target = self.source.head()
        finally:
            self.close()

    def follow(self, stop: threading.Event, *, poll_seconds: float = 1.0) -> None:
        """Keep up with the chain until ``stop`` is set; a node outage is waited out, not fatal."""
        try:
            self._follow(stop, poll_seconds)
        finally:
            self.close()

    def _follow(self, stop: threading.Event, poll_seconds: float) -> None:
        backoff = poll_seconds
        while not stop.is_set():
            try:
                outcome = self.step()
                backoff = poll_seconds
            except ChainError as exc:
                log.warning("node unavailable (%s); retrying in %.0f s", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if outcome is None:
                stop.wait(poll_seconds)


def _read_range(
    source: RpcSource, addresses: Sequence[str], first: int, last: int
) -> tuple[Header | None, list[RawLog]]:
    """The header of ``last``, then the logs of ``first``..``last``: the caller reads the header again after, and
    keeps the logs only if it did not change (the chain stood still while they were read)."""
    end = source.header(last)
    if end is None:
        return None, []
    return end, source.logs(addresses, first, last)


def open_indexer(session: Session, store: IndexStore, *, rebuild: bool = False, **kwargs: int) -> Indexer:
    """An indexer for ``session``'s node and deployments, its index checked (or started)."""
    provider = session.chain.w3.provider
    url = getattr(provider, "endpoint_uri", None)
    if not url:
        raise IndexStoreError(
            "the index follows a node over JSON-RPC; the embedded chain lives only inside one process: "
            "use --network anvil or --rpc URL"
        )
    indexer = Indexer(
        store, RpcSource(str(url)), followed_contracts(session), chain_id=session.chain.chain_id, **kwargs
    )
    indexer.prepare(rebuild=rebuild)
    return indexer
