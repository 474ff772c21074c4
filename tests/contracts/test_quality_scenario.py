"""The quality-control cast and one end-to-end scenario, shared by every quality test module and by the anvil
integration test (tests/integration/test_quality_anvil.py runs the very same ``run_scenario``).

The cast (dev account indices): 0 consortium (accreditor, arbiter, token minter), 1 axle-supply's admin
(supplier), 2 mill-plant's admin (buyer), 3 tuv-lab's inspector, 4 tractor-oem's admin, 5 the regulator's admin,
6 tuv-lab's admin, 7 axle-supply's own QC inspector, 8 a second mill-plant member, 9 a stranger.

Quality tests run on their own embedded chain, set up once per session and snapshot-reverted per test, so the
cast is not rebuilt ~100 times and the shared ``local`` chain of other modules is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from hexbytes import HexBytes
from web3.logs import DISCARD
from web3.types import TxReceipt

from millchain.chain import connect
from millchain.disclosure import SaltedDocument
from millchain.errors import ContractRevert
from millchain.project import Project
from millchain.quality import (
    ClaimStatus,
    Finding,
    Outcome,
    QualityClient,
    Severity,
    Terms,
    lot_id,
    org_id,
    product_id,
)
from millchain.session import QUALITY_WITHDRAWAL_DELAY, Session
from tests.shared_chain import built_once

CONSORTIUM, SUPPLIER, PLANT, INSPECTOR, OEM, REGULATOR, LAB, SUPPLIER_QC, PLANT_MEMBER, STRANGER = range(10)

AXLE, MILL, TRACTOR, REG, TUV = (org_id(x) for x in ("axle-supply", "mill-plant", "tractor-oem", "regulator",
                                                      "tuv-lab"))
BEARING = product_id("bearing-6204")
HOUSING = product_id("housing-g3")
GEARBOX = product_id("gearbox-g3")
TRACTOR_T7 = product_id("tractor-t7")
MUSD = 10**6
PENALTY = 25 * MUSD
CAP = 2_000 * MUSD
WINDOW = 3 * 24 * 3600
DEPOSIT = 10_000 * MUSD
DELAY = QUALITY_WITHDRAWAL_DELAY


@contextmanager
def reverts(name: str, **args: Any) -> Iterator[None]:
    """Expect the custom error ``name`` with exactly ``args`` (addresses lowercase, bytes32 as bytes)."""
    with pytest.raises(ContractRevert) as caught:
        yield
    assert (caught.value.name, caught.value.args_by_name) == (name, args)


@dataclass
class World:
    """The session, one client per actor, and clock control for either chain."""

    session: Session
    gas: int | None = None
    """Fixed gas limit on the embedded chain: py-evm estimates by running a transaction a dozen times; a revert
    is then decoded by replaying the mined transaction, the path real nodes take for an unestimated send."""
    clients: dict[int, QualityClient] = field(default_factory=dict)

    def __call__(self, index: int) -> QualityClient:
        if index not in self.clients:
            self.clients[index] = QualityClient(self.session, index, gas=self.gas)
        return self.clients[index]

    def estimating(self, index: int) -> QualityClient:
        """A client that estimates gas first, so a revert surfaces from eth_estimateGas."""
        return QualityClient(self.session, index)

    def address(self, index: int) -> str:
        return str(self.session.chain.account(index).address)

    def low(self, index: int) -> str:
        """An account's address as decoded revert arguments carry it (lowercase)."""
        return self.address(index).lower()

    @property
    def ledger(self) -> Any:
        return self(CONSORTIUM).ledger

    @property
    def bonds(self) -> Any:
        return self(CONSORTIUM).bonds

    def now(self) -> int:
        """The latest block's timestamp; on the embedded chain at least the pending block's, which a time
        travel rolled back by a snapshot revert leaves ahead (eth-tester never travels backwards)."""
        latest = int(self.session.chain.w3.eth.get_block("latest")["timestamp"])
        tester = self.session.chain.tester
        if tester is None:
            return latest
        return max(latest, int(tester.get_block_by_number("pending")["timestamp"]))

    def block_time(self, receipt: TxReceipt) -> int:
        return int(self.session.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def next_block_at(self, timestamp: int) -> None:
        """Embedded chain: the next block (the next transaction's) carries ``timestamp`` exactly. Anvil: a block
        is mined at ``timestamp``, so the next transaction comes after it; anvil's eth_estimateGas runs on the
        latest block's time and would not see a timestamp merely scheduled for the next block."""
        chain = self.session.chain
        if chain.tester is not None:
            chain.tester.time_travel(timestamp)
        else:
            chain.w3.provider.make_request("evm_mine", [timestamp])  # type: ignore[arg-type]

    def at(self, timestamp: int, send: Callable[[], Any]) -> Any:
        """Run ``send`` (one transaction) in a block stamped ``timestamp``."""
        self.next_block_at(timestamp)
        return send()

    def events(self, receipt: TxReceipt, contract: Any, name: str) -> list[dict[str, Any]]:
        return [dict(e["args"]) for e in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)]

    def balance(self, index: int) -> int:
        return self(CONSORTIUM).balance_of(self.address(index))


