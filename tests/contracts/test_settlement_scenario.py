"""The supply-chain settlement cast and one end-to-end scenario, shared by every settlement test module and by
the anvil integration test (tests/integration/test_settlement_anvil.py runs the very same ``run_scenario``).

The cast (dev account indices): 0 consortium (deployer: tax platform, arbiter, accreditor, token minter),
1 axle-supply (supplier), 2 mill-plant (buyer), 3 the carrier, 4 tuv-lab's inspector, 5 tuv-lab's admin,
6 a stranger, 7-9 owners of a 2-of-3 multisig standing in for a Safe.

Settlement tests run on their own embedded chain, set up once per session and snapshot-reverted per test, so
the cast (organisations, inspector, bond, balances) is not rebuilt for every test and other modules' shared
``local`` chain is left alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3.contract import Contract

from millchain.disclosure import SaltedDocument
from millchain.errors import ContractRevert
from millchain.events import decode_events
from millchain.project import Project
from millchain.quality import AlertRef, Finding, Outcome, QualityClient, Severity, Terms, org_id, product_id
from millchain.session import Session
from millchain.settlement import Order, OrderStatus, SettlementClient, lot_id, order_id
from millchain.settlement import Outcome as SettleOutcome
from tests.shared_chain import built_once

CONSORTIUM, SUPPLIER, BUYER, CARRIER, INSPECTOR, LAB, STRANGER, OWNER_A, OWNER_B, OWNER_C = range(10)
AXLE, MILL, TUV = org_id("axle-supply"), org_id("mill-plant"), org_id("tuv-lab")
BEARING, GEARBOX = product_id("bearing-6204"), product_id("gearbox-g3")
MUSD = 10**6
DAY = 86_400
PRICE = 12_500_000
"""12.5 mUSD per unit, tax included."""
QUANTITY = 1_000
WARRANTY = 90 * DAY
RETENTION_BPS = 500
TOLERANCE_BPS = 50
PENALTY = 25 * MUSD
BOND = 10_000 * MUSD
FIXED_GAS = 3_000_000
ZERO32 = b"\0" * 32


@contextmanager
def reverts(name: str, **args: Any) -> Iterator[None]:
    """Expect the custom error ``name`` with exactly ``args`` (addresses lowercase, bytes32 as bytes)."""
    with pytest.raises(ContractRevert) as caught:
        yield
    assert (caught.value.name, caught.value.args_by_name) == (name, args)


def events(contract: Contract, outcome: SettleOutcome, name: str) -> list[dict[str, Any]]:
    """The decoded arguments of every ``name`` event ``outcome``'s transaction emitted, in order."""
    return [dict(e["args"]) for e in decode_events(contract, outcome.receipt) if e["event"] == name]


