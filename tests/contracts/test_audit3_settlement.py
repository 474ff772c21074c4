"""Third outside review (audit 3, 2026-12-06) of SupplyChainSettlement with the quality contracts: each
proof-of-concept asserts the property that must hold and is named after the actor that cheats. Findings and
fixes: docs/security.md, "Audit 3 (2026-12-06)". Spec: docs/contracts/supply-chain-settlement.md."""

from __future__ import annotations

from millchain.quality import AlertRef, Finding
from millchain.quality import Outcome as Verdict
from millchain.settlement import ClaimUse
from tests.contracts.test_settlement_quality import claim_on, settled_order
from tests.contracts.test_settlement_scenario import BUYER, INSPECTOR, STRANGER, World, events


def test_audit3_b1_buyer_cannot_pass_a_retracted_claims_hold_to_a_claim_filed_after_the_warranty(w: World) -> None:
    """B-1 (low), actor: the buyer, against S-4's bound. S-4 made a lapsed claim's hold pass only to a claim with
    the same filedAt (one that moved onto a recount). But QualityBonds gave a new claim the filedAt of the buyer's
    still-Filed claim on a superseded record whatever the new claim's basis: the buyer leaves its claim on a
    retracted failure Filed (nobody has to execute it), claims on a failure found after the warranty, and the
    new claim inherits the timely filing time; lifting the old hold then hands it over, and once paid that claim
    draws the retention. Bound: a claim on a later, unrelated failure has its own filedAt, so the hold is lifted."""
    key, _, lots = settled_order(w, "b1-late")
    claim_id = claim_on(w, lots[0], 6, "b1-late-gearboxes")
    w(STRANGER).apply_quality_claim(key, claim_id)
    seq = w.qc(STRANGER).claim(claim_id).seq
    retraction = Finding(
        lot=lots[0], outcome=Verdict.PASS, sample_size=200, defects=0, supersedes=seq, report_commitment=b"\x0a" * 32
    )
    w.qc(INSPECTOR).attest(retraction)
    release_at = w(STRANGER).get(key).release_at
    # A new failure after the warranty; the retracted claim is still Filed (nobody executed it).
    late_seq = w.at(release_at + 10, lambda: w.failed(lots[0], 3))
    late, _ = w.qc(BUYER).file_claim(AlertRef(lots[0], late_seq))
    assert w.qc(STRANGER).claim(late).filed_at > release_at
    lifted = w(STRANGER).apply_quality_claim(key, claim_id)
    assert events(w.contract, lifted, "RetentionHoldLifted") == [{"orderKey": key, "claimId": claim_id}]
    assert events(w.contract, lifted, "RetentionHeld") == []
    assert w(STRANGER).get(key).holds == 0
    assert w(STRANGER).claim_use(late) == (b"\0" * 32, ClaimUse.NONE)
