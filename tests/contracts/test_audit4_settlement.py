"""Audit 4: settlement impact of QualityBonds' bounded correction walk (see test_audit4_quality.py)."""

from __future__ import annotations

import pytest

from millchain.quality import AlertRef, Finding, Severity
from millchain.quality import Outcome as Verdict
from tests.contracts.test_settlement_quality import claim_on, settled_order
from tests.contracts.test_settlement_scenario import BUYER, INSPECTOR, STRANGER, World, events

HOPS = 8


def _recount(lot: bytes, supersedes: int) -> Finding:
    return Finding(
        lot=lot,
        outcome=Verdict.FAIL,
        severity=Severity.MAJOR,
        sample_size=200,
        defects=6,
        supersedes=supersedes,
        report_commitment=b"\x0e" * 32,
    )


def _lose_hold(w: World, name: str, recounts: int) -> tuple[bytes, int, int, int]:
    key, _, lots = settled_order(w, name)
    claim_id = claim_on(w, lots[0], 6, f"{name}-gearboxes")
    w(STRANGER).apply_quality_claim(key, claim_id)  # the timely claim holds the retention (S-4)
    assert w(STRANGER).get(key).holds == 1
    seq = w.qc(STRANGER).claim(claim_id).seq
    release_at = w(STRANGER).get(key).release_at
    # the lab recounts the same failure after the warranty's end
    w.at(release_at + 10, lambda: w.qc(INSPECTOR).attest(_recount(lots[0], seq)))
    for i in range(1, recounts):
        w.qc(INSPECTOR).attest(_recount(lots[0], seq + i))
    moved, _ = w.qc(BUYER).file_claim(AlertRef(lots[0], seq + recounts))  # the buyer moves its claim
    return key, claim_id, int(moved), release_at


@pytest.mark.xfail(strict=True, reason="audit 4 A-2, open: past 8 corrections the retention hold is lost")
def test_audit4_open_a2_nine_recounts_keep_the_buyers_retention_hold(w: World) -> None:
    """Open finding A-2 (low-medium; actor: supplier with a courted lab). Nine recounts of the claimed failure (a Fail
    each, after the warranty's end) make the buyer's moved claim a new claim with its own filedAt (the 8-hop
    _isRecountOf gives up); applying the lapsed claim then lifts the hold with no successor, the moved claim is
    outside the warranty, and the supplier gets the retention back although the failure was claimed in time."""
    key, claim_id, moved, _ = _lose_hold(w, "a2-nine", HOPS + 1)
    # Wanted: the moved claim keeps the filing time, so it takes over the retention hold. Today it is filed after
    # the warranty's end: the hold is lifted with no successor and the supplier gets the retention back.
    assert w.qc(STRANGER).claim(moved).filed_at == w.qc(STRANGER).claim(claim_id).filed_at
    lifted = w(STRANGER).apply_quality_claim(key, claim_id)
    assert events(w.contract, lifted, "RetentionHeld") == [{"orderKey": key, "claimId": moved}]


def test_audit4_eight_recounts_pass_the_hold_to_the_moved_claim(w: World) -> None:
    """Held at the bound: after eight recounts the moved claim keeps filedAt and inherits the hold."""
    key, claim_id, moved, _ = _lose_hold(w, "a2-eight", HOPS)
    assert w.qc(STRANGER).claim(moved).filed_at == w.qc(STRANGER).claim(claim_id).filed_at
    lifted = w(STRANGER).apply_quality_claim(key, claim_id)
    assert events(w.contract, lifted, "RetentionHeld") == [{"orderKey": key, "claimId": moved}]
    assert w(STRANGER).get(key).holds == 1