@dataclass
class World:
    """The session, one settlement client per actor, the quality cast, and clock control for either chain."""

    session: Session
    gas: int | None = None
    """Fixed gas limit on the embedded chain: py-evm estimates by running a transaction a dozen times; a revert
    is then decoded by replaying the mined transaction, the path real nodes take for an unestimated send."""
    clients: dict[int, SettlementClient] = field(default_factory=dict)
    quality: dict[int, QualityClient] = field(default_factory=dict)
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __call__(self, index: int) -> SettlementClient:
        if index not in self.clients:
            self.clients[index] = SettlementClient(self.session, index, gas=self.gas)
        return self.clients[index]

    def qc(self, index: int) -> QualityClient:
        if index not in self.quality:
            self.quality[index] = QualityClient(self.session, index, gas=self.gas)
        return self.quality[index]

    @property
    def contract(self) -> Contract:
        return self(CONSORTIUM).contract

    @property
    def token(self) -> Contract:
        return self(CONSORTIUM).token(self.session.address("SettlementToken"))

    def address(self, index: int) -> str:
        return str(self.session.chain.account(index).address)

    def low(self, index: int) -> str:
        """An account's address as decoded revert arguments carry it (lowercase)."""
        return self.address(index).lower()

    def now(self) -> int:
        return self.session.chain.now()

    def advance(self, seconds: int) -> int:
        return self.session.chain.advance_time(seconds)

    def at(self, timestamp: int, send: Callable[[], Any]) -> Any:
        """Run ``send`` (one transaction) in a block stamped ``timestamp``."""
        chain = self.session.chain
        if chain.tester is not None:
            chain.tester.time_travel(timestamp)
        else:
            chain.w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]
        return send()

    def balance(self, who: int | str) -> int:
        address = self.address(who) if isinstance(who, int) else who
        return int(self.token.functions.balanceOf(address).call())

    def mint(self, who: int | str, amount: int) -> None:
        address = self.address(who) if isinstance(who, int) else who
        self(CONSORTIUM).tx.transact(self.token.functions.mint(address, amount), gas=self.gas)

    # ------------------------------------------------------------------ orders

    def order(self, **overrides: Any) -> Order:
        """A fresh order (unique id) between the cast's buyer and supplier; any field may be overridden."""
        number = next(self.numbers)
        fields: dict[str, Any] = {
            "order_id": order_id(f"PO-TEST-{number:04d}"), "buyer": self.address(BUYER),
            "supplier": self.address(SUPPLIER), "carrier": self.address(CARRIER),
            "token": self.session.address("SettlementToken"), "lines_commitment": b"\x11" * 32,
            "quantity": QUANTITY, "unit_price": PRICE, "delivery_deadline": self.now() + 30 * DAY,
            "retention_bps": RETENTION_BPS, "warranty_period": WARRANTY, "tolerance_bps": TOLERANCE_BPS,
        }
        fields.update(overrides)
        if "total" not in overrides:
            fields["total"] = fields["quantity"] * fields["unit_price"]
        return Order(**fields)

    def create(self, order: Order | None = None, *, funding: int = 0, by: int = BUYER) -> bytes:
        """Sign ``order`` as its buyer and supplier (dev keys) and submit it; returns its key."""
        order = order or self.order()
        buyer, supplier = self(BUYER), self(SUPPLIER)
        key, _ = self(by).create(order, buyer.sign(order), supplier.sign(order), funding=funding)
        return key

    def funded(self, **overrides: Any) -> tuple[bytes, Order]:
        """A created order with its whole total in escrow."""
        order = self.order(**overrides)
        return self.create(order, funding=order.total), order

    def ship(self, key: bytes, quantity: int, lots: Sequence[bytes] = ()) -> int:
        return self(CARRIER).ship(key, quantity, lots)[0]

    def delivered(self, key: bytes, quantity: int, lots: Sequence[bytes] = ()) -> int:
        shipment = self.ship(key, quantity, lots)
        self(CARRIER).deliver(key, shipment, quantity)
        return shipment

    def invoice(self, key: bytes, shipment: int, amount: int, tax: int = 0) -> SettleOutcome:
        return self(SUPPLIER).submit_invoice(key, shipment, amount, tax, b"\x1e" * 32)

    def invoiced(self, key: bytes, shipment: int, amount: int) -> SettleOutcome:
        """Submit and verify an invoice; returns the verification (which may settle)."""
        self.invoice(key, shipment, amount)
        return self(CONSORTIUM).verify_invoice(key, shipment)

    def settle_delivery(self, key: bytes, quantity: int, *, received: int | None = None,
                        lots: Sequence[bytes] = ()) -> tuple[int, SettleOutcome]:
        """Ship, deliver, receive and invoice exactly what the receipt makes due; returns the verification."""
        shipment = self.delivered(key, quantity, lots)
        got = quantity if received is None else received
        self(BUYER).confirm_receipt(key, shipment, got)
        return shipment, self.invoiced(key, shipment, got * PRICE)

    # ------------------------------------------------------------------ quality

    def supplier_lot(self, name: str, quantity: int = 5_000) -> bytes:
        lot = lot_id(name)
        self.qc(SUPPLIER).register_lot(lot, BEARING, quantity)
        return lot

    def passed(self, lot: bytes, *, by: int = INSPECTOR) -> int:
        ref, _ = self.qc(by).attest(Finding(lot=lot, outcome=Outcome.PASS, sample_size=50, defects=0,
                                            report_commitment=b"\x0a" * 32))
        return ref.seq

    def failed(self, lot: bytes, defects: int) -> int:
        ref, _ = self.qc(INSPECTOR).attest(Finding(lot=lot, outcome=Outcome.FAIL, severity=Severity.MAJOR,
                                                   sample_size=200, defects=defects,
                                                   report_commitment=b"\x0e" * 32))
        return ref.seq

    def consume(self, lot: bytes, name: str) -> bytes:
        """The buyer registers a lot built from ``lot``: it becomes a buyer of ``lot`` for claims."""
        consumer = lot_id(name)
        self.qc(BUYER).register_lot(consumer, GEARBOX, 100, inputs=[lot])
        return consumer


