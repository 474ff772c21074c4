"""What the views read, behind one lock: the SDK clients on the session's chain and the event index.

Starlette runs the views in a thread pool; web3's provider and a database connection are used by one thread
at a time here, which also keeps each page consistent with one block.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import requests

from millchain.index import queries
from millchain.index.logs import IndexedQualityClient, IndexedSettlementClient, IndexLogs
from millchain.index.reader import index_mismatch
from millchain.index.store import IndexStore
from millchain.leasing import LeaseClient
from millchain.quality import QualityClient
from millchain.session import Session
from millchain.settlement import SettlementClient


@dataclass
class Token:
    address: str
    symbol: str
    decimals: int


@dataclass
class ConsoleData:
    session: Session
    store: IndexStore | None
    oracle_metrics: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _tokens: dict[str, Token] = field(default_factory=dict)

    @cached_property
    def leases(self) -> LeaseClient:
        return LeaseClient(self.session)

    def _index_logs(self, name: str, address: str) -> IndexLogs | None:
        """The index's events up to where it has reached, when it follows this chain's ``name`` at ``address``
        (the check `qc lot trace` and `order show` make); None: read the chain (an index not filled yet, or of
        another chain or deployment, as a console started with --no-follow on someone else's index can be)."""
        if self.store is None or index_mismatch(self.store, self.session, {name: address}) is not None:
            return None
        return IndexLogs(self.store, queries.cursor(self.store))

    @property
    def quality(self) -> QualityClient:
        """Quality events from the index (the lineage walked on its tables), storage from the chain: the client
        `qc lot trace` and `qc alerts` use with an index. A fresh one per page: it shows what the index holds now,
        never an earlier page's cache."""
        client = QualityClient(self.session)
        logs = self._index_logs("QualityLedger", client.ledger.address)
        return client if logs is None else IndexedQualityClient(self.session, logs)

    @property
    def settlement(self) -> SettlementClient:
        """Settlement events from the index, storage from the chain (as `order show` with an index)."""
        client = SettlementClient(self.session)
        logs = self._index_logs("SupplyChainSettlement", client.contract.address)
        return client if logs is None else IndexedSettlementClient(self.session, logs)

    def block(self) -> int:
        return int(self.session.chain.w3.eth.block_number)

    def now(self) -> int:
        return self.session.chain.now()

    def indexed(self) -> int | None:
        return None if self.store is None else queries.cursor(self.store)

    def token(self, address: str) -> Token:
        """Symbol and decimals of a settlement token, read once."""
        key = address.lower()
        if key not in self._tokens:
            contract = self.session.contract("SettlementToken", address)
            self._tokens[key] = Token(
                address, str(contract.functions.symbol().call()), int(contract.functions.decimals().call())
            )
        return self._tokens[key]

    def need_index(self) -> IndexStore:
        if self.store is None:
            from millchain.index.store import IndexStoreError

            raise IndexStoreError(
                "this view lists what the event index holds: start the console with an index "
                "(millchain console --db …, or let it follow the chain)"
            )
        return self.store

    def oracle_health(self) -> list[dict[str, Any]]:
        """Each configured oracle's /metrics: reachable, outbox depth, readings confirmed."""
        out = []
        for url in self.oracle_metrics:
            try:
                text = requests.get(url, timeout=1.0).text
            except requests.RequestException as exc:
                out.append({"url": url, "up": False, "error": type(exc).__name__})
                continue
            values: dict[str, float] = {}
            for line in text.splitlines():
                if line.startswith("#") or " " not in line:
                    continue
                name, _, value = line.rpartition(" ")
                metric = name.split("{", 1)[0]
                try:
                    values[metric] = values.get(metric, 0.0) + float(value)
                except ValueError:
                    continue
            out.append(
                {
                    "url": url,
                    "up": True,
                    "outbox": int(values.get("oracle_outbox_depth", 0)),
                    "confirmed": int(values.get("oracle_readings_confirmed_total", 0)),
                    "rejected": int(values.get("oracle_readings_rejected_total", 0)),
                }
            )
        return out
