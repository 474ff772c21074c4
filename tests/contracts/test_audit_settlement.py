"""Second adversarial review of SupplyChainSettlement with the quality contracts (issue 11, "review the fixed
contracts adversarially once more"): one proof-of-concept per finding, each asserting the property that must
hold, named after the actor that cheats. Findings, severities and fixes: docs/security.md, "Second review
(quality and settlement)". Spec: docs/contracts/supply-chain-settlement.md."""

from __future__ import annotations

from millchain.quality import AlertRef, Finding, Severity
from millchain.quality import Outcome as Verdict
from millchain.settlement import ClaimUse
from tests.contracts.test_settlement_quality import claim_on, settled_order
from tests.contracts.test_settlement_scenario import (
    BUYER,
    DAY,
    INSPECTOR,
    PRICE,
    STRANGER,
    SUPPLIER,
    World,
    events,
    reverts,
)


def _self_carried(w: World) -> bytes:
    """A QC order whose carrier is the supplier itself (the spec allows it)."""
    key, _ = w.funded(qc_required=True, carrier=w.address(SUPPLIER))
    return key


def test_audit_s1_supplier_as_carrier_cannot_count_a_lot_twice_in_one_shipment(w: World) -> None:
    """S-1 (high), actor: the supplier as its own carrier. Item 3 bounds a receipt by inspection by the listed
    lots' quantity, but the list may name one lot twice: [lot, lot] of a 50-unit lot "delivers" 100 units, and
    once the buyer's window has passed anyone turns the lab's Pass into a receipt of 100 and pays them. Bound: a
    lot's units count once, however often the list names it."""
    key = _self_carried(w)
    lot = w.supplier_lot("s1-twice", quantity=50)
    # The SDK refuses a list naming a lot twice; a cheating carrier sends the transaction itself.
    shipped = w(SUPPLIER).tx.transact(w.contract.functions.ship(key, 100, [lot, lot]), gas=w.gas)
    (shipment,) = [e["args"]["shipmentId"] for e in w.contract.events.GoodsShipped().process_receipt(shipped)]
    at = w.now() + 10
    w.at(at, lambda: w(SUPPLIER).deliver(key, shipment, 100))
    w.passed(lot)
    with reverts(
        "SupplyChainSettlementDeliveredExceedsLots", orderKey=key, shipmentId=shipment, delivered=100, lotsQuantity=50
    ):
        w.at(at + 2 * DAY, lambda: w(STRANGER).confirm_receipt_by_inspection(key, shipment))


def test_audit_s2_supplier_as_carrier_cannot_sell_a_lots_units_twice_by_inspection(w: World) -> None:
    """S-2 (high), actor: the supplier as its own carrier. The same 50-unit lot listed in one shipment after
    another, each "delivering" 50: every receipt by inspection compared with the lot's full quantity, so one
    passed lot paid for any number of shipments. Bound: receipts by inspection never count more units of a lot,
    over all shipments and orders, than the lot holds."""
    key = _self_carried(w)
    lot = w.supplier_lot("s2-again", quantity=50)
    w.passed(lot)
    first = w(SUPPLIER).ship(key, 30, [lot])[0]
    second = w(SUPPLIER).ship(key, 50, [lot])[0]
    at = w.now() + 10
    w.at(at, lambda: w(SUPPLIER).deliver(key, first, 30))
    w.at(at + 1, lambda: w(SUPPLIER).deliver(key, second, 50))
    w.at(at + 2 * DAY + 1, lambda: w(STRANGER).confirm_receipt_by_inspection(key, first))
    with reverts(
        "SupplyChainSettlementDeliveredExceedsLots", orderKey=key, shipmentId=second, delivered=50, lotsQuantity=20
    ):
        w(STRANGER).confirm_receipt_by_inspection(key, second)
    assert w.contract.functions.inspectedUnits(lot).call() == 30
    # The buyer's own receipt is not bounded by the lots: it is the buyer's word.
    w(BUYER).confirm_receipt(key, second, 50)