def build_world(session: Session) -> World:
    """Organisations, inspectors, the supplier's funded bond with terms. ~15 transactions."""
    world = World(session, gas=3_000_000 if session.chain.embedded else None)
    admin = world(CONSORTIUM)
    for org, who, regulator in ((AXLE, SUPPLIER, False), (MILL, PLANT, False), (TRACTOR, OEM, False),
                                (REG, REGULATOR, True), (TUV, LAB, False)):
        admin.register_organisation(org, world.address(who), regulator=regulator)
    admin.accredit(world.address(INSPECTOR), TUV)
    admin.accredit(world.address(SUPPLIER_QC), AXLE)
    world(PLANT).add_member(MILL, world.address(PLANT_MEMBER))
    world(PLANT_MEMBER).accept_membership(MILL)
    world(SUPPLIER).set_terms(AXLE, BEARING, Terms(penalty_per_defect=PENALTY, claim_cap=CAP, dispute_window=WINDOW))
    admin.mint(world.address(SUPPLIER), 3 * DEPOSIT)
    world(SUPPLIER).deposit(AXLE, BEARING, DEPOSIT)
    return world


def shared_world(project: Project) -> tuple[World, Any]:
    """The cast on its own embedded chain, built once per test process (every quality module shares it)."""
    return built_once("quality", project, build_world)


# ---------------------------------------------------------------------------------------------- lots


@dataclass(frozen=True)
class Lineage:
    """bearings (axle) -> gearboxes (mill, with housings) -> tractors (oem); a second bearing lot unused."""

    bearings: bytes
    housings: bytes
    gearboxes: bytes
    tractors: bytes
    spare_bearings: bytes
    bearings_data: SaltedDocument


def build_lineage(world: World, suffix: str = "") -> Lineage:
    bearings_data = SaltedDocument.commit({"heat": "H-5521", "line": "grinding-2"},
                                          salts={"heat": b"\x01" * 32, "line": b"\x02" * 32})
    ids = Lineage(lot_id(f"bearings-1{suffix}"), lot_id(f"housings-1{suffix}"), lot_id(f"gearboxes-1{suffix}"),
                  lot_id(f"tractors-1{suffix}"), lot_id(f"bearings-2{suffix}"), bearings_data)
    world(SUPPLIER).register_lot(ids.bearings, BEARING, 5000, data_commitment=HexBytes(bearings_data.root))
    world(SUPPLIER).register_lot(ids.spare_bearings, BEARING, 5000)
    world(PLANT).register_lot(ids.housings, HOUSING, 800)
    world(PLANT).register_lot(ids.gearboxes, GEARBOX, 400, inputs=[ids.bearings, ids.housings])
    world(OEM).register_lot(ids.tractors, TRACTOR_T7, 40, inputs=[ids.gearboxes])
    return ids


def fail(lot: bytes, defects: int = 14, *, sample: int = 200, severity: Severity = Severity.MAJOR,
         supersedes: int = 0, report: bytes = b"\x0e" * 32) -> Finding:
    return Finding(lot=lot, outcome=Outcome.FAIL, severity=severity, sample_size=sample, defects=defects,
                   supersedes=supersedes, report_commitment=report, uri="https://lab.example/r/1")


def passed(lot: bytes, *, sample: int = 200, defects: int = 0, supersedes: int = 0) -> Finding:
    return Finding(lot=lot, outcome=Outcome.PASS, sample_size=sample, defects=defects, supersedes=supersedes,
                   report_commitment=b"\x0a" * 32)


# ---------------------------------------------------------------------------------------------- the scenario


