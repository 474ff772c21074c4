"""millchain.settlement beyond the contract: parsing, order validation with readable errors, order files passed
between the parties, shipment ids, the four-flow assessment, order lookup, the event-built funds ledger, and
the demo story (deterministic, fast)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from millchain.demo.settlement import play_settlement_story
from millchain.disclosure import SaltedDocument
from millchain.errors import ConfigError
from millchain.settlement import (
    InvoiceStatus,
    Order,
    OrderFile,
    OrderStatus,
    OrderView,
    Receipt,
    SettlementError,
    ShipmentStatus,
    ShipmentView,
    assess,
    order_id,
    parse_bps,
    shipment_id,
    shipment_number,
)
from tests.contracts.test_settlement_scenario import (
    BUYER,
    PRICE,
    STRANGER,
    SUPPLIER,
    World,
)


@pytest.mark.parametrize("text,bps", [("5%", 500), ("0.5%", 50), ("250bps", 250), ("12", 12), ("100 %", 10_000),
                                      (7, 7), ("0", 0)])
def test_shares_parse_as_percentages_or_basis_points(text: Any, bps: int) -> None:
    assert parse_bps(text) == bps


@pytest.mark.parametrize("text,message", [("0.001%", "finer than one basis point"), ("101%", "between 0 and 100"),
                                          ("five", "not a percentage"), ("-1%", "between 0 and 100")])
def test_bad_shares_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_bps(text, what="--retention")


def test_orders_are_validated_with_readable_errors(w: World) -> None:
    base = w.order().model_dump()
    cases = [({"supplier": base["buyer"]}, "buyer and supplier are the same account"),
             ({"total": base["total"] + 1}, "is not quantity x unit price"),
             ({"warranty_period": 0}, "a retention needs a warranty period"),
             ({"carrier": "0x1234"}, "carrier '0x1234' is not an address"),
             ({"quantity": 2**48, "total": 2**48 * PRICE}, "quantity: Input should be less than")]
    for changes, message in cases:
        with pytest.raises(ConfigError, match=message):
            Order.build(**{**base, **changes})
    built = Order.build(**{k: v for k, v in base.items() if k != "total"})
    assert built.total == base["total"]


def test_order_files_round_trip_and_refuse_what_is_not_an_order(w: World, tmp_path: Path) -> None:
    lines = SaltedDocument.commit({"item": "bearing 6204"})
    order = w.order(lines_commitment=bytes.fromhex(lines.root[2:]))
    document = OrderFile.new(w(BUYER).domain, order, lines)
    path = tmp_path / "order.json"
    document.save(path)
    raw = json.loads(path.read_text())
    assert set(raw) == {"version", "typedData", "signatures", "lines"}
    assert OrderFile.load(path).order == order
    with pytest.raises(SettlementError, match="no buyer signature yet"):
        document.signature("buyer")
    with pytest.raises(ConfigError, match="is not the root of the lines given"):
        OrderFile.new(w(BUYER).domain, w.order(), lines)
    raw["lines"]["fields"]["item"]["value"] = "0x00"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="do not match its linesCommitment"):
        OrderFile.load(path)
    raw["typedData"]["primaryType"] = "Permit"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="not a SupplyChainSettlement Order"):
        OrderFile.load(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="is not JSON"):
        OrderFile.load(path)
    with pytest.raises(ConfigError, match="cannot read order file"):
        OrderFile.load(tmp_path / "missing.json")


def test_only_the_parties_sign_an_order_file_for_this_deployment(w: World) -> None:
    order = w.order()
    document = OrderFile.new(w(BUYER).domain, order)
    assert w(BUYER).sign_file(document) == "buyer"
    assert w(SUPPLIER).sign_file(document) == "supplier"
    with pytest.raises(SettlementError, match=f"is neither the buyer \\({order.buyer}\\) nor the supplier"):
        w(STRANGER).sign_file(document)
    foreign = OrderFile.new({**w(BUYER).domain, "chainId": 1}, order)
    with pytest.raises(SettlementError, match="not this deployment"):
        w(BUYER).sign_file(foreign)
    key, _ = w(STRANGER).submit(document)
    assert key == order.key and w(STRANGER).status(key) is OrderStatus.ACTIVE


def test_shipment_ids_carry_their_number_and_lots() -> None:
    lots = [order_id("lot-1"), order_id("lot-2")]
    sid = shipment_id(7, lots)
    assert shipment_number(sid) == 7 and sid != shipment_id(7, lots[:1]) and sid >> 240 == 7
    with pytest.raises(ConfigError, match=r"outside 1\.\.65535"):
        shipment_id(0, lots)


def view(**changes: Any) -> OrderView:
    fields: dict[str, Any] = {
        "key": "0x", "order_id": "PO", "lines_commitment": "0x", "status": OrderStatus.ACTIVE, "buyer": "0x",
        "supplier": "0x", "carrier": "0x", "token": "0x", "quantity": 1_000, "unit_price": 10, "delivery_deadline": 1,
        "qc_required": False, "retention_bps": 0, "warranty_period": 0, "tolerance_bps": 100, "shipment_count": 1,
        "escrow": 5_000, "retention": 0, "settled": 0, "reserved": 0, "release_at": 0, "holds": 0}
    fields.update(changes)
    return OrderView(**fields)


def shipment(**changes: Any) -> ShipmentView:
    fields: dict[str, Any] = {"shipment_id": 1 << 240, "number": 1, "status": ShipmentStatus.DELIVERED,
                              "receipt": Receipt.BUYER, "invoice": InvoiceStatus.VERIFIED, "delivered": 500,
                              "received": 495, "invoice_amount": 4_950}
    fields.update(changes)
    return ShipmentView(**fields)


def test_the_assessment_applies_the_contracts_rules_flow_by_flow() -> None:
    ready = assess(view(), shipment())
    assert {k: c.state for k, c in ready.flows.items()} == {
        "contract": "agrees", "logistics": "agrees", "invoice": "agrees", "funds": "agrees"}
    assert ready.outcome.startswith("ready")
    wrong = assess(view(escrow=10), shipment(received=494, invoice_amount=4_950))
    assert {k: (c.state, c.expected, c.actual) for k, c in wrong.flows.items()} == {
        "contract": ("agrees", 1_000, 494), "logistics": ("mismatch", 500, 494),
        "invoice": ("mismatch", 4_940, 4_950), "funds": ("mismatch", 4_940, 10)}
    assert wrong.outcome == "mismatch: logistics, invoice, funds"
    waiting = assess(view(), shipment(status=ShipmentStatus.IN_TRANSIT, receipt=Receipt.NONE,
                                      invoice=InvoiceStatus.SUBMITTED))
    assert waiting.outcome == "waiting: contract, logistics, invoice, funds"
    assert waiting.flows["logistics"].detail == "waiting for delivery and receipt"
    rejected = assess(view(), shipment(received=0, invoice=InvoiceStatus.NONE, invoice_amount=0,
                                       receipt=Receipt.ARBITER))
    assert rejected.flows["invoice"].detail == "nothing received, nothing due"
    settled = assess(view(), shipment(status=ShipmentStatus.SETTLED, paid=4_700, retained=250))
    assert settled.outcome == "settled: paid 4700, retained 250"


def test_orders_are_found_by_key_file_or_id_and_their_funds_balance(w: World, tmp_path: Path) -> None:
    order = w.order()
    key = w.create(order, funding=order.total)
    w.settle_delivery(key, 400)
    client = w(STRANGER)
    assert client.resolve("0x" + key.hex()) == key
    assert client.resolve(order.order_id.rstrip(b"\0").decode()) == key
    path = tmp_path / "o.json"
    OrderFile.new(client.domain, order).save(path)
    assert client.resolve(str(path)) == key
    with pytest.raises(SettlementError, match="no order 'PO-NOWHERE' on this chain"):
        client.resolve("PO-NOWHERE")
    funds = client.funds(key)
    assert (funds.funded, funds.paid, funds.refunded, funds.escrow, funds.retention, funds.balanced) == (
        order.total, 400 * PRICE * 95 // 100, 0, order.total - 400 * PRICE, 400 * PRICE * 5 // 100, True)
    report = client.report(key)
    assert [a.outcome for a in report.shipments] == [f"settled: paid {400 * PRICE * 95 // 100}, retained "
                                                     f"{400 * PRICE * 5 // 100}"]
    assert report.order.order_id == order.order_id.rstrip(b"\0").decode()


def test_the_demo_story_is_deterministic(w: World) -> None:
    story = play_settlement_story(w.session, lambda *_: None)
    assert (story.shipped, story.received, story.settled_quantity) == (240, 239, 239)
    # 239 received at 52.5 mUSD against an invoice for the 240 shipped
    assert story.mismatches == ["invoice flow: expected 12,547.5 mUSD, got 12,600 mUSD"]
    assert (story.paid, story.retained, story.escrow_left) == (
        239 * 52_500_000 * 95 // 100, 239 * 52_500_000 * 5 // 100, 161 * 52_500_000)
    assert story.events == ["InvoiceVerified", "SettlementMismatched", "InvoiceVerified", "ShipmentSettled"]
