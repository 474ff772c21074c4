"""The event index: the deployed contracts' events in a database, kept up with the chain through reorgs.

One writer (:class:`~millchain.index.indexer.Indexer`, run by ``millchain index``), many readers (the console,
the CLI) through :mod:`millchain.index.queries`. SQLite by default, PostgreSQL given a DSN.

    schema.py   the tables and their migrations, in one place
    store.py    the two database backends behind one small interface
    source.py   what the indexer reads from a node (logs and block headers over raw JSON-RPC)
    decode.py   logs -> rows, with the ABIs from the deployment records
    indexer.py  backfill, follow, reorg detection and rollback
    queries.py  what readers ask of the index
    reader.py   the CLI's choice: this index, or the chain's logs and why (one check for every reading command)
    logs.py     the SDK's log queries answered from the index (the quality and settlement clients on it)
"""

from __future__ import annotations

from millchain.index.store import IndexStore, open_store

__all__ = ["IndexStore", "open_store"]