def run_scenario(world: World) -> dict[str, Any]:
    """Two failed component lots along a three-level lineage: the alert reaches the plant, the OEM and the
    regulator; one claim is accepted, one disputed and ruled, and (after a correction) a third paid after its
    window; a withdrawal waits out its time lock. Returns the observable outcome (no chain-specific values)."""
    lineage = build_lineage(world)
    plant, supplier, lab, admin = world(PLANT), world(SUPPLIER), world(INSPECTOR), world(CONSORTIUM)
    out: dict[str, Any] = {}

    ref, _ = lab.attest(fail(lineage.bearings, 14))
    alert = next(a for a in admin.alerts() if a.ref == str(ref))
    out["affected"] = alert.affected
    out["downstream"] = alert.downstream_lots
    for index in (PLANT, OEM, REGULATOR):
        world(index).acknowledge(ref)
    out["pending_after_acks"] = admin.alerts(pending_only=True)[0].pending

    before = world.balance(PLANT)
    accepted, _ = plant.file_claim(ref)
    supplier.accept_claim(accepted)
    out["accepted"] = (plant.claim(accepted).status.name, world.balance(PLANT) - before)

    # The OEM did not buy bearings directly: it cannot claim on them.
    try:
        world(OEM).file_claim(ref, lineage.tractors)
        out["oem_claim"] = "filed"
    except ContractRevert as exc:
        out["oem_claim"] = exc.name

    # Second failure on another lot the plant consumes; disputed, ruled at 40 %.
    plant.register_lot(lot_id("gearboxes-2"), GEARBOX, 100, inputs=[lineage.spare_bearings])
    second, _ = lab.attest(fail(lineage.spare_bearings, 30))
    disputed, _ = plant.file_claim(second)
    supplier.dispute_claim(disputed, b"\x0d" * 32)
    award = plant.claim(disputed).amount * 40 // 100
    before = world.balance(PLANT)
    admin.rule_claim(disputed, award)
    out["ruled"] = (plant.claim(disputed).status.name, world.balance(PLANT) - before, award)

    # The lab corrects the first failure (12 defects, not 14): the original is superseded, history kept.
    corrected, _ = lab.attest(fail(lineage.bearings, 12, supersedes=ref.seq))
    out["corrected"] = (admin.attestation(ref.lot, ref.seq).superseded_by, corrected.seq)

    # Third: a withdrawal requested now must wait; a claim filed meanwhile is paid after its window.
    supplier.request_withdrawal(AXLE, BEARING, 1_000 * MUSD)
    try:
        supplier.execute_withdrawal(AXLE, BEARING)
        out["early_withdrawal"] = "paid"
    except ContractRevert as exc:
        out["early_withdrawal"] = exc.name
    third_lot = lot_id("bearings-3")
    supplier.register_lot(third_lot, BEARING, 1000)
    plant.register_lot(lot_id("gearboxes-4"), GEARBOX, 100, inputs=[third_lot])
    third, _ = plant.file_claim(lab.attest(fail(third_lot, 4))[0])
    deadline = plant.claim(third).deadline
    world.next_block_at(max(deadline, world.now() + 1))
    before = world.balance(PLANT)
    world(STRANGER).execute_claim(third)
    out["timeout"] = (plant.claim(third).status.name, world.balance(PLANT) - before)
    # The third failure came after the request: claimants get WITHDRAWAL_DELAY after it before any withdrawal.
    unlock = supplier.bond(AXLE, BEARING).unlock_at
    world.next_block_at(max(unlock, supplier.last_independent_fail_at(AXLE) + DELAY, world.now() + 1))
    before = world.balance(SUPPLIER)
    world(STRANGER).execute_withdrawal(AXLE, BEARING)
    out["withdrawn"] = world.balance(SUPPLIER) - before
    bond = supplier.bond(AXLE, BEARING)
    out["bond"] = (bond.balance, bond.locked)
    out["claims"] = [(c.claim_id, c.status.name, c.paid) for c in admin.claims()]
    return out


EXPECTED = {
    "affected": ["axle-supply", "mill-plant", "tractor-oem", "regulator"],
    "downstream": ["gearboxes-1", "tractors-1"],
    "pending_after_acks": ["axle-supply"],
    "accepted": ("PAID", 14 * PENALTY),
    "oem_claim": "QualityBondsLotNotConsumed",
    "ruled": ("PAID", 300 * MUSD, 300 * MUSD),
    "corrected": (2, 2),
    "early_withdrawal": "QualityBondsWithdrawalLocked",
    "timeout": ("PAID", 4 * PENALTY),
    "withdrawn": 1_000 * MUSD,
    "bond": (DEPOSIT - 14 * PENALTY - 300 * MUSD - 4 * PENALTY - 1_000 * MUSD, 0),
    "claims": [(1, "PAID", 14 * PENALTY), (2, "PAID", 300 * MUSD), (3, "PAID", 4 * PENALTY)],
}


def test_scenario_on_the_embedded_chain(q: World) -> None:
    assert run_scenario(q) == EXPECTED
    assert ClaimStatus.PAID.name == "PAID"


def test_story_for_the_demo_pays_the_claim_from_the_bond(compiled: Project) -> None:
    from millchain.quality import play_quality_story

    session = Session(connect("local"), project=compiled)
    session.deploy()
    lines: list[str] = []
    result = play_quality_story(session, say=lambda *a: lines.append(" ".join(map(str, a))))
    assert result["affected"] == ["axle-supply", "mill-plant", "tractor-oem", "regulator"]
    assert result["acknowledged_by"] == ["mill-plant", "tractor-oem", "regulator", "axle-supply"]
    assert result["claim"] == {"id": 1, "amount": 350 * MUSD, "paid": 350 * MUSD, "status": "PAID",
                               "received_by_plant": 350 * MUSD}
    assert result["disclosed_field"] == {"name": "radial-runout-um", "value": "14 (limit 8)",
                                         "verified_on_chain": True}
    assert result["bond_left"] == DEPOSIT - 350 * MUSD
    assert result["attest_gas"] < 90_000
    assert any("FAIL" in line for line in lines)
    again = play_quality_story(session, say=lambda *a: None)  # safe to play twice on one chain
    assert again["claim"]["id"] == 2 and again["lots"] != result["lots"]