def test_audit_s3_a_recount_after_the_warranty_cannot_release_a_held_retention(w: World) -> None:
    """S-3 (medium), actor: the supplier (or anyone), riding an honest recount by the laboratory. A held claim
    whose failure is recounted (a Fail corrected by a Fail) after the warranty's end lapses when the buyer moves
    it onto the correction; the supplier then lifts the lapsed claim's hold and releases the retention in the
    next transaction, before the buyer can apply the moved claim. Bound: the hold passes to the claim that
    replaced the lapsed one, and the moved claim keeps its filing time, inside the warranty."""
    key, _, lots = settled_order(w, "s3-recount")
    claim_id = claim_on(w, lots[0], 6, "s3-recount-gearboxes")
    w(STRANGER).apply_quality_claim(key, claim_id)
    release_at = w(STRANGER).get(key).release_at
    seq = w.qc(STRANGER).claim(claim_id).seq
    recount = Finding(
        lot=lots[0],
        outcome=Verdict.FAIL,
        severity=Severity.MAJOR,
        sample_size=200,
        defects=4,
        supersedes=seq,
        report_commitment=b"\x0f" * 32,
    )
    ref, _ = w.at(release_at + 10, lambda: w.qc(INSPECTOR).attest(recount))
    moved, _ = w.qc(BUYER).file_claim(AlertRef(lots[0], ref.seq))
    passed_on = w(SUPPLIER).apply_quality_claim(key, claim_id)
    assert events(w.contract, passed_on, "RetentionHoldLifted") == [{"orderKey": key, "claimId": claim_id}]
    assert events(w.contract, passed_on, "RetentionHeld") == [{"orderKey": key, "claimId": moved}]
    assert w(STRANGER).claim_use(moved) == (key, ClaimUse.HOLDING)
    with reverts("SupplyChainSettlementRetentionLocked", orderKey=key, releaseAt=release_at, holds=1):
        w(SUPPLIER).release_retention(key)
    w.qc(SUPPLIER).accept_claim(moved)
    before = w.balance(BUYER)
    w(STRANGER).apply_quality_claim(key, moved)
    assert w.balance(BUYER) - before == 4 * PRICE


def test_audit_s4_a_lapsed_hold_passes_only_to_the_claim_that_moved(w: World) -> None:
    """S-4 (low), actor: the buyer, against S-3's hand-over. A claim lapses because the laboratory retracted the
    failure (a Pass); its hold is left in place. Long after the warranty a new failure of the same lot is found
    and the buyer claims again: lifting the old hold must not hand it to that late claim, which would then hold
    and draw a retention its filing time is outside of. Bound: the hold passes only to a claim that moved (same
    filedAt as the lapsed one)."""
    key, _, lots = settled_order(w, "s4-late")
    claim_id = claim_on(w, lots[0], 6, "s4-late-gearboxes")
    w(STRANGER).apply_quality_claim(key, claim_id)
    seq = w.qc(STRANGER).claim(claim_id).seq
    retraction = Finding(
        lot=lots[0], outcome=Verdict.PASS, sample_size=200, defects=0, supersedes=seq, report_commitment=b"\x0a" * 32
    )
    w.qc(INSPECTOR).attest(retraction)
    release_at = w(STRANGER).get(key).release_at
    w.at(release_at + 10, lambda: w.qc(STRANGER).execute_claim(claim_id))  # lapses: the failure was retracted
    late_seq = w.failed(lots[0], 3)
    late, _ = w.qc(BUYER).file_claim(AlertRef(lots[0], late_seq))
    lifted = w(STRANGER).apply_quality_claim(key, claim_id)
    assert events(w.contract, lifted, "RetentionHoldLifted") == [{"orderKey": key, "claimId": claim_id}]
    assert events(w.contract, lifted, "RetentionHeld") == []
    assert w(STRANGER).get(key).holds == 0
    assert w(STRANGER).claim_use(late) == (b"\0" * 32, ClaimUse.NONE)
