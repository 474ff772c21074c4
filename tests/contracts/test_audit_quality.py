"""Second adversarial review of the quality contracts (issue 11, "review the fixed contracts adversarially once
more"): one proof-of-concept per finding, each asserting the property that must hold, named after the actor that
cheats. Findings, severities and fixes: docs/security.md, "Second review (quality and settlement)".
Spec: docs/contracts/quality.md."""

from __future__ import annotations

from millchain.quality import AlertRef, Terms, lot_id
from tests.contracts.test_quality_bonds import bond_of, failed_lot
from tests.contracts.test_quality_scenario import (
    AXLE,
    BEARING,
    DELAY,
    DEPOSIT,
    INSPECTOR,
    PENALTY,
    PLANT,
    STRANGER,
    SUPPLIER,
    SUPPLIER_QC,
    WINDOW,
    World,
    fail,
    reverts,
)

CHEAP = Terms(penalty_per_defect=1, claim_cap=1, dispute_window=60)


def test_audit_q1_supplier_pre_armed_cheap_terms_cannot_price_a_claim_on_an_earlier_failure(q: World) -> None:
    """Q-1 (medium), actor: the supplier's organisation admin. Item 4 froze withdrawals for WITHDRAWAL_DELAY after
    an independent Fail, but a terms change is the same pre-armed drain: pending terms (penalty 1, cap 1) set long
    before take effect on their own a second after the failure, every claim filed after that is worth 1 unit, and
    the bond leaves once the freeze ends. Bound: a claim is priced on the terms in force when its failure was
    attested."""
    supplier = q(SUPPLIER)
    at = q.now() + 10
    q.at(at, lambda: supplier.set_terms(AXLE, BEARING, CHEAP))
    q.next_block_at(at + DELAY - 5)
    failed = failed_lot(q, "q1-armed-terms")
    assert supplier.last_independent_fail_at(AXLE) < at + DELAY
    # The claimant files an hour after the failure, well within the time the freeze promises it.
    claim_id, _ = q.at(at + DELAY + 3600, lambda: q(PLANT).file_claim(failed.ref))
    assert q(PLANT).claim(claim_id).amount == 14 * PENALTY


def test_audit_q1_supplier_cannot_promote_cheap_terms_while_the_bond_is_frozen(q: World) -> None:
    """Q-1, the second path: once the cheap terms are due, a new setTerms call promotes them to the current terms
    and erases the old ones. Bound: no terms change is accepted within WITHDRAWAL_DELAY of the supplier's latest
    independent Fail (the withdrawal freeze), so the terms a failure was attested under stay on record."""
    supplier = q(SUPPLIER)
    at = q.now() + 10
    q.at(at, lambda: supplier.set_terms(AXLE, BEARING, CHEAP))
    q.next_block_at(at + DELAY - 5)
    failed = failed_lot(q, "q1-promote")
    failed_at = supplier.last_independent_fail_at(AXLE)
    with reverts("QualityBondsTermsFrozen", orgId=AXLE, productId=BEARING, frozenUntil=failed_at + DELAY):
        q.at(at + DELAY + 1, lambda: q.estimating(SUPPLIER).set_terms(AXLE, BEARING, CHEAP))
    claim_id, _ = q.at(at + DELAY + 3600, lambda: q(PLANT).file_claim(failed.ref))
    assert q(PLANT).claim(claim_id).amount == 14 * PENALTY
    # After the freeze the supplier may change its terms again (first the due ones are promoted).
    q.at(failed_at + DELAY, lambda: supplier.set_terms(AXLE, BEARING, CHEAP))
    assert supplier.bond(AXLE, BEARING).terms == CHEAP


