"""The quality part of the factory day: bearings across a supplier, a plant and an OEM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexbytes import HexBytes

from millchain.disclosure import SaltedDocument
from millchain.quality import (
    Finding,
    Outcome,
    QualityClient,
    Severity,
    Terms,
    format_amount,
    lot_id,
    org_id,
    parse_amount,
    product_id,
)
from millchain.session import Session
from millchain.types import label_of

STORY_ACCOUNTS = {"consortium": 0, "supplier": 1, "plant": 2, "inspector": 3, "oem": 4, "regulator": 5, "lab": 6}
"""Dev account index per actor in :func:`play_quality_story`."""


def play_quality_story(session: Session, say: Callable[..., Any] = print) -> dict[str, Any]:
    """A supplier's bearing lot fails an independent laboratory's inspection; the alert reaches the plant that
    built gearboxes from it, the OEM that built tractors from those, and the regulator, who all acknowledge it;
    the plant files a claim, which the supplier accepts and its quality bond pays at once.

    Deterministic for a given chain state and safe to run again on the same chain (organisations, accreditation
    and terms are set up once; lot ids carry the starting block). Returns what happened.
    """
    a = STORY_ACCOUNTS
    # On the embedded chain a fixed gas limit skips py-evm's slow estimation (every step here succeeds).
    consortium = QualityClient(session, a["consortium"], gas=1_000_000 if session.chain.embedded else None)
    actor = {name: consortium.as_account(index) for name, index in a.items()}
    address = {name: client.address for name, client in actor.items()}
    supplier, plant, oem, lab, regulator = (
        org_id(x) for x in ("axle-supply", "mill-plant", "tractor-oem", "tuv-lab", "regulator")
    )
    bearing = product_id("bearing-6204")

    for org, who, is_regulator in (
        (supplier, "supplier", False),
        (plant, "plant", False),
        (oem, "oem", False),
        (lab, "lab", False),
        (regulator, "regulator", True),
    ):
        if consortium.organisation_of(address[who]) is None:
            consortium.register_organisation(org, address[who], regulator=is_regulator)
    if not consortium.inspector(address["inspector"]).can_attest:
        consortium.accredit(address["inspector"], lab)
    say("organisations: axle-supply (supplier), mill-plant, tractor-oem, tuv-lab (inspection), regulator")

    terms = Terms(penalty_per_defect=parse_amount("25"), claim_cap=parse_amount("2000"), dispute_window=3 * 24 * 3600)
    if actor["supplier"].bond(supplier, bearing).terms.dispute_window == 0:
        actor["supplier"].set_terms(supplier, bearing, terms)
    deposit = parse_amount("10000")
    consortium.mint(address["supplier"], deposit)
    actor["supplier"].deposit(supplier, bearing, deposit)
    say(f"axle-supply bonds {format_amount(deposit)} for bearing-6204: 25 mUSD per defective unit, cap 2,000 mUSD")

    run = session.chain.w3.eth.block_number
    lots = {name: lot_id(f"{name}-{run}") for name in ("bearings", "housings", "gearboxes", "tractors")}
    steel = SaltedDocument.commit({"heat": "H-5521", "line": "grinding-2", "shift": "night"})
    actor["supplier"].register_lot(lots["bearings"], bearing, 5000, data_commitment=HexBytes(steel.root))
    actor["plant"].register_lot(lots["housings"], product_id("housing-g3"), 800)
    actor["plant"].register_lot(
        lots["gearboxes"], product_id("gearbox-g3"), 400, inputs=[lots["bearings"], lots["housings"]]
    )
    actor["oem"].register_lot(lots["tractors"], product_id("tractor-t7"), 40, inputs=[lots["gearboxes"]])
    say(f"lineage: {label_of(lots['bearings'])} -> {label_of(lots['gearboxes'])} -> {label_of(lots['tractors'])}")

    report = SaltedDocument.commit(
        {
            "standard": "ISO 492 class 6",
            "radial-runout-um": "14 (limit 8)",
            "sample": "200",
            "defective": "14",
            "inspector": "tuv-lab/3",
        }
    )
    ref, attest_receipt = actor["inspector"].attest(
        Finding(
            lot=lots["bearings"],
            outcome=Outcome.FAIL,
            severity=Severity.MAJOR,
            sample_size=200,
            defects=14,
            report_commitment=HexBytes(report.root),
            uri="https://reports.tuv-lab.example/qc/bearings",
        )
    )
    say(f"tuv-lab attests {ref}: FAIL, 14 of 200 defective (gas {attest_receipt['gasUsed']})")

    alert = next(x for x in consortium.alerts() if x.ref == str(ref))
    say(f"alert {ref} concerns {', '.join(alert.affected)} via {', '.join(alert.downstream_lots)}")
    acked = []
    for name, org in (("plant", plant), ("oem", oem), ("regulator", regulator), ("supplier", supplier)):
        actor[name].acknowledge(ref)
        acked.append(label_of(org))
    say(f"acknowledged by {', '.join(acked)}")

    disclosed = report.disclose("radial-runout-um")
    field_ok = bool(
        consortium.tx.call(
            consortium.ledger.functions.verifyReportField(
                ref.lot,
                ref.seq,
                disclosed.name,
                disclosed.value_bytes,
                HexBytes(disclosed.salt),
                [HexBytes(p) for p in disclosed.proof],
            )
        )
    )

    plant_before = consortium.balance_of(address["plant"])
    claim_id, _ = actor["plant"].file_claim(ref)
    filed = actor["plant"].claim(claim_id)
    actor["supplier"].accept_claim(claim_id)
    paid = actor["plant"].claim(claim_id)
    received = consortium.balance_of(address["plant"]) - plant_before
    bond_after = actor["supplier"].bond(supplier, bearing)
    say(
        f"claim #{claim_id}: mill-plant asked {format_amount(filed.amount)}, axle-supply accepted, "
        f"paid {format_amount(paid.paid)} from the bond ({format_amount(bond_after.balance)} left)"
    )
    return {
        "lots": {name: label_of(lot) for name, lot in lots.items()},
        "alert": str(ref),
        "severity": Severity.MAJOR.name,
        "affected": alert.affected,
        "downstream_lots": alert.downstream_lots,
        "acknowledged_by": acked,
        "disclosed_field": {"name": disclosed.name, "value": disclosed.value_text, "verified_on_chain": field_ok},
        "claim": {
            "id": claim_id,
            "amount": filed.amount,
            "paid": paid.paid,
            "status": paid.status.name,
            "received_by_plant": received,
        },
        "bond_left": bond_after.balance,
        "attest_gas": int(attest_receipt["gasUsed"]),
    }