def deploy(world: World, name: str, *args: Any) -> Contract:
    """Deploy a contract (a test wallet or token) from the consortium account."""
    artifact = world.session.artifact(name)
    factory = world.session.chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = world(CONSORTIUM).tx.send({"data": factory.constructor(*args).data_in_transaction})
    return world.session.chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def multisig(world: World, owners: Sequence[int] = (OWNER_A, OWNER_B, OWNER_C), threshold: int = 2) -> Contract:
    """A 2-of-3 multisig standing in for a Safe."""
    return deploy(world, "SettlementMultisigWallet", [world.address(i) for i in owners], threshold)


def multisig_signature(world: World, digest: bytes, signers: Sequence[int]) -> bytes:
    """The owners' signatures of ``digest``, concatenated in ascending owner order (as a Safe wants them)."""
    keys = sorted((world.session.chain.account(i) for i in signers), key=lambda a: int(a.address, 16))
    return b"".join(bytes(Account.unsafe_sign_hash(digest, a.key).signature) for a in keys)


def through(world: World, wallet: Contract, owner: int, call: Any) -> Any:
    """Send ``call`` (a contract function) as ``wallet``, by one of its owners."""
    target, data = call.address, call._encode_transaction_data()
    return world(owner).tx.transact(wallet.functions.execute(target, data), gas=world.gas)


def build_world(session: Session) -> World:
    """Organisations, an accredited lab inspector, the supplier's funded bond, tokens for the buyer."""
    world = World(session, gas=FIXED_GAS if session.chain.embedded else None)
    admin = world.qc(CONSORTIUM)
    for org, who in ((AXLE, SUPPLIER), (MILL, BUYER), (TUV, LAB)):
        admin.register_organisation(org, world.address(who))
    admin.accredit(world.address(INSPECTOR), TUV)
    world.qc(SUPPLIER).set_terms(AXLE, BEARING, Terms(penalty_per_defect=PENALTY, claim_cap=2_000 * MUSD,
                                                      dispute_window=3 * DAY))
    world.mint(SUPPLIER, BOND)
    world.qc(SUPPLIER).deposit(AXLE, BEARING, BOND)
    world.mint(BUYER, 1_000_000 * MUSD)
    buyer = world(BUYER)
    buyer.tx.transact(world.token.functions.approve(buyer.contract.address, 2**256 - 1), gas=world.gas)
    return world


def shared_world(project: Project) -> tuple[World, Any]:
    """The cast on its own embedded chain, built once per test process (every settlement module shares it)."""
    return built_once("settlement", project, build_world)


# ---------------------------------------------------------------------------------------------- the scenario


