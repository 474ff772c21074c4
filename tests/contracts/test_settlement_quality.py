"""SupplyChainSettlement with the quality contracts on the embedded chain: QC pass attestations of a shipment's
lots as its receipt (and every way an attestation fails to count), the retention released after the warranty,
held by open quality claims on the order's lots, drawn by paid ones (scaled by an arbiter's partial award) and
split by the settlement arbiter. Every custom error with its arguments, every event with its fields.
Spec: docs/contracts/supply-chain-settlement.md, docs/contracts/quality.md."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from millchain.quality import AlertRef, ClaimStatus, Finding, Severity, Terms, org_id
from millchain.quality import Outcome as Verdict
from millchain.settlement import ClaimUse, Receipt, SettlementError, ShipmentStatus, lot_id
from tests.contracts.test_settlement_scenario import (
    AXLE,
    BEARING,
    BUYER,
    CARRIER,
    CONSORTIUM,
    DAY,
    INSPECTOR,
    MILL,
    OWNER_A,
    OWNER_B,
    OWNER_C,
    PENALTY,
    PRICE,
    STRANGER,
    SUPPLIER,
    WARRANTY,
    World,
    deploy,
    events,
    reverts,
)

ARBITER_ROLE = keccak(text="ARBITER_ROLE")
OTHER = org_id("other-plant")



def settled_order(w: World, name: str, quantity: int = 400, **terms: Any) -> tuple[bytes, int, list[bytes]]:
    """An order with one settled shipment of two supplier lots; returns key, shipment id and the lots."""
    key, _ = w.funded(**terms)
    lots = [w.supplier_lot(f"{name}-a"), w.supplier_lot(f"{name}-b")]
    shipment, _ = w.settle_delivery(key, quantity, lots=lots)
    return key, shipment, lots


def claim_on(w: World, lot: bytes, defects: int, consumer: str) -> int:
    """A failed attestation of ``lot`` and the buyer's claim on it (the buyer consumed the lot)."""
    seq = w.failed(lot, defects)
    w.consume(lot, consumer)
    claim_id, _ = w.qc(BUYER).file_claim(AlertRef(lot, seq))
    return int(claim_id)


# ---------------------------------------------------------------------------------------------- retention


def test_the_retention_is_released_after_the_warranty_and_only_then(w: World) -> None:
    key, _, _ = settled_order(w, "release")
    view = w(STRANGER).get(key)
    retention = 400 * PRICE * 5 // 100
    assert view.retention == retention
    with reverts("SupplyChainSettlementRetentionLocked", orderKey=key, releaseAt=view.release_at, holds=0):
        w(STRANGER).release_retention(key)
    with reverts("SupplyChainSettlementRetentionLocked", orderKey=key, releaseAt=view.release_at, holds=0):
        w.at(view.release_at - 1, lambda: w(STRANGER).release_retention(key))
    before = w.balance(SUPPLIER)
    outcome = w.at(view.release_at, lambda: w(STRANGER).release_retention(key))
    assert events(w.contract, outcome, "RetentionReleased") == [
        {"orderKey": key, "to": w.address(SUPPLIER), "amount": retention}]
    assert w.balance(SUPPLIER) - before == retention
    with reverts("SupplyChainSettlementNoRetention", orderKey=key):
        w(STRANGER).release_retention(key)


