"""millchain index backfill | follow | status"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from typing import Any

import click

from millchain.cli.common import console, emit_json, err_console, json_option, network_options, table
from millchain.index.indexer import Indexer, RangeDone, Reorg, open_indexer
from millchain.index.queries import status as index_status
from millchain.index.store import INDEX_ENV, IndexStore, index_target, open_store
from millchain.session import Session

db_option = click.option(
    "--db",
    "db",
    metavar="PATH|DSN",
    envvar=INDEX_ENV,
    help="SQLite file or PostgreSQL DSN (postgresql://…) [default: .millchain/index.sqlite under the project].",
)


def _open(session: Session, db: str | None) -> IndexStore:
    return open_store(index_target(session.project.root, db))


def _report(indexer: Indexer, quiet: bool) -> None:
    def on_range(done: RangeDone) -> None:
        if not quiet:
            err_console.print(f"indexed blocks {done.from_block}-{done.to_block}: {done.events} rows", highlight=False)

    def on_reorg(reorg: Reorg) -> None:
        err_console.print(
            f"reorg: rolled back from block {reorg.old_cursor} to the common ancestor {reorg.ancestor}; replaying",
            highlight=False,
        )

    indexer.on_range = on_range
    indexer.on_reorg = on_reorg


@click.group("index")
def index() -> None:
    """The event index: backfill, follow the chain (reorg-safe), status."""


@index.command("backfill")
@db_option
@click.option("--rebuild", is_flag=True, help="Empty the index and rebuild it from the deployments' blocks.")
@click.option("--to-block", type=click.IntRange(min=0), default=None, help="Stop at this block [default: head].")
@click.option("--quiet", "-q", is_flag=True, help="No line per block range.")
@network_options
@json_option
def backfill(db: str | None, rebuild: bool, to_block: int | None, quiet: bool, session: Session, as_json: bool) -> None:
    """Index every event of the deployed contracts up to the head, then exit."""
    with _open(session, db) as store:
        indexer = open_indexer(session, store, rebuild=rebuild)
        _report(indexer, quiet or as_json)
        started = time.perf_counter()
        written = indexer.backfill(to_block=to_block)
        seconds = time.perf_counter() - started
        result = {"rows": written, "seconds": round(seconds, 3), "cursor": indexer.cursor()[0], "where": store.where}
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"indexed {written} events up to block {result['cursor']} in {seconds:.2f} s into {result['where']}",
            highlight=False,
        )


@index.command("follow")
@db_option
@click.option(
    "--poll",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between looks at the head once caught up.",
)
@click.option("--rebuild", is_flag=True, help="Empty the index first.")
@click.option("--quiet", "-q", is_flag=True, help="No line per block range.")
@network_options
def follow(db: str | None, poll: float, rebuild: bool, quiet: bool, session: Session) -> None:
    """Backfill, then keep up with the chain until SIGINT/SIGTERM (reorgs rolled back and replayed)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with _open(session, db) as store:
        indexer = open_indexer(session, store, rebuild=rebuild)
        _report(indexer, quiet)
        err_console.print(
            f"following {session.chain.network} (chainId {session.chain.chain_id}) into "
            f"{store.where} from block {indexer.cursor()[0] + 1}",
            highlight=False,
        )
        indexer.follow(stop, poll_seconds=poll)
    err_console.print("stopped", highlight=False)


@index.command("status")
@db_option
@network_options
@json_option
def status(db: str | None, session: Session, as_json: bool) -> None:
    """Where the index stands: last block indexed, rows, reorgs seen, lag behind the node."""
    with _open(session, db) as store:
        found = index_status(store)
    head = session.chain.w3.eth.block_number
    payload = {**dataclasses.asdict(found), "head": head, "lag": head - found.cursor}
    if as_json:
        emit_json(payload)
        return
    table(
        f"index {found.where}",
        ["field", "value"],
        [
            ("last block indexed", found.cursor),
            ("its hash", found.cursor_hash),
            ("chain head", head),
            ("blocks behind", head - found.cursor),
            ("events", found.events),
            ("usage reports", found.usage),
            ("reorgs rolled back", found.reorgs),
            *((f"contract {name}", address) for name, address in sorted(found.contracts.items())),
        ],
    )