def test_audit_q2_supplier_cannot_withdraw_in_the_gap_a_recount_opens(q: World) -> None:
    """Q-2 (medium), actor: the supplier (with anyone's executeClaim). The laboratory recounts a failure (a Fail
    corrected by a Fail) after the first freeze ended; the buyer's claim on the old record is superseded. In the
    block of the recount the supplier lapses that claim itself (executeClaim is permissionless once the window
    has passed) and executes a pre-armed withdrawal of the whole bond before the buyer can file on the
    correction. Bound: a claim whose failure was recounted lapses only WITHDRAWAL_DELAY after the recount, its
    amount locked meanwhile, so the claimant can always move it onto the correction; then anyone lapses it."""
    supplier = q(SUPPLIER)
    at = q.now() + 10
    q.at(at, lambda: supplier.request_withdrawal(AXLE, BEARING, DEPOSIT))
    q.next_block_at(at + 1)
    failed = failed_lot(q, "q2-recount")
    claim_id, _ = q(PLANT).file_claim(failed.ref)
    recount_at = at + DELAY + 100  # after the first freeze and the claim's window, before the request expires
    assert recount_at > q(PLANT).claim(claim_id).deadline
    q.at(recount_at, lambda: q(INSPECTOR).attest(fail(failed.ref.lot, 12, supersedes=1)))
    with reverts("QualityBondsCorrectionPending", claimId=claim_id, lapsesAt=recount_at + DELAY):
        q.at(recount_at + 1, lambda: q.estimating(STRANGER).execute_claim(claim_id))
    with reverts(
        "QualityBondsInsufficientFreeBond", orgId=AXLE, productId=BEARING, free=DEPOSIT - 14 * PENALTY, amount=DEPOSIT
    ):
        q.estimating(SUPPLIER).execute_withdrawal(AXLE, BEARING)
    moved, _ = q(PLANT).file_claim(AlertRef(failed.ref.lot, 2), failed.consumer)
    assert q(PLANT).claim(moved).amount == 12 * PENALTY
    assert bond_of(q) == (DEPOSIT, 12 * PENALTY)


def test_audit_q2_an_unmoved_recounted_claim_still_lapses_without_the_claimant(q: World) -> None:
    """Q-2, item 2 kept: the claimant never moves its claim; anyone lets it lapse from WITHDRAWAL_DELAY after the
    recount on, to the second. A claim whose failure was retracted (a Pass) lapses at its deadline as before."""
    failed = failed_lot(q, "q2-idle")
    claim_id, _ = q(PLANT).file_claim(failed.ref)
    _, receipt = q(INSPECTOR).attest(fail(failed.ref.lot, 12, supersedes=1))
    recount_at = q.block_time(receipt)
    with reverts("QualityBondsCorrectionPending", claimId=claim_id, lapsesAt=recount_at + DELAY):
        q.at(recount_at + DELAY - 1, lambda: q.estimating(STRANGER).execute_claim(claim_id))
    receipt = q.at(recount_at + DELAY, lambda: q(STRANGER).execute_claim(claim_id))
    assert q.events(receipt, q.bonds, "ClaimLapsed") == [{"claimId": claim_id, "supersededBy": 2}]
    assert bond_of(q) == (DEPOSIT, 0)


def test_audit_q3_a_claim_moved_onto_a_correction_keeps_its_filing_time(q: World) -> None:
    """Q-3 (medium), actor: the supplier, riding an honest recount. A claim that moves onto a correction got a
    new filedAt; SupplyChainSettlement holds or draws a retention only for a claim filed within the warranty, so
    a recount after the warranty's end turned a timely claim into a late one. Bound: the moved claim keeps the
    filing time of the claim it replaces (its dispute window starts anew)."""
    failed = failed_lot(q, "q3-moved")
    first, receipt = q(PLANT).file_claim(failed.ref)
    filed_at = q(PLANT).claim(first).filed_at
    recount_at = filed_at + WINDOW // 2
    q.at(recount_at, lambda: q(INSPECTOR).attest(fail(failed.ref.lot, 12, supersedes=1)))
    moved, receipt = q.at(recount_at + 10, lambda: q(PLANT).file_claim(AlertRef(failed.ref.lot, 2), failed.consumer))
    claim = q(PLANT).claim(moved)
    assert (claim.filed_at, claim.deadline) == (filed_at, recount_at + 10 + WINDOW)
    assert [e["deadline"] for e in q.events(receipt, q.bonds, "ClaimFiled")] == [recount_at + 10 + WINDOW]


def test_audit_q4_the_producers_inspector_cannot_make_a_labs_signed_failure_stale(q: World) -> None:
    """Q-4 = issue 11 item 7 (low), actor: the lot's producer (its own accredited inspector). attestBySig bound
    the signature to the lot's next sequence number, so any record on the lot, including the producer's own,
    made a laboratory's signed Fail stale before a relayer submitted it. Fixed on work-quality (fb260d7: an
    independent inspector's signature binds the lot's latest independent record, which the producer cannot
    move); this PoC, written against the code before it, passes since the merge."""
    lot = lot_id("q4-censored")
    q(SUPPLIER).register_lot(lot, BEARING, 1000)
    signed = q(INSPECTOR).sign_attestation(fail(lot, 9))
    q(SUPPLIER_QC).attest(fail(lot, 0, sample=10))  # the producer's own record lands first
    ref, _ = q(STRANGER).relay(signed)
    assert q(STRANGER).attestation(ref.lot, ref.seq).defects == 9
