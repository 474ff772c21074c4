"""SupplyChainSettlement's logistics, invoice and funds flows and the settlement check on the embedded chain:
full and partial deliveries settling in whichever call completes the last flow; every mismatch (contract,
logistics, invoice, funds) emitting its flow and both values while nothing moves, and the fix for each; the
tolerance at its edge; the delivery deadline, lapsing shipments, reservations and refunds; the arbiter; the
carrier's relayed signatures and their nonces; re-entrancy from a hostile token. Every custom error with its
arguments, every event with its fields. Spec: docs/contracts/supply-chain-settlement.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from eth_account.messages import encode_typed_data
from eth_utils import function_signature_to_4byte_selector, keccak

from millchain.settlement import (
    MAX_LOTS,
    Flow,
    InvoiceStatus,
    OrderStatus,
    Receipt,
    ShipmentStatus,
    carrier_typed_data,
    lot_id,
    shipment_id,
    shipment_number,
    sign_typed,
)
from tests.contracts.test_settlement_scenario import (
    BUYER,
    CARRIER,
    CONSORTIUM,
    DAY,
    MUSD,
    OWNER_A,
    OWNER_B,
    PRICE,
    QUANTITY,
    STRANGER,
    SUPPLIER,
    World,
    deploy,
    events,
    multisig,
    multisig_signature,
    reverts,
)

TAX_VERIFIER_ROLE = keccak(text="TAX_VERIFIER_ROLE")
ARBITER_ROLE = keccak(text="ARBITER_ROLE")



def mismatches(outcome: Any) -> list[tuple[Flow, int, int]]:
    return [(m.flow, m.expected, m.actual) for _, m in outcome.mismatches]


def snapshot_money(w: World, key: bytes) -> tuple[int, int, int, int]:
    view = w(STRANGER).get(key)
    return w.balance(BUYER), w.balance(SUPPLIER), view.escrow, view.retention


# ---------------------------------------------------------------------------------------------- logistics


def test_shipping_numbers_shipments_and_their_ids_prove_their_lots(w: World) -> None:
    key, _ = w.funded()
    lots = [lot_id("flows-lot-a"), lot_id("flows-lot-b")]
    first, outcome = w(CARRIER).ship(key, 600, lots)
    assert first == shipment_id(1, lots) and shipment_number(first) == 1
    assert events(w.contract, outcome, "GoodsShipped") == [
        {"orderKey": key, "shipmentId": first, "quantity": 600, "lotIds": lots}]
    second, _ = w(CARRIER).ship(key, 400)
    assert second == shipment_id(2, []) and w(STRANGER).get(key).shipment_count == 2
    state = w(STRANGER).shipment(key, first)
    assert (state.status, state.receipt, state.invoice, state.shipped, state.lots) == (
        ShipmentStatus.IN_TRANSIT, Receipt.NONE, InvoiceStatus.NONE, 600, ["flows-lot-a", "flows-lot-b"])


def test_only_the_carrier_ships_and_shipments_are_checked(w: World) -> None:
    key, order = w.funded()
    with reverts("SupplyChainSettlementUnauthorized", orderKey=key, party=2, caller=w.low(SUPPLIER)):
        w(SUPPLIER).ship(key, 1)
    with reverts("SupplyChainSettlementZeroQuantity", orderKey=key):
        w(CARRIER).ship(key, 0)
    too_many = [lot_id(f"lot-{n}") for n in range(MAX_LOTS + 1)]
    with reverts("SupplyChainSettlementInvalidLotCount", count=MAX_LOTS + 1, max=MAX_LOTS):
        w(CARRIER).tx.transact(w.contract.functions.ship(key, 1, too_many), gas=w.gas)
    full, outcome = w(CARRIER).ship(key, 1, too_many[:MAX_LOTS])
    assert outcome.gas < 90_000  # 32 lots: the event carries them, the id proves them; no slot per lot
    qc_key, _ = w.funded(qc_required=True)
    with reverts("SupplyChainSettlementInvalidLotCount", count=0, max=MAX_LOTS):
        w(CARRIER).ship(qc_key, 1)
    unknown = b"\x42" * 32
    with reverts("SupplyChainSettlementUnknownOrder", orderKey=unknown):
        w(CARRIER).ship(unknown, 1)
    w.advance(31 * DAY)
    with reverts("SupplyChainSettlementOrderEnded", orderKey=key, deadline=order.delivery_deadline):
        w(CARRIER).ship(key, 1)
    assert shipment_number(full) == 1


def test_checkpoints_and_deliveries(w: World) -> None:
    key, _ = w.funded()
    shipment = w.ship(key, 500)
    outcome = w(CARRIER).checkpoint(key, shipment, b"\x0c" * 32)
    assert events(w.contract, outcome, "CheckpointRecorded") == [
        {"orderKey": key, "shipmentId": shipment, "commitment": b"\x0c" * 32}]
    with reverts("SupplyChainSettlementUnauthorized", orderKey=key, party=2, caller=w.low(BUYER)):
        w(BUYER).checkpoint(key, shipment, b"\x0c" * 32)
    with reverts("SupplyChainSettlementUnknownShipment", orderKey=key, shipmentId=shipment + 1):
        w(CARRIER).checkpoint(key, shipment + 1, b"\x0c" * 32)
    with reverts("SupplyChainSettlementZeroQuantity", orderKey=key):
        w(CARRIER).deliver(key, shipment, 0)
    delivered = w(CARRIER).deliver(key, shipment, 498)
    assert events(w.contract, delivered, "GoodsDelivered") == [
        {"orderKey": key, "shipmentId": shipment, "quantity": 498}]
    assert w(STRANGER).get(key).reserved == 498
    again_calls = (lambda: w(CARRIER).deliver(key, shipment, 1),
                   lambda: w(CARRIER).checkpoint(key, shipment, b"\0" * 32))
    for again in again_calls:
        with reverts("SupplyChainSettlementUnexpectedShipmentStatus", orderKey=key, shipmentId=shipment,
                     status=ShipmentStatus.DELIVERED):
            again()


def test_the_buyer_confirms_a_receipt_once_even_before_the_delivery(w: World) -> None:
    key, _ = w.funded()
    shipment = w.ship(key, 500)
    with reverts("SupplyChainSettlementUnauthorized", orderKey=key, party=0, caller=w.low(CARRIER)):
        w(CARRIER).confirm_receipt(key, shipment, 500)
    outcome = w(BUYER).confirm_receipt(key, shipment, 500)
    assert events(w.contract, outcome, "GoodsReceived") == [
        {"orderKey": key, "shipmentId": shipment, "quantity": 500, "receipt": Receipt.BUYER}]
    with reverts("SupplyChainSettlementAlreadyReceived", orderKey=key, shipmentId=shipment, receipt=Receipt.BUYER):
        w(BUYER).confirm_receipt(key, shipment, 499)
    unknown = b"\x42" * 32
    with reverts("SupplyChainSettlementUnknownOrder", orderKey=unknown):
        w(BUYER).confirm_receipt(unknown, shipment, 1)


# ---------------------------------------------------------------------------------------------- invoices


def test_invoices_are_submitted_verified_rejected_and_replaced_by_the_rules(w: World) -> None:
    key, _ = w.funded()
    shipment = w.ship(key, 100)
    with reverts("SupplyChainSettlementUnauthorized", orderKey=key, party=1, caller=w.low(BUYER)):
        w(BUYER).submit_invoice(key, shipment, 100, 0, b"\0" * 32)
    with reverts("SupplyChainSettlementTaxExceedsAmount", taxAmount=101, amount=100):
        w(SUPPLIER).tx.transact(w.contract.functions.submitInvoice(key, shipment, 100, 101, b"\0" * 32), gas=w.gas)
    submitted = w.invoice(key, shipment, 100 * PRICE, 143 * MUSD)
    assert events(w.contract, submitted, "InvoiceSubmitted") == [
        {"orderKey": key, "shipmentId": shipment, "amount": 100 * PRICE, "taxAmount": 143 * MUSD,
         "commitment": b"\x1e" * 32}]
    with reverts("SupplyChainSettlementUnexpectedInvoiceStatus", orderKey=key, shipmentId=shipment,
                 status=InvoiceStatus.SUBMITTED):
        w.invoice(key, shipment, 100 * PRICE)
    with reverts("AccessControlUnauthorizedAccount", account=w.low(SUPPLIER), neededRole=TAX_VERIFIER_ROLE):
        w(SUPPLIER).verify_invoice(key, shipment)
    rejected = w(CONSORTIUM).reject_invoice(key, shipment, b"\x0f" * 32)
    assert events(w.contract, rejected, "InvoiceRejected") == [
        {"orderKey": key, "shipmentId": shipment, "verifier": w.address(CONSORTIUM), "reasonCommitment": b"\x0f" * 32}]
    with reverts("SupplyChainSettlementUnexpectedInvoiceStatus", orderKey=key, shipmentId=shipment,
                 status=InvoiceStatus.REJECTED):
        w(CONSORTIUM).verify_invoice(key, shipment)
    w.invoice(key, shipment, 100 * PRICE)
    verified = w(CONSORTIUM).verify_invoice(key, shipment)
    assert events(w.contract, verified, "InvoiceVerified") == [
        {"orderKey": key, "shipmentId": shipment, "verifier": w.address(CONSORTIUM)}]
    assert verified.settled == []  # not delivered, not received: nothing to settle yet
    # A verified invoice that has not settled may be replaced (here: before the receipt shows it wrong).
    w.invoice(key, shipment, 99 * PRICE)
    assert w(STRANGER).shipment(key, shipment).invoice is InvoiceStatus.SUBMITTED


# ---------------------------------------------------------------------------------------------- settlement


LAST_FLOWS = ("deliver", "receive", "verify", "fund")


@pytest.mark.parametrize("last", LAST_FLOWS)
def test_a_full_delivery_settles_in_the_call_that_completes_the_last_flow(w: World, last: str) -> None:
    order = w.order()
    key = w.create(order, funding=0 if last == "fund" else order.total)
    shipment = w.ship(key, QUANTITY)
    steps: dict[str, Callable[[], Any]] = {
        "deliver": lambda: w(CARRIER).deliver(key, shipment, QUANTITY),
        "receive": lambda: w(BUYER).confirm_receipt(key, shipment, QUANTITY),
        "verify": lambda: (w.invoice(key, shipment, order.total), w(CONSORTIUM).verify_invoice(key, shipment))[1],
        "fund": lambda: w(BUYER).fund(key, order.total, settle_shipment=shipment),
    }
    before = snapshot_money(w, key)
    for name in LAST_FLOWS:
        if name not in (last, "fund"):  # unless it comes last, the funding was part of the creation
            outcome = steps[name]()
            assert outcome.settled == []
            # Before the buyer pays, a complete set of the other flows shows as a funds mismatch.
            assert mismatches(outcome) in ([], [(Flow.FUNDS, order.total, 0)] if last == "fund" else [])
    supplier_before = w.balance(SUPPLIER)
    outcome = steps[last]()
    gross, retained = order.total, order.total * 5 // 100
    assert events(w.contract, outcome, "ShipmentSettled") == [
        {"orderKey": key, "shipmentId": shipment, "quantity": QUANTITY, "paid": gross - retained,
         "retained": retained}]
    assert "OrderCompleted" in outcome.events
    assert w.balance(SUPPLIER) - supplier_before == gross - retained
    view = w(STRANGER).get(key)
    assert (view.status, view.settled, view.escrow, view.retention, view.reserved) == (
        OrderStatus.COMPLETED, QUANTITY, 0, retained, 0)
    assert view.release_at == w.now() + order.warranty_period
    assert w(STRANGER).shipment(key, shipment).status is ShipmentStatus.SETTLED
    assert before[1] == supplier_before  # nothing moved before the last flow


def test_partial_deliveries_settle_pro_rata_and_the_last_completes_the_order(w: World) -> None:
    key, order = w.funded()
    paid = []
    for part in (300, 250, 450):
        supplier_before = w.balance(SUPPLIER)
        _, outcome = w.settle_delivery(key, part)
        [settled] = outcome.settled
        assert (settled["quantity"], settled["paid"], settled["retained"]) == (
            part, part * PRICE * 95 // 100, part * PRICE * 5 // 100)
        paid.append(w.balance(SUPPLIER) - supplier_before)
        view = w(STRANGER).get(key)
        assert view.escrow == order.total - view.settled * PRICE
    assert paid == [p * PRICE * 95 // 100 for p in (300, 250, 450)]
    assert "OrderCompleted" in outcome.events
    view = w(STRANGER).get(key)
    assert (view.status, view.settled, view.retention) == (OrderStatus.COMPLETED, QUANTITY, order.total * 5 // 100)
    with reverts("SupplyChainSettlementOrderNotActive", orderKey=key, status=OrderStatus.COMPLETED):
        w(CARRIER).ship(key, 1)
    with reverts("SupplyChainSettlementOverfunded", orderKey=key, escrow=1, maximum=0):
        w(BUYER).fund(key, 1)


def test_the_tolerance_holds_at_its_edge_both_ways(w: World) -> None:
    key, _ = w.funded()  # 0.5 %
    _, at_edge = w.settle_delivery(key, 600, received=597)  # 3 short of 600: exactly 0.5 %
    assert at_edge.settled[0]["quantity"] == 597
    _, over = w.settle_delivery(key, 200, received=201)  # 1 over 200: exactly 0.5 %
    assert over.settled[0]["quantity"] == 201
    _, beyond = w.settle_delivery(key, 199, received=198)  # 1 short of 199: 0.50251 %
    assert mismatches(beyond) == [(Flow.LOGISTICS, 199, 198)] and beyond.settled == []


def test_each_mismatch_names_its_flow_and_both_values_and_moves_nothing(w: World) -> None:
    key, order = w.funded()
    # Logistics: received 10 % short.
    first = w.delivered(key, 500)
    w(BUYER).confirm_receipt(key, first, 450)
    before = snapshot_money(w, key)
    logistics = w.invoiced(key, first, 450 * PRICE)
    assert mismatches(logistics) == [(Flow.LOGISTICS, 500, 450)]
    assert events(w.contract, logistics, "SettlementMismatched") == [
        {"orderKey": key, "shipmentId": first, "flow": Flow.LOGISTICS, "expected": 500, "actual": 450}]
    assert snapshot_money(w, key) == before and logistics.settled == []
    # Invoice: the amount is not the receipt times the price.
    second = w.delivered(key, 300)
    w(BUYER).confirm_receipt(key, second, 300)
    invoice = w.invoiced(key, second, 300 * PRICE + 1)
    assert mismatches(invoice) == [(Flow.INVOICE, 300 * PRICE, 300 * PRICE + 1)]
    assert snapshot_money(w, key) == before
    # Contract: more received than the order has left (with the first two shipments settled by then).
    w(CONSORTIUM).arbitrate_shipment(key, first, 450)
    w.invoiced(key, second, 300 * PRICE)
    third = w.delivered(key, 251)
    w(BUYER).confirm_receipt(key, third, 251)
    contract = w.invoiced(key, third, 251 * PRICE)
    assert mismatches(contract) == [(Flow.CONTRACT, 250, 251), (Flow.FUNDS, 251 * PRICE, 250 * PRICE)]
    # Funds: escrow short of the receipt.
    key2 = w.create(funding=100 * PRICE)
    fourth = w.delivered(key2, 200)
    w(BUYER).confirm_receipt(key2, fourth, 200)
    before2 = snapshot_money(w, key2)
    funds = w.invoiced(key2, fourth, 200 * PRICE)
    assert mismatches(funds) == [(Flow.FUNDS, 200 * PRICE, 100 * PRICE)]
    assert snapshot_money(w, key2) == before2
    assert order.total > 0


def test_every_mismatch_has_its_fix(w: World) -> None:
    key, _ = w.funded()
    # Invoice: a corrected invoice, verified, settles.
    shipment = w.delivered(key, 100)
    w(BUYER).confirm_receipt(key, shipment, 100)
    assert w.invoiced(key, shipment, 1).mismatches
    assert w.invoiced(key, shipment, 100 * PRICE).settled[0]["quantity"] == 100
    # Logistics: the arbiter rules; the invoice must then match the accepted quantity.
    shipment = w.delivered(key, 100)
    w(BUYER).confirm_receipt(key, shipment, 50)
    assert w.invoiced(key, shipment, 50 * PRICE).mismatches
    with reverts("AccessControlUnauthorizedAccount", account=w.low(BUYER), neededRole=ARBITER_ROLE):
        w(BUYER).arbitrate_shipment(key, shipment, 90)
    ruled = w(CONSORTIUM).arbitrate_shipment(key, shipment, 90, b"\x0d" * 32)
    assert events(w.contract, ruled, "ShipmentArbitrated") == [
        {"orderKey": key, "shipmentId": shipment, "arbiter": w.address(CONSORTIUM), "acceptedQuantity": 90,
         "rulingCommitment": b"\x0d" * 32}]
    assert mismatches(ruled) == [(Flow.INVOICE, 90 * PRICE, 50 * PRICE)]
    assert w.invoiced(key, shipment, 90 * PRICE).settled[0]["quantity"] == 90
    assert w(STRANGER).shipment(key, shipment).receipt is Receipt.ARBITER
    # Funds: funding that names the shipment settles it.
    key2 = w.create()
    shipment = w.delivered(key2, 40)
    w(BUYER).confirm_receipt(key2, shipment, 40)
    assert mismatches(w.invoiced(key2, shipment, 40 * PRICE)) == [(Flow.FUNDS, 40 * PRICE, 0)]
    assert w(BUYER).fund(key2, 40 * PRICE, settle_shipment=shipment).settled[0]["quantity"] == 40


def test_settle_names_the_missing_flow_and_retries_the_check(w: World) -> None:
    key = w.create()
    shipment = w.ship(key, 100)
    settle = w(STRANGER).settle
    with reverts("SupplyChainSettlementFlowPending", orderKey=key, shipmentId=shipment, flow=Flow.LOGISTICS):
        settle(key, shipment)
    w(BUYER).confirm_receipt(key, shipment, 100)
    with reverts("SupplyChainSettlementFlowPending", orderKey=key, shipmentId=shipment, flow=Flow.LOGISTICS):
        settle(key, shipment)
    w(CARRIER).deliver(key, shipment, 100)
    with reverts("SupplyChainSettlementFlowPending", orderKey=key, shipmentId=shipment, flow=Flow.INVOICE):
        settle(key, shipment)
    assert mismatches(w.invoiced(key, shipment, 100 * PRICE)) == [(Flow.FUNDS, 100 * PRICE, 0)]
    assert mismatches(settle(key, shipment)) == [(Flow.FUNDS, 100 * PRICE, 0)]
    w(BUYER).fund(key, 100 * PRICE)  # funding that names no shipment settles nothing...
    assert settle(key, shipment).settled[0]["quantity"] == 100  # ...a retry does
    with reverts("SupplyChainSettlementUnexpectedShipmentStatus", orderKey=key, shipmentId=shipment,
                 status=ShipmentStatus.SETTLED):
        settle(key, shipment)
    for late in (lambda: w(BUYER).confirm_receipt(key, shipment, 1), lambda: w.invoice(key, shipment, 1),
                 lambda: w(CONSORTIUM).arbitrate_shipment(key, shipment, 1)):
        with reverts("SupplyChainSettlementUnexpectedShipmentStatus", orderKey=key, shipmentId=shipment,
                     status=ShipmentStatus.SETTLED):
            late()


def test_a_rejected_shipment_settles_for_nothing_without_an_invoice(w: World) -> None:
    key, order = w.funded(tolerance_bps=10_000)
    shipment = w.delivered(key, 100)
    before = snapshot_money(w, key)
    outcome = w(BUYER).confirm_receipt(key, shipment, 0)
    assert outcome.settled == [{"shipment": shipment, "quantity": 0, "paid": 0, "retained": 0}]
    assert snapshot_money(w, key) == before
    view = w(STRANGER).get(key)
    assert (view.settled, view.reserved, view.release_at, view.escrow) == (0, 0, 0, order.total)
    # A verified invoice for goods rejected is a mismatch, not a payment.
    key2, _ = w.funded(tolerance_bps=10_000)
    shipment2 = w.delivered(key2, 100)
    w.invoiced(key2, shipment2, 100 * PRICE)
    assert mismatches(w(BUYER).confirm_receipt(key2, shipment2, 0)) == [(Flow.INVOICE, 0, 100 * PRICE)]


# ---------------------------------------------------------------------------------------------- deadline, refunds


def test_past_the_deadline_without_delivery_the_buyer_reclaims_the_escrow(w: World) -> None:
    key, order = w.funded()
    in_transit = w.ship(key, 300)
    with reverts("SupplyChainSettlementOrderNotEnded", orderKey=key, deadline=order.delivery_deadline):
        w(STRANGER).refund(key)
    assert w(STRANGER).refundable(key) == 0
    w.advance(order.delivery_deadline - w.now() + 1)
    with reverts("SupplyChainSettlementOrderEnded", orderKey=key, deadline=order.delivery_deadline):
        w(CARRIER).deliver(key, in_transit, 300)  # the shipment in transit has lapsed
    before = w.balance(BUYER)
    assert w(STRANGER).refundable(key) == order.total
    outcome = w(STRANGER).refund(key)  # anyone may trigger it; the buyer is paid
    assert events(w.contract, outcome, "EscrowRefunded") == [
        {"orderKey": key, "to": w.address(BUYER), "amount": order.total}]
    assert w.balance(BUYER) - before == order.total
    with reverts("SupplyChainSettlementNothingToRefund", orderKey=key, escrow=0, reserved=0):
        w(STRANGER).refund(key)


def test_delivered_goods_keep_their_money_reserved_past_the_deadline(w: World) -> None:
    key, order = w.funded()
    delivered = w.delivered(key, 400)
    w.advance(order.delivery_deadline - w.now() + 1)
    reserved = (400 + 400 * 50 // 10_000) * PRICE  # the delivered units plus the tolerance
    assert w(STRANGER).refundable(key) == order.total - reserved
    w(STRANGER).refund(key)
    with reverts("SupplyChainSettlementNothingToRefund", orderKey=key, escrow=reserved, reserved=reserved):
        w(STRANGER).refund(key)
    # The supplier is still paid after the deadline; what the tolerance held back is then returned.
    w(BUYER).confirm_receipt(key, delivered, 400)
    settled = w.invoiced(key, delivered, 400 * PRICE)
    assert settled.settled[0]["quantity"] == 400
    assert w(STRANGER).refund(key).events == ["EscrowRefunded"]
    view = w(STRANGER).get(key)
    assert (view.escrow, view.reserved, view.status) == (0, 0, OrderStatus.ACTIVE)


def test_the_arbiter_closes_an_order_and_refunds_open_at_once(w: World) -> None:
    key, order = w.funded()
    in_transit = w.ship(key, 100)
    delivered = w.delivered(key, 100)
    with reverts("AccessControlUnauthorizedAccount", account=w.low(BUYER), neededRole=ARBITER_ROLE):
        w(BUYER).close_order(key)
    closed = w(CONSORTIUM).close_order(key, b"\x0d" * 32)
    assert events(w.contract, closed, "OrderClosed") == [
        {"orderKey": key, "arbiter": w.address(CONSORTIUM), "rulingCommitment": b"\x0d" * 32}]
    with reverts("SupplyChainSettlementOrderNotActive", orderKey=key, status=OrderStatus.CLOSED):
        w(CARRIER).ship(key, 1)
    with reverts("SupplyChainSettlementOrderEnded", orderKey=key, deadline=order.delivery_deadline):
        w(CARRIER).deliver(key, in_transit, 100)
    with reverts("SupplyChainSettlementOrderNotActive", orderKey=key, status=OrderStatus.CLOSED):
        w(CONSORTIUM).close_order(key)
    assert w(STRANGER).refund(key).events == ["EscrowRefunded"]
    w(BUYER).confirm_receipt(key, delivered, 100)
    assert w.invoiced(key, delivered, 100 * PRICE).settled[0]["quantity"] == 100


def test_a_ruling_on_a_shipment_in_transit_delivers_it_and_reserves_its_money(w: World) -> None:
    key, order = w.funded()
    lost_paperwork = w.ship(key, 80)  # arrived, but the carrier never posted the delivery
    ruled = w(CONSORTIUM).arbitrate_shipment(key, lost_paperwork, 78)
    state = w(STRANGER).shipment(key, lost_paperwork)
    assert (state.status, state.delivered, state.received, state.receipt) == (
        ShipmentStatus.DELIVERED, 78, 78, Receipt.ARBITER)
    assert ruled.settled == [] and w(STRANGER).get(key).reserved == 78
    w.advance(order.delivery_deadline - w.now() + 1)
    w(STRANGER).refund(key)
    reserved = (78 + 78 * 50 // 10_000) * PRICE
    assert w(STRANGER).get(key).escrow == reserved
    assert w.invoiced(key, lost_paperwork, 78 * PRICE).settled[0]["quantity"] == 78
    assert w(STRANGER).get(key).reserved == 0


# ---------------------------------------------------------------------------------------------- carrier signatures


def test_a_relayer_posts_the_carriers_signed_events_once_each(w: World) -> None:
    key, _ = w.funded()
    carrier, relayer = w(CARRIER), w(STRANGER)
    lots = [lot_id("signed-lot")]
    shipped = carrier.sign_carrier_event("Shipment", key, quantity=250, lots=lots)
    assert shipped.nonce == 0
    [event] = events(w.contract, relayer.relay(shipped), "GoodsShipped")
    shipment = shipment_id(1, lots)
    assert event == {"orderKey": key, "shipmentId": shipment, "quantity": 250, "lotIds": lots}
    with reverts("SupplyChainSettlementInvalidNonce", carrier=w.low(CARRIER), nonce=0, expected=1):
        relayer.relay(shipped)
    checkpoint = carrier.sign_carrier_event("Checkpoint", key, shipment_id=shipment, commitment=b"\x0c" * 32)
    delivery = carrier.sign_carrier_event("Delivery", key, shipment_id=shipment, quantity=250, nonce=2)
    with reverts("SupplyChainSettlementInvalidNonce", carrier=w.low(CARRIER), nonce=2, expected=1):
        relayer.relay(delivery)  # out of order
    relayer.relay(checkpoint)
    relayer.relay(delivery)
    assert w(STRANGER).shipment(key, shipment).delivered == 250
    assert w.contract.functions.nonces(w.address(CARRIER)).call() == 3


def test_forged_tampered_and_expired_carrier_signatures_are_refused(w: World) -> None:
    key, _ = w.funded()
    carrier = w(CARRIER)
    forged = carrier.sign_carrier_event("Shipment", key, quantity=10, signer=w.session.chain.account(SUPPLIER),
                                        carrier=w.address(CARRIER))
    with reverts("SupplyChainSettlementInvalidSignature", signer=w.low(CARRIER)):
        w(STRANGER).relay(forged)
    honest = carrier.sign_carrier_event("Shipment", key, quantity=10)
    with reverts("SupplyChainSettlementInvalidSignature", signer=w.low(CARRIER)):
        w(STRANGER).relay(dataclasses.replace(honest, quantity=11))
    expired = carrier.sign_carrier_event("Shipment", key, quantity=10, deadline=w.now())
    w.advance(5)
    with reverts("SupplyChainSettlementSignatureExpired", deadline=expired.deadline):
        w(STRANGER).relay(expired)
    assert w(STRANGER).relay(honest).events == ["GoodsShipped"]


def test_a_carrier_wallet_accepts_its_trucks_keys_through_erc1271(w: World) -> None:
    wallet = multisig(w, owners=(OWNER_A, OWNER_B), threshold=1)  # a fleet wallet; each owner is a device key
    key, _ = w.funded(carrier=wallet.address)
    shipment = shipment_id(1, [])
    device = w.session.chain.account(OWNER_B)
    for kind, fields in (("Shipment", {"quantity": 80}), ("Delivery", {"shipmentId": shipment, "quantity": 80})):
        message = {"orderKey": "0x" + key.hex(), **({"lotIds": []} if kind == "Shipment" else {}), **fields,
                   "nonce": w.contract.functions.nonces(wallet.address).call(), "deadline": w.now() + 600}
        typed = carrier_typed_data(w(CARRIER).domain, kind, message)
        digest = encode_typed_data(full_message=typed)
        signature = multisig_signature(w, keccak(b"\x19\x01" + digest.header + digest.body), [OWNER_B])
        assert sign_typed(device, typed) == signature
        fn = (w.contract.functions.shipBySig(key, 80, [], message["nonce"], message["deadline"], signature)
              if kind == "Shipment" else
              w.contract.functions.deliverBySig(key, shipment, 80, message["nonce"], message["deadline"], signature))
        w(STRANGER).tx.transact(fn, gas=w.gas)
    assert w(STRANGER).shipment(key, shipment).delivered == 80


# ---------------------------------------------------------------------------------------------- re-entrancy and views


def test_a_hostile_token_cannot_re_enter_a_payout(w: World) -> None:
    token = deploy(w, "ReentrantToken")
    w(CONSORTIUM).tx.transact(token.functions.mint(w.address(BUYER), 10**12), gas=w.gas)
    w(BUYER).tx.transact(token.functions.approve(w.contract.address, 2**256 - 1), gas=w.gas)
    key, order = w.funded(token=token.address)
    shipment = w.delivered(key, 500)
    w(BUYER).confirm_receipt(key, shipment, 500)
    w.invoice(key, shipment, 500 * PRICE)
    # The call back funds another order in the same token: it passes every check and reaches the transfer,
    # which the lock held by the payout refuses.
    other = w.create(w.order(token=token.address))
    fund_other = w.contract.functions.fund(other, 1, 0)._encode_transaction_data()
    w(STRANGER).tx.transact(token.functions.arm(w.contract.address, fund_other, False), gas=w.gas)
    outcome = w(CONSORTIUM).verify_invoice(key, shipment)
    assert outcome.settled[0]["paid"] == 500 * PRICE * 95 // 100
    selector = function_signature_to_4byte_selector("ReentrancyGuardReentrantCall()")
    assert not token.functions.lastReentrySucceeded().call()
    assert bytes(token.functions.lastReentryResult().call()) == selector
    assert w(STRANGER).get(key).escrow == order.total - 500 * PRICE
    assert w(STRANGER).get(other).escrow == 0


def test_views_refuse_unknown_orders_and_shipments(w: World) -> None:
    unknown = b"\x42" * 32
    with reverts("SupplyChainSettlementUnknownOrder", orderKey=unknown):
        w(STRANGER).get(unknown)
    assert w(STRANGER).status(unknown) is OrderStatus.NONE
    key = w.create()
    with reverts("SupplyChainSettlementUnknownShipment", orderKey=key, shipmentId=shipment_id(1, [])):
        w(STRANGER).tx.call(w.contract.functions.shipment(key, shipment_id(1, [])))
    assert w(STRANGER).claim_use(1) == (b"\0" * 32, 0)
    with reverts("SupplyChainSettlementUnknownOrder", orderKey=unknown):
        w(STRANGER).release_retention(unknown)