def test_a_later_settlement_restarts_the_warranty_clock(w: World) -> None:
    key, _, _ = settled_order(w, "clock", 300, delivery_deadline=w.now() + 200 * DAY)
    first = w(STRANGER).get(key).release_at
    w.advance(WARRANTY - DAY)
    w.settle_delivery(key, 200)
    second = w(STRANGER).get(key).release_at
    assert second > first
    w.advance(2 * DAY)
    with reverts("SupplyChainSettlementRetentionLocked", orderKey=key, releaseAt=second, holds=0):
        w(STRANGER).release_retention(key)
    w.advance(WARRANTY)
    assert events(w.contract, w(STRANGER).release_retention(key), "RetentionReleased")[0]["amount"] == (
        500 * PRICE * 5 // 100)


def test_the_arbiter_splits_the_retention(w: World) -> None:
    key, _, _ = settled_order(w, "split")
    retention = 400 * PRICE * 5 // 100
    with reverts("AccessControlUnauthorizedAccount", account=w.low(BUYER), neededRole=ARBITER_ROLE):
        w(BUYER).arbitrate_retention(key, 1)
    with reverts("SupplyChainSettlementAwardExceedsRetention", orderKey=key, toBuyer=retention + 1,
                 retention=retention):
        w(CONSORTIUM).arbitrate_retention(key, retention + 1)
    buyer, supplier = w.balance(BUYER), w.balance(SUPPLIER)
    outcome = w(CONSORTIUM).arbitrate_retention(key, 6 * PRICE, b"\x0d" * 32)
    assert events(w.contract, outcome, "RetentionArbitrated") == [
        {"orderKey": key, "arbiter": w.address(CONSORTIUM), "toBuyer": 6 * PRICE,
         "toSupplier": retention - 6 * PRICE, "rulingCommitment": b"\x0d" * 32}]
    assert (w.balance(BUYER) - buyer, w.balance(SUPPLIER) - supplier) == (6 * PRICE, retention - 6 * PRICE)
    with reverts("SupplyChainSettlementNoRetention", orderKey=key):
        w(CONSORTIUM).arbitrate_retention(key, 0)


# ---------------------------------------------------------------------------------------------- claims


def test_an_open_claim_holds_the_retention_and_a_withdrawn_one_lifts_the_hold(w: World) -> None:
    key, shipment, lots = settled_order(w, "hold")
    claim_id = claim_on(w, lots[1], 6, "hold-gearboxes")
    held = w(STRANGER).apply_quality_claim(key, claim_id)
    assert events(w.contract, held, "RetentionHeld") == [{"orderKey": key, "claimId": claim_id}]
    assert w(STRANGER).claim_use(claim_id) == (key, ClaimUse.HOLDING)
    view = w(STRANGER).get(key)
    assert view.holds == 1
    with reverts("SupplyChainSettlementClaimAlreadyApplied", claimId=claim_id, orderKey=key, use=ClaimUse.HOLDING):
        w(STRANGER).apply_quality_claim(key, claim_id)
    w.advance(WARRANTY + 1)
    with reverts("SupplyChainSettlementRetentionLocked", orderKey=key, releaseAt=view.release_at, holds=1):
        w(STRANGER).release_retention(key)
    w.qc(BUYER).withdraw_claim(claim_id)
    lifted = w(SUPPLIER).apply_quality_claim(key, claim_id, shipment)
    assert events(w.contract, lifted, "RetentionHoldLifted") == [{"orderKey": key, "claimId": claim_id}]
    assert w(STRANGER).claim_use(claim_id) == (key, ClaimUse.DROPPED)
    assert w(STRANGER).release_retention(key).events == ["RetentionReleased"]


def test_a_paid_claim_draws_the_price_of_the_defective_units(w: World) -> None:
    key, _, lots = settled_order(w, "draw")
    claim_id = claim_on(w, lots[0], 6, "draw-gearboxes")
    w(BUYER).apply_quality_claim(key, claim_id)  # hold while the supplier considers it
    w.qc(SUPPLIER).accept_claim(claim_id)
    assert w.qc(BUYER).claim(claim_id).status is ClaimStatus.PAID
    before = w.balance(BUYER)
    drawn = w(STRANGER).apply_quality_claim(key, claim_id)
    assert events(w.contract, drawn, "RetentionDrawn") == [
        {"orderKey": key, "claimId": claim_id, "to": w.address(BUYER), "amount": 6 * PRICE}]
    assert w.balance(BUYER) - before == 6 * PRICE
    view = w(STRANGER).get(key)
    assert (view.retention, view.holds) == (400 * PRICE * 5 // 100 - 6 * PRICE, 0)
    with reverts("SupplyChainSettlementClaimAlreadyApplied", claimId=claim_id, orderKey=key, use=ClaimUse.DRAWN):
        w(STRANGER).apply_quality_claim(key, claim_id)
    # The bond paid its penalty to the buyer besides: damages there, the goods' price here.
    assert w.qc(BUYER).claim(claim_id).paid == 6 * PENALTY


def test_a_partly_upheld_claim_draws_its_share_and_a_draw_never_exceeds_the_retention(w: World) -> None:
    key, _, lots = settled_order(w, "ruled")
    claim_id = claim_on(w, lots[0], 10, "ruled-gearboxes")
    w.qc(SUPPLIER).dispute_claim(claim_id, b"\x0d" * 32)
    amount = w.qc(BUYER).claim(claim_id).amount
    w.qc(CONSORTIUM).rule_claim(claim_id, amount * 40 // 100)
    drawn = w(STRANGER).apply_quality_claim(key, claim_id)  # straight from Paid: no hold needed first
    assert events(w.contract, drawn, "RetentionDrawn")[0]["amount"] == 10 * PRICE * 40 // 100
    # 100 defects at 12.5 = 1,250 > the 200 left of the 250 retention: the draw takes all there is.
    big = claim_on(w, lots[1], 100, "ruled-gearboxes-2")
    w.qc(SUPPLIER).accept_claim(big)
    left = w(STRANGER).get(key).retention
    assert events(w.contract, w(STRANGER).apply_quality_claim(key, big), "RetentionDrawn")[0]["amount"] == left
    assert w(STRANGER).get(key).retention == 0


def test_claims_are_checked_against_the_order_the_buyer_and_the_warranty(w: World) -> None:
    key, shipment, lots = settled_order(w, "checks")
    stranger = w(STRANGER)
    # A lot the order never carried.
    elsewhere = w.supplier_lot("checks-elsewhere")
    foreign = claim_on(w, elsewhere, 3, "checks-gearboxes-1")
    with reverts("SupplyChainSettlementClaimNotOnOrder", claimId=foreign, lotId=elsewhere):
        stranger.tx.transact(w.contract.functions.applyQualityClaim(key, shipment, lots, foreign), gas=w.gas)
    with reverts("SupplyChainSettlementLotsMismatch", orderKey=key, shipmentId=shipment):
        stranger.tx.transact(w.contract.functions.applyQualityClaim(key, shipment, [elsewhere], foreign), gas=w.gas)
    # Another organisation's claim on the order's lot.
    w.qc(CONSORTIUM).register_organisation(OTHER, w.address(STRANGER))
    w.qc(STRANGER).register_lot(lot_id("other-gearboxes"), lot_id("gearbox"), 10, inputs=[lots[0]])
    seq = w.failed(lots[0], 2)
    theirs, _ = w.qc(STRANGER).file_claim(AlertRef(lots[0], seq))
    with reverts("SupplyChainSettlementClaimByOtherOrganisation", claimId=theirs, claimant=OTHER, buyerOrg=MILL):
        stranger.apply_quality_claim(key, theirs)
    # A claim withdrawn without ever holding anything has nothing to undo.
    mine = claim_on(w, lots[1], 2, "checks-gearboxes-2")
    w.qc(BUYER).withdraw_claim(mine)
    with reverts("SupplyChainSettlementClaimNotApplicable", claimId=mine, status=ClaimStatus.WITHDRAWN):
        stranger.apply_quality_claim(key, mine)


def test_a_claim_filed_after_the_warranty_or_after_the_release_draws_nothing(w: World) -> None:
    key, _, lots = settled_order(w, "late")
    release_at = w(STRANGER).get(key).release_at
    timely = claim_on(w, lots[0], 2, "late-gearboxes-1")  # filed in time, but nobody made it hold
    w.advance(WARRANTY + 1)
    late = claim_on(w, lots[1], 2, "late-gearboxes-2")
    filed_at = w.qc(BUYER).claim(late).filed_at
    with reverts("SupplyChainSettlementClaimOutsideWarranty", claimId=late, filedAt=filed_at, releaseAt=release_at):
        w(STRANGER).apply_quality_claim(key, late)
    w(SUPPLIER).release_retention(key)
    w.qc(SUPPLIER).accept_claim(timely)
    with reverts("SupplyChainSettlementNoRetention", orderKey=key):
        w(STRANGER).apply_quality_claim(key, timely)


def test_a_claim_cannot_act_on_two_orders(w: World) -> None:
    key, _, lots = settled_order(w, "twice")
    other_key, _ = w.funded()
    w.settle_delivery(other_key, 100, lots=lots)  # the same lots shipped again under another order
    claim_id = claim_on(w, lots[0], 2, "twice-gearboxes")
    w(STRANGER).apply_quality_claim(key, claim_id)
    with reverts("SupplyChainSettlementClaimAlreadyApplied", claimId=claim_id, orderKey=key, use=ClaimUse.HOLDING):
        w(STRANGER).apply_quality_claim(other_key, claim_id)


def test_claims_before_anything_settled_have_no_retention_to_act_on(w: World) -> None:
    key, _ = w.funded()
    lot = w.supplier_lot("early-a")
    w.delivered(key, 100, [lot])
    claim_id = claim_on(w, lot, 2, "early-gearboxes")
    filed_at = w.qc(BUYER).claim(claim_id).filed_at
    with reverts("SupplyChainSettlementClaimOutsideWarranty", claimId=claim_id, filedAt=filed_at, releaseAt=0):
        w(STRANGER).apply_quality_claim(key, claim_id)


# ---------------------------------------------------------------------------------------------- QC as receipt


def qc_shipment(w: World, name: str, quantity: int = 300) -> tuple[bytes, int, list[bytes]]:
    key, _ = w.funded(qc_required=True)
    lots = [w.supplier_lot(f"{name}-a"), w.supplier_lot(f"{name}-b")]
    shipment = w.delivered(key, quantity, lots)
    return key, shipment, lots


def test_pass_attestations_of_every_lot_count_as_receipt_and_settle(w: World) -> None:
    key, shipment, lots = qc_shipment(w, "qc-ok")
    w.invoiced(key, shipment, 300 * PRICE)  # invoice first: the receipt is then the last flow
    w.passed(lots[0])
    w.failed(lots[1], 1)
    second = w.passed(lots[1])  # a later pass counts; the SDK finds it
    assert w(STRANGER).passing_attestation(lots[1]) == second
    outcome = w(BUYER).confirm_receipt_by_inspection(key, shipment)
    assert events(w.contract, outcome, "GoodsReceived") == [
        {"orderKey": key, "shipmentId": shipment, "quantity": 300, "receipt": Receipt.INSPECTION}]
    assert outcome.settled[0]["quantity"] == 300
    assert w(STRANGER).shipment(key, shipment).status is ShipmentStatus.SETTLED


def test_an_inspection_receipt_needs_current_independent_passes_of_the_suppliers_lots(w: World) -> None:
    key, shipment, lots = qc_shipment(w, "qc-bad")
    fn = w.contract.functions.confirmReceiptByInspection
    send = w(BUYER).tx.transact

    with reverts("SupplyChainSettlementLotsMismatch", orderKey=key, shipmentId=shipment):
        send(fn(key, shipment, lots[:1], [1]), gas=w.gas)
    with reverts("SupplyChainSettlementLengthMismatch", lots=2, seqs=1):
        send(fn(key, shipment, lots, [1]), gas=w.gas)
    failed = w.failed(lots[0], 3)
    w.passed(lots[1])
    with reverts("SupplyChainSettlementInspectionNotPassed", lotId=lots[0], seq=failed, outcome=Verdict.FAIL,
                 supersededBy=0, independent=True):
        send(fn(key, shipment, lots, [failed, 1]), gas=w.gas)
    # A pass later corrected by its own lab no longer counts.
    passed = w.passed(lots[0])
    correction, _ = w.qc(INSPECTOR).attest(Finding(
        lot=lots[0], outcome=Verdict.FAIL, severity=Severity.MAJOR, sample_size=10, defects=1, supersedes=passed,
        report_commitment=b"\x0e" * 32))
    with reverts("SupplyChainSettlementInspectionNotPassed", lotId=lots[0], seq=passed, outcome=Verdict.PASS,
                 supersededBy=correction.seq, independent=True):
        send(fn(key, shipment, lots, [passed, 1]), gas=w.gas)
    # The supplier's own QC passing its own lot is not independent.
    w.qc(CONSORTIUM).accredit(w.address(OWNER_C), AXLE)
    own = w.passed(lots[0], by=OWNER_C)
    with reverts("SupplyChainSettlementInspectionNotPassed", lotId=lots[0], seq=own, outcome=Verdict.PASS,
                 supersededBy=0, independent=False):
        send(fn(key, shipment, lots, [own, 1]), gas=w.gas)


def test_an_inspection_receipt_refuses_other_producers_lots_and_the_wrong_moments(w: World) -> None:
    key, _ = w.funded(qc_required=True)
    theirs = lot_id("qc-buyers-own")
    w.qc(BUYER).register_lot(theirs, lot_id("gearbox"), 100)
    shipment = w.delivered(key, 10, [theirs])
    seq = w.passed(theirs)
    with reverts("SupplyChainSettlementLotOfOtherProducer", lotId=theirs, producer=MILL, supplierOrg=AXLE):
        w(BUYER).confirm_receipt_by_inspection(key, shipment, [seq])
    # Not delivered yet; already received; an order that does not require QC.
    key2, _ = w.funded(qc_required=True)
    lot = w.supplier_lot("qc-moments")
    in_transit = w.ship(key2, 10, [lot])
    w.passed(lot)
    with reverts("SupplyChainSettlementUnexpectedShipmentStatus", orderKey=key2, shipmentId=in_transit,
                 status=ShipmentStatus.IN_TRANSIT):
        w(BUYER).confirm_receipt_by_inspection(key2, in_transit)
    w(CARRIER).deliver(key2, in_transit, 10)
    w(BUYER).confirm_receipt(key2, in_transit, 10)
    with reverts("SupplyChainSettlementAlreadyReceived", orderKey=key2, shipmentId=in_transit, receipt=Receipt.BUYER):
        w(BUYER).confirm_receipt_by_inspection(key2, in_transit)
    key3, _ = w.funded()
    plain = w.delivered(key3, 10, [lot])
    with reverts("SupplyChainSettlementInspectionNotRequired", orderKey=key3):
        w(BUYER).confirm_receipt_by_inspection(key3, plain)


def test_quality_functions_need_the_quality_contracts(w: World) -> None:
    bare = deploy(w, "SupplyChainSettlement", w.address(CONSORTIUM), "0x" + "00" * 20, "0x" + "00" * 20)
    send = w(STRANGER).tx.transact
    with reverts("SupplyChainSettlementQualityNotConfigured"):
        send(bare.functions.confirmReceiptByInspection(b"\x01" * 32, 1, [], []), gas=w.gas)
    with reverts("SupplyChainSettlementQualityNotConfigured"):
        send(bare.functions.applyQualityClaim(b"\x01" * 32, 1, [], 1), gas=w.gas)


def test_a_claim_on_another_producers_lot_never_touches_the_suppliers_retention(w: World) -> None:
    # The carrier listed a lot another firm made; that firm's failure is claimed against its own bond.
    admin, maker = w.qc(CONSORTIUM), w.qc(STRANGER)
    admin.register_organisation(OTHER, w.address(STRANGER))
    foreign = lot_id("other-maker-bearings")
    maker.register_lot(foreign, BEARING, 5_000)
    maker.set_terms(OTHER, BEARING, Terms(penalty_per_defect=PENALTY, claim_cap=1_000 * PENALTY,
                                          dispute_window=3 * DAY))
    w.mint(STRANGER, 1_000 * PENALTY)
    maker.deposit(OTHER, BEARING, 1_000 * PENALTY)
    key, _ = w.funded()
    w.settle_delivery(key, 300, lots=[foreign])
    claim_id = claim_on(w, foreign, 5, "foreign-gearboxes")
    with reverts("SupplyChainSettlementLotOfOtherProducer", lotId=foreign, producer=OTHER, supplierOrg=AXLE):
        w(STRANGER).apply_quality_claim(key, claim_id)


# ---------------------------------------------------------------------------------------------- issue 11


def test_a_stale_pass_never_outweighs_a_later_independent_failure(w: World) -> None:
    """Issue 11 item 3: anyone could confirm receipt with an old, unsuperseded independent Pass although the
    buyer's own incoming inspection had failed the lot since. Bound: only the lot's latest independent record
    counts, and it must be a Pass; the SDK picks that record too."""
    key, shipment, lots = qc_shipment(w, "qc-stale")
    old = w.passed(lots[0])
    w.passed(lots[1])
    w.qc(CONSORTIUM).accredit(w.address(OWNER_A), MILL)  # the buyer's incoming inspection
    incoming, _ = w.qc(OWNER_A).attest(Finding(lot=lots[0], outcome=Verdict.FAIL, severity=Severity.MAJOR,
                                               sample_size=20, defects=4, report_commitment=b"\x0e" * 32))
    w.advance(2 * DAY)  # past the buyer's window: anyone may try
    with reverts("SupplyChainSettlementInspectionNotLatest", lotId=lots[0], seq=old, latest=incoming.seq):
        w(STRANGER).tx.transact(w.contract.functions.confirmReceiptByInspection(key, shipment, lots, [old, 1]),
                                gas=w.gas)
    with pytest.raises(SettlementError, match="latest independent attestation #2 is not a Pass"):
        w(STRANGER).passing_attestation(lots[0])
    with pytest.raises(SettlementError, match="latest independent attestation #2 is not a Pass"):
        w(STRANGER).confirm_receipt_by_inspection(key, shipment)
    # The lab inspects again and passes the lot: that is now the latest independent record, and it counts.
    again = w.passed(lots[0])
    assert w(STRANGER).passing_attestation(lots[0]) == again
    assert w(STRANGER).confirm_receipt_by_inspection(key, shipment).settled == []  # no invoice yet: received only
    assert w(STRANGER).shipment(key, shipment).receipt is Receipt.INSPECTION


def test_an_inspection_receipt_never_pays_for_more_units_than_the_lots_hold(w: World) -> None:
    """Issue 11 item 3: a supplier that is also the carrier "delivered" 1,000 units against a 50-unit lot and a
    QC receipt copied the figure. Bound: delivered <= the listed lots' quantity, or no receipt by inspection."""
    key, _ = w.funded(qc_required=True, carrier=w.address(SUPPLIER))
    lot = w.supplier_lot("qc-small", quantity=50)
    shipment = w(SUPPLIER).ship(key, 1_000, [lot])[0]
    w(SUPPLIER).deliver(key, shipment, 1_000)
    w.passed(lot)
    with reverts("SupplyChainSettlementDeliveredExceedsLots", orderKey=key, shipmentId=shipment, delivered=1_000,
                 lotsQuantity=50):
        w(BUYER).confirm_receipt_by_inspection(key, shipment)
    # Exactly the lots' quantity is accepted.
    ok = w(SUPPLIER).ship(key, 50, [lot])[0]
    w(SUPPLIER).deliver(key, ok, 50)
    w(BUYER).confirm_receipt_by_inspection(key, ok)
    assert w(STRANGER).shipment(key, ok).received == 50


def test_only_the_buyer_confirms_by_inspection_within_its_window(w: World) -> None:
    """Issue 11 item 3: the buyer gets BUYER_RECEIPT_WINDOW after the delivery to inspect and act before anyone
    else may turn the lots' passes into its receipt."""
    assert w.contract.functions.BUYER_RECEIPT_WINDOW().call() == 2 * DAY
    key, _ = w.funded(qc_required=True)
    lot = w.supplier_lot("qc-window")
    shipment = w.ship(key, 100, [lot])
    at = w.now() + 10
    w.at(at, lambda: w(CARRIER).deliver(key, shipment, 100))
    w.passed(lot)
    with reverts("SupplyChainSettlementBuyerReceiptWindow", orderKey=key, shipmentId=shipment, opensAt=at + 2 * DAY):
        w.at(at + 2 * DAY - 1, lambda: w(SUPPLIER).confirm_receipt_by_inspection(key, shipment))
    outcome = w.at(at + 2 * DAY, lambda: w(SUPPLIER).confirm_receipt_by_inspection(key, shipment))
    assert events(w.contract, outcome, "GoodsReceived") == [
        {"orderKey": key, "shipmentId": shipment, "quantity": 100, "receipt": Receipt.INSPECTION}]


def _hand_organisation_over(w: World, org: bytes, admin: int, successor: int) -> None:
    """``successor`` joins ``org`` (invited, accepts) and takes it over, so ``admin`` may leave."""
    w.qc(admin).add_member(org, w.address(successor))
    w.qc(successor).accept_membership(org)
    w.qc(admin).transfer_organisation_admin(org, w.address(successor))


def test_a_buyer_leaving_its_organisation_cannot_freeze_a_held_retention(w: World) -> None:
    """Issue 11 item 1 (a): a buyer placed a hold and then left its organisation; once the claim was rejected the
    hold could not be lifted (the live organisationOf check failed) and the supplier's retention was frozen.
    Bound: a placed hold is lifted without any membership check."""
    key, _, lots = settled_order(w, "leaver")
    claim_id = claim_on(w, lots[0], 3, "leaver-gearboxes")
    w(STRANGER).apply_quality_claim(key, claim_id)
    _hand_organisation_over(w, MILL, BUYER, OWNER_A)
    w.qc(BUYER).leave_organisation()
    assert w.qc(STRANGER).organisation_of(w.address(BUYER)) is None
    w.qc(SUPPLIER).dispute_claim(claim_id)
    w.qc(CONSORTIUM).rule_claim(claim_id, 0)
    lifted = w(STRANGER).apply_quality_claim(key, claim_id)
    assert events(w.contract, lifted, "RetentionHoldLifted") == [{"orderKey": key, "claimId": claim_id}]
    view = w(STRANGER).get(key)
    assert view.holds == 0
    w.at(view.release_at, lambda: w(STRANGER).release_retention(key))
    assert w(STRANGER).get(key).retention == 0


def test_a_supplier_leaving_its_organisation_cannot_dodge_a_paid_claim(w: World) -> None:
    """Issue 11 item 1 (b): a supplier removed its address from its organisation before a failure, so the
    buyer's paid claim could neither hold nor draw the retention, which it then released. Bound: the supplier's
    organisation is its permanent affiliation; the paid claim draws."""
    key, _, lots = settled_order(w, "dodger")
    _hand_organisation_over(w, AXLE, SUPPLIER, OWNER_B)
    w.qc(SUPPLIER).leave_organisation()
    claim_id = claim_on(w, lots[0], 4, "dodger-gearboxes")
    w.qc(OWNER_B).accept_claim(claim_id)
    before = w.balance(BUYER)
    drawn = w(STRANGER).apply_quality_claim(key, claim_id)
    assert events(w.contract, drawn, "RetentionDrawn") == [
        {"orderKey": key, "claimId": claim_id, "to": w.address(BUYER), "amount": 4 * PRICE}]
    assert w.balance(BUYER) - before == 4 * PRICE
    # Rejoining another organisation to escape is impossible: the affiliation is permanent.
    with reverts("QualityLedgerAffiliatedElsewhere", account=w.low(SUPPLIER), orgId=AXLE):
        w.qc(BUYER).add_member(MILL, w.address(SUPPLIER))


def test_a_warranty_claim_filed_exactly_at_release_at_is_outside_the_warranty(w: World) -> None:
    """Boundary (issue 11, mutation run): the warranty is [settlement, releaseAt). A claim filed one second
    before releaseAt holds the retention; one filed exactly at releaseAt does not, and the retention is then
    releasable in that very second."""
    key, _, lots = settled_order(w, "edge")
    release_at = w(STRANGER).get(key).release_at
    for lot, name in ((lots[0], "edge-gearboxes-1"), (lots[1], "edge-gearboxes-2")):
        w.failed(lot, 2)
        w.consume(lot, name)
    seq = w.qc(STRANGER).lot(lots[0]).attestation_count
    in_time, _ = w.at(release_at - 1, lambda: w.qc(BUYER).file_claim(AlertRef(lots[0], seq)))
    at_edge, _ = w.at(release_at, lambda: w.qc(BUYER).file_claim(AlertRef(lots[1], seq)))
    assert (w.qc(BUYER).claim(in_time).filed_at, w.qc(BUYER).claim(at_edge).filed_at) == (release_at - 1,
                                                                                          release_at)
    with reverts("SupplyChainSettlementClaimOutsideWarranty", claimId=at_edge, filedAt=release_at,
                 releaseAt=release_at):
        w(STRANGER).apply_quality_claim(key, at_edge)
    held = w(STRANGER).apply_quality_claim(key, in_time)
    assert events(w.contract, held, "RetentionHeld") == [{"orderKey": key, "claimId": in_time}]
    with reverts("SupplyChainSettlementRetentionLocked", orderKey=key, releaseAt=release_at, holds=1):
        w(STRANGER).release_retention(key)


def test_auditor_poc_a_lot_listed_in_two_shipments_counts_once(w: World) -> None:
    """Auditor pass (issue 11), fixed in the second review (S-2, docs/security.md): the delivered <= lots check
    was per shipment, so a supplier that is its own carrier listed one 50-unit lot in two shipments and, once the
    buyer's window had passed, had both received by inspection. Bound: a lot's units are received by inspection
    once, over every shipment; a receipt the buyer records in its window (here 0 units) stays final."""
    key, _ = w.funded(qc_required=True, carrier=w.address(SUPPLIER))
    lot = w.supplier_lot("qc-twice", quantity=50)
    w.passed(lot)
    first = w(SUPPLIER).ship(key, 50, [lot])[0]
    second = w(SUPPLIER).ship(key, 50, [lot])[0]
    third = w(SUPPLIER).ship(key, 50, [lot])[0]
    for shipment in (first, second, third):
        w(SUPPLIER).deliver(key, shipment, 50)
    w(BUYER).confirm_receipt(key, third, 0)  # the buyer acts in its window on the third
    w.advance(2 * DAY)
    w(SUPPLIER).confirm_receipt_by_inspection(key, first)
    assert w(STRANGER).shipment(key, first).received == 50
    with reverts("SupplyChainSettlementDeliveredExceedsLots", orderKey=key, shipmentId=second, delivered=50,
                 lotsQuantity=0):
        w(SUPPLIER).confirm_receipt_by_inspection(key, second)
    with reverts("SupplyChainSettlementAlreadyReceived", orderKey=key, shipmentId=third, receipt=Receipt.BUYER):
        w(SUPPLIER).confirm_receipt_by_inspection(key, third)
