"""Third outside review (audit 3, 2026-12-06) of the quality contracts: one proof-of-concept per finding, each
asserting the property that must hold and named after the actor that cheats. Findings, severities and fixes:
docs/security.md, "Audit 3 (2026-12-06)". Spec: docs/contracts/quality.md, "Recounts"."""

from __future__ import annotations

from millchain.quality import AlertRef, ClaimStatus
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
    WINDOW,
    World,
    fail,
    passed,
    reverts,
)


def test_audit3_b1_buyer_cannot_carry_a_filing_time_onto_an_unrelated_later_failure(q: World) -> None:
    """B-1 (low), actor: the buyer (claimant). fileClaim let a new claim on a lot take over the filedAt of the
    claimant's earlier claim on that lot whenever the earlier one was still Filed on a superseded record, whatever
    the new claim's basis. A claim on a failure the laboratory withdrew (its Fail corrected by a Pass), left Filed,
    so lent its filing time to a claim on a failure found months later: SupplyChainSettlement counts the warranty
    from filedAt, and hands an order's retention hold on to a successor with the same filedAt, so the buyer drew
    the supplier's retention for a defect found after the warranty's end. Bound: only a claim filed on a correction
    of the earlier claim's failure (the same failure, recounted) keeps its filing time; any other gets its own."""
    failed = failed_lot(q, "b1-unrelated")
    lot = failed.ref.lot
    first, _ = q(PLANT).file_claim(failed.ref)
    first_filed_at = q(PLANT).claim(first).filed_at
    # The laboratory withdraws its finding: a Pass corrects the Fail (seq 2). Nobody lapses the buyer's claim.
    q(INSPECTOR).attest(passed(lot, supersedes=1))
    # Months later an unrelated failure of the same lot (seq 3, correcting nothing).
    later = first_filed_at + 20 * WINDOW
    q.at(later, lambda: q(INSPECTOR).attest(fail(lot, 5)))
    second, _ = q.at(later + 10, lambda: q(PLANT).file_claim(AlertRef(lot, 3), failed.consumer))
    claim = q(PLANT).claim(second)
    assert (claim.filed_at, claim.deadline) == (later + 10, later + 10 + WINDOW)
    # The earlier claim lapsed in the same call (its basis was corrected); its amount no longer locked.
    assert q(PLANT).claim(first).status is ClaimStatus.LAPSED


def test_audit3_b2_supplier_cannot_reset_a_filing_time_after_two_recounts(q: World) -> None:
    """B-2 (low), actor: the supplier (with anyone's executeClaim), riding two honest recounts. A lapsed claim kept
    its filing time for the claim filed on the record that corrected its own, one step only. The laboratory
    recounts a failure twice (Fail 1 -> Fail 2 -> Fail 3) before the buyer moves its claim; the supplier lapses
    the buyer's claim as soon as executeClaim lets it (before B-3's fix at once, since record 2 is no longer
    current; now WITHDRAWAL_DELAY after record 3), and the buyer's claim on record 3 started a new filing time,
    which may fall after the order's warranty: the supplier releases the retention. Bound: a claim filed on any
    record in the correction chain of the lapsed claim's failure keeps the filing time (followed for up to
    MAX_CORRECTION_HOPS corrections)."""
    failed = failed_lot(q, "b2-recounts")
    lot = failed.ref.lot
    first, _ = q(PLANT).file_claim(failed.ref)
    first_filed_at = q(PLANT).claim(first).filed_at
    q(INSPECTOR).attest(fail(lot, 12, supersedes=1))
    recount_at = first_filed_at + WINDOW + 100  # after the claim's dispute window
    q.at(recount_at, lambda: q(INSPECTOR).attest(fail(lot, 11, supersedes=2)))
    lapses_at = recount_at + DELAY
    q.at(lapses_at, lambda: q(STRANGER).execute_claim(first))
    assert q(PLANT).claim(first).status is ClaimStatus.LAPSED
    moved, _ = q.at(lapses_at + 10, lambda: q(PLANT).file_claim(AlertRef(lot, 3), failed.consumer))
    claim = q(PLANT).claim(moved)
    assert (claim.filed_at, claim.deadline) == (first_filed_at, lapses_at + 10 + WINDOW)


