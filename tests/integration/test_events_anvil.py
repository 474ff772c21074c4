"""The lean receipt and block reads (millchain.events.fetch_receipt, block_hash) over JSON-RPC give what web3's
formatted answers give."""

from __future__ import annotations

import pytest

from millchain.events import Receipt, block_hash, fetch_receipt
from millchain.session import Session

pytestmark = pytest.mark.integration


def test_a_receipt_read_raw_equals_web3s(anvil_session: Session) -> None:
    anvil_session.deploy()
    token = anvil_session.contract("SettlementToken")
    receipt = anvil_session.tx.transact(token.functions.mint(anvil_session.tx.address, 10**6))
    assert receipt["logs"]  # a Transfer to compare
    w3 = anvil_session.chain.w3
    tx_hash = receipt["transactionHash"].to_0x_hex()
    raw = fetch_receipt(w3, tx_hash)
    assert raw == Receipt.of(w3.eth.get_transaction_receipt(receipt["transactionHash"]))
    assert raw is not None and raw.status == 1
    assert block_hash(w3, raw.block_number) == raw.block_hash
    assert block_hash(w3, raw.block_number + 1_000) is None
    assert fetch_receipt(w3, "0x" + "11" * 32) is None