def run_scenario(world: World, say: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """An order of 1,000 bearings at 12.5 mUSD with QC, 5 % retention and a 0.5 % tolerance, funded 60 % up
    front. Shipment 1 (600 units, two lots) is received short but within tolerance; its first invoice does not
    match the receipt and settles nothing, the corrected one settles pro rata. Shipment 2 (400 units) is received
    by QC pass attestations and waits for funds; the funding that names it settles it. A failed lot found in
    the warranty is claimed against the supplier's bond and draws the defective units' price from the retention;
    the rest of the retention is released after the warranty; past the deadline the buyer takes back what is
    left. Returns the observable outcome (no chain-specific values)."""
    buyer, supplier, carrier, platform = world(BUYER), world(SUPPLIER), world(CARRIER), world(CONSORTIUM)
    out: dict[str, Any] = {}
    start = {who: world.balance(who) for who in (BUYER, SUPPLIER)}
    lots = [world.supplier_lot(f"scenario-bearings-{n}") for n in range(3)]
    lines = SaltedDocument.commit({"item": "bearing 6204-2RS", "quantity": "1000", "delivery": "mill-plant dock 2"})
    order = world.order(qc_required=True, lines_commitment=HexBytes(lines.root))
    key = world.create(order, funding=7_500 * MUSD)
    say(f"order {order.key.hex()[:10]}… created, 7,500 mUSD in escrow")

    first, shipped = carrier.ship(key, 600, lots[:2])
    checkpoint = SaltedDocument.commit({"place": "G4 toll station Xinyang", "time": "2025-05-02T06:14Z"})
    carrier.checkpoint(key, first, HexBytes(checkpoint.root))
    carrier.deliver(key, first, 600)
    buyer.confirm_receipt(key, first, 598)
    world.invoice(key, first, 600 * PRICE)
    wrong = platform.verify_invoice(key, first)
    out["invoice_mismatch"] = [(m.flow.name, m.expected, m.actual) for _, m in wrong.mismatches]
    out["moved_on_mismatch"] = events(world.contract, wrong, "ShipmentSettled")
    corrected = world.invoiced(key, first, 598 * PRICE)
    out["first_settled"] = corrected.settled[0]["paid"], corrected.settled[0]["retained"]
    say(f"shipment 1 settled after a corrected invoice: {corrected.settled[0]}")

    second, _ = carrier.ship(key, 400, lots[2:])
    carrier.deliver(key, second, 400)
    world.passed(lots[2])
    buyer.confirm_receipt_by_inspection(key, second)
    short = world.invoiced(key, second, 400 * PRICE)
    out["funds_mismatch"] = [(m.flow.name, m.expected, m.actual) for _, m in short.mismatches]
    paid = buyer.fund(key, 5_000 * MUSD, settle_shipment=second)
    out["second_settled"] = paid.settled[0]["paid"], paid.settled[0]["retained"]
    view = buyer.get(key)
    out["after_deliveries"] = (view.status.name, view.settled, view.escrow, view.retention)

    failure = world.failed(lots[0], defects=4)
    world.consume(lots[0], "scenario-gearboxes-1")
    claim_id, _ = world.qc(BUYER).file_claim(AlertRef(lots[0], failure))
    buyer.apply_quality_claim(key, claim_id)
    held = buyer.get(key).holds
    world.qc(SUPPLIER).accept_claim(claim_id)
    drawn = buyer.apply_quality_claim(key, claim_id)
    out["claim"] = (held, events(world.contract, drawn, "RetentionDrawn")[0]["amount"])

    world.advance(WARRANTY + 1)
    released = supplier.release_retention(key)
    out["released"] = events(world.contract, released, "RetentionReleased")[0]["amount"]
    refunded = buyer.refund(key)
    out["refunded"] = events(world.contract, refunded, "EscrowRefunded")[0]["amount"]

    final = buyer.get(key)
    out["final"] = (final.status.name, final.escrow, final.retention)
    out["deltas"] = (world.balance(BUYER) - start[BUYER], world.balance(SUPPLIER) - start[SUPPLIER])
    funds = buyer.funds(key)
    out["funds"] = (funds.funded, funds.paid, funds.refunded, funds.escrow, funds.retention, funds.balanced)
    out["shipped"] = shipped.events
    assert final.status is OrderStatus.ACTIVE
    return out


EXPECTED = {
    "invoice_mismatch": [("INVOICE", 598 * PRICE, 600 * PRICE)],
    "moved_on_mismatch": [],
    "first_settled": (598 * PRICE * 95 // 100, 598 * PRICE * 5 // 100),
    "funds_mismatch": [("FUNDS", 400 * PRICE, 7_500 * MUSD - 598 * PRICE)],
    "second_settled": (400 * PRICE * 95 // 100, 400 * PRICE * 5 // 100),
    "after_deliveries": ("ACTIVE", 998, 25 * MUSD, 998 * PRICE * 5 // 100),
    "claim": (1, 4 * PRICE),
    "released": 998 * PRICE * 5 // 100 - 4 * PRICE,
    "refunded": 25 * MUSD,
    "final": ("ACTIVE", 0, 0),
    "deltas": (-(998 * PRICE) + 4 * PRICE + 4 * PENALTY, 998 * PRICE - 4 * PRICE),
    "funds": (12_500 * MUSD, 998 * PRICE - 4 * PRICE, 25 * MUSD + 4 * PRICE, 0, 0, True),
    "shipped": ["GoodsShipped"],
}


def test_the_scenario_settles_four_flows_on_the_embedded_chain(w: World) -> None:
    assert run_scenario(w) == EXPECTED
