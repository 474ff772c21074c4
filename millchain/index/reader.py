"""The CLI's way to the index: use it when one is configured for this chain, else say why the chain is read."""

from __future__ import annotations

import json

from millchain.index import queries
from millchain.index.store import IndexStoreError, configured_index, open_store
from millchain.leasing import LeaseClient, Statement
from millchain.session import Session


def statement(session: Session, client: LeaseClient, lease_id: int) -> tuple[Statement, str]:
    """A lease's statement and where it came from: the index when one is configured and follows this chain's
    lease contract, else the chain's logs (the note says why)."""
    target = configured_index(session.project.root)
    if target is None:
        return client.statement(lease_id), "statement read from the chain's logs (no index configured)"
    try:
        store = open_store(target, migrate=False)
    except IndexStoreError as exc:
        return client.statement(lease_id), f"statement read from the chain's logs (index unusable: {exc})"
    with store:
        if "meta" not in store.tables():
            return client.statement(lease_id), f"statement read from the chain's logs ({store.where} is no index)"
        identity = json.loads(store.meta("identity") or "{}")
        followed = {name: address for name, address in store.query("SELECT name, address FROM contracts")}
        if identity.get("chain_id") != session.chain.chain_id or followed.get("EquipmentLease") != (
            client.contract.address.lower()
        ):
            return client.statement(lease_id), (
                f"statement read from the chain's logs (the index at {store.where} follows another chain or lease "
                "contract)"
            )
        found = queries.statement(store, client.get(lease_id))
        indexed, head = queries.cursor(store), session.chain.w3.eth.block_number
    behind = f", {head - indexed} block(s) behind the head" if head > indexed else ""
    return found, f"statement read from the index at {store.where} (to block {indexed}{behind})"
