"""Third outside review (audit 3, 2026-12-06) of the quality contracts: one proof-of-concept per finding, each
asserting the property that must hold and named after the actor that cheats. Findings, severities and fixes:
docs/security.md, "Audit 3 (2026-12-06)". Spec: docs/contracts/quality.md, "Recounts"."""

from __future__ import annotations

from millchain.quality import AlertRef, ClaimStatus
from tests.contracts.test_quality_bonds import failed_lot
from tests.contracts.test_quality_scenario import (
    INSPECTOR,
    PLANT,
    STRANGER,
    WINDOW,
    World,
    fail,
    passed,
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
    recounts a failure twice (Fail 1 -> Fail 2 -> Fail 3) before the buyer moves its claim; the supplier then
    lapses the buyer's claim at once (its correction, record 2, is no longer current), and the buyer's claim on
    record 3 starts a new filing time, which may fall after the order's warranty: the supplier releases the
    retention. Bound: a claim filed on any record in the correction chain of the lapsed claim's failure keeps the
    filing time (followed for up to MAX_CORRECTION_HOPS corrections)."""
    failed = failed_lot(q, "b2-recounts")
    lot = failed.ref.lot
    first, _ = q(PLANT).file_claim(failed.ref)
    first_filed_at = q(PLANT).claim(first).filed_at
    q(INSPECTOR).attest(fail(lot, 12, supersedes=1))
    recount_at = first_filed_at + WINDOW + 100  # after the claim's dispute window
    q.at(recount_at, lambda: q(INSPECTOR).attest(fail(lot, 11, supersedes=2)))
    q.at(recount_at + 5, lambda: q(STRANGER).execute_claim(first))
    assert q(PLANT).claim(first).status is ClaimStatus.LAPSED
    moved, _ = q.at(recount_at + 10, lambda: q(PLANT).file_claim(AlertRef(lot, 3), failed.consumer))
    claim = q(PLANT).claim(moved)
    assert (claim.filed_at, claim.deadline) == (first_filed_at, recount_at + 10 + WINDOW)