def test_audit3_b3_supplier_cannot_withdraw_in_the_gap_a_second_recount_opens(q: World) -> None:
    """B-3 (medium), actor: the supplier (with the permissionless executeClaim), riding two honest recounts. Q-2 kept
    a claim on a recounted failure locked for WITHDRAWAL_DELAY after the recount, but read only the record that
    corrected the claim's basis: once the laboratory corrects its recount again (Fail 1 -> Fail 2 -> Fail 3, say a
    typo fixed a second later), that record is superseded too and executeClaim lapsed the claim at once. A recount
    of a Fail does not restart the freeze, so in the second recount's block the supplier lapses the buyer's claim
    and executes a pre-armed withdrawal of the whole bond before the buyer can move its claim. Bound: a claim whose
    correction chain ends in a current Fail lapses only WITHDRAWAL_DELAY after the chain's latest record."""
    supplier = q(SUPPLIER)
    at = q.now() + 10
    q.at(at, lambda: supplier.request_withdrawal(AXLE, BEARING, DEPOSIT))
    q.next_block_at(at + 1)
    failed = failed_lot(q, "b3-recounts")
    lot = failed.ref.lot
    claim_id, _ = q(PLANT).file_claim(failed.ref)
    recount_at = at + DELAY + 100  # after the first freeze and the claim's window, before the request expires
    assert recount_at > q(PLANT).claim(claim_id).deadline
    q.at(recount_at, lambda: q(INSPECTOR).attest(fail(lot, 12, supersedes=1)))
    q.at(recount_at + 1, lambda: q(INSPECTOR).attest(fail(lot, 11, supersedes=2)))
    with reverts("QualityBondsCorrectionPending", claimId=claim_id, lapsesAt=recount_at + 1 + DELAY):
        q.at(recount_at + 2, lambda: q.estimating(STRANGER).execute_claim(claim_id))
    with reverts(
        "QualityBondsInsufficientFreeBond", orgId=AXLE, productId=BEARING, free=DEPOSIT - 14 * PENALTY, amount=DEPOSIT
    ):
        q.estimating(SUPPLIER).execute_withdrawal(AXLE, BEARING)
    moved, _ = q(PLANT).file_claim(AlertRef(lot, 3), failed.consumer)
    assert q(PLANT).claim(moved).amount == 11 * PENALTY
    assert bond_of(q) == (DEPOSIT, 11 * PENALTY)


def test_audit3_b3_an_unmoved_claim_lapses_after_the_latest_recount_or_at_once_after_a_retraction(q: World) -> None:
    """B-3, item 2 kept: nobody moves the claim; anyone lets it lapse WITHDRAWAL_DELAY after the latest record of
    its failure's correction chain, to the second; a chain that ends in a Pass (the failure retracted after a
    recount) lets it lapse at once."""
    failed = failed_lot(q, "b3-idle")
    lot = failed.ref.lot
    claim_id, _ = q(PLANT).file_claim(failed.ref)
    q(INSPECTOR).attest(fail(lot, 12, supersedes=1))
    _, receipt = q(INSPECTOR).attest(fail(lot, 11, supersedes=2))
    latest = q.block_time(receipt)
    with reverts("QualityBondsCorrectionPending", claimId=claim_id, lapsesAt=latest + DELAY):
        q.at(latest + DELAY - 1, lambda: q.estimating(STRANGER).execute_claim(claim_id))
    receipt = q.at(latest + DELAY, lambda: q(STRANGER).execute_claim(claim_id))
    assert q.events(receipt, q.bonds, "ClaimLapsed") == [{"claimId": claim_id, "supersededBy": 2}]
    assert bond_of(q) == (DEPOSIT, 0)

    retracted = failed_lot(q, "b3-retracted")
    other, _ = q(PLANT).file_claim(retracted.ref)
    q(INSPECTOR).attest(fail(retracted.ref.lot, 12, supersedes=1))
    q(INSPECTOR).attest(passed(retracted.ref.lot, supersedes=2))
    deadline = q(PLANT).claim(other).deadline
    receipt = q.at(deadline, lambda: q(STRANGER).execute_claim(other))
    assert q.events(receipt, q.bonds, "ClaimLapsed") == [{"claimId": other, "supersededBy": 2}]
