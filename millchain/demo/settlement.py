"""The supply-chain part of the factory day: an order settled when its four flows agree (四流合一).

A building-materials plant (the buyer) orders 400 t of cement from a cement works (the supplier) at 52.5 mUSD/t,
tax included, with a 5 % retention for 90 days and a 0.5 % quantity tolerance. Both sign the order (EIP-712);
the supplier submits it and the plant funds the escrow with an ERC-2612 permit. A haulier (the carrier) ships a
first, partial load of 240 t, passes a toll station (a committed checkpoint) and delivers; the plant weighs
239 t in. The cement works invoices the shipped 240 t: the tax platform verifies the invoice, the settlement
check finds it does not match the receipt and moves nothing. The corrected invoice is verified and the
shipment settles at once, pro rata: 239 t paid less the retention. The other 160 t stay in escrow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hexbytes import HexBytes

from millchain.disclosure import SaltedDocument
from millchain.session import Session
from millchain.settlement import Flow, Mismatch, Order, SettlementClient, lot_id, order_id
from millchain.units import format_amount

PLATFORM, BUYER, SUPPLIER, CARRIER = 0, 4, 5, 6
"""Development accounts: the deployer holds the tax-platform role on dev chains; the others play the plant, the
cement works and the haulier."""
DECIMALS = 6
PRICE = 52_500_000
QUANTITY = 400
DAY = 86_400


@dataclass
class SettlementStory:
    order_id: str
    quantity: int
    unit_price: int
    shipped: int = 0
    delivered: int = 0
    received: int = 0
    mismatches: list[str] = field(default_factory=list)
    settled_quantity: int = 0
    paid: int = 0
    retained: int = 0
    escrow_left: int = 0
    events: list[str] = field(default_factory=list)


def usd(amount: int) -> str:
    return format_amount(amount, DECIMALS) + " mUSD"


def described(mismatch: Mismatch) -> str:
    """A mismatch in the flow's own unit: money for the invoice and the funds, goods for the logistics."""
    show = usd if mismatch.flow in (Flow.INVOICE, Flow.FUNDS) else str
    return f"{mismatch.flow.name.lower()} flow: expected {show(mismatch.expected)}, got {show(mismatch.actual)}"


def play_settlement_story(session: Session, say: Callable[..., Any] = print, *, tag: str = "") -> SettlementStory:
    gas = 1_000_000 if session.chain.embedded else None
    platform = SettlementClient(session, PLATFORM, gas=gas)
    buyer, supplier, carrier = (platform.as_account(i) for i in (BUYER, SUPPLIER, CARRIER))
    token = session.address("SettlementToken")
    story = SettlementStory(order_id=f"PO-CEMENT-0001{tag}", quantity=QUANTITY, unit_price=PRICE)
    platform.tx.transact(platform.token(token).functions.mint(buyer.address, QUANTITY * PRICE), gas=gas)

    lines = SaltedDocument.commit({"item": "cement P.O 42.5, bulk", "quantity": "400 t",
                                   "delivery": "plant 3, silo 2", "standard": "GB 175-2023"})
    order = Order.build(order_id=order_id(story.order_id), buyer=buyer.address, supplier=supplier.address,
                        carrier=carrier.address, token=token, lines_commitment=HexBytes(lines.root),
                        quantity=QUANTITY, unit_price=PRICE, delivery_deadline=platform.now() + 30 * DAY,
                        retention_bps=500, warranty_period=90 * DAY, tolerance_bps=50)
    key, _ = supplier.create(order, buyer.sign(order), supplier.sign(order))
    say(f"order {story.order_id}: {QUANTITY} t cement at {usd(PRICE)}/t = {usd(order.total)}, signed by plant "
        "and cement works (EIP-712), submitted by the cement works")
    buyer.fund(key, order.total, permit=True)
    say(f"  funds     the plant escrows {usd(order.total)} (ERC-2612 permit, no approval transaction)")

    loads = [lot_id("CW-2025-0612-A"), lot_id("CW-2025-0612-B")]
    shipment, _ = carrier.ship(key, 240, loads)
    toll = SaltedDocument.commit({"place": "G4 toll station Xinyang north", "time": "2025-06-12T06:14+08:00",
                                  "vehicle": "truck 17"})
    carrier.checkpoint(key, shipment, HexBytes(toll.root))
    carrier.deliver(key, shipment, 240)
    story.shipped = story.delivered = 240
    say("  logistics 240 t shipped in 2 lots, checkpoint at a toll station (committed), delivered 240 t")
    buyer.confirm_receipt(key, shipment, 239)
    story.received = 239
    say("  receipt   the plant weighs in 239 t (within the 0.5 % tolerance)")

    def invoice(amount: int) -> None:
        document = SaltedDocument.commit({"number": "44031900-0042", "amount": str(amount), "seller": "cement works",
                                          "buyer": "building-materials plant"})
        supplier.submit_invoice(key, shipment, amount, amount * 13 // 113, HexBytes(document.root))
        outcome = platform.verify_invoice(key, shipment)
        story.events.extend(outcome.events)
        for _, mismatch in outcome.mismatches:
            story.mismatches.append(described(mismatch))
            say(f"  invoice   {usd(amount)} verified, but the flows disagree ({described(mismatch)}) -> nothing moved")
        for settled in outcome.settled:
            story.settled_quantity, story.paid, story.retained = (settled["quantity"], settled["paid"],
                                                                  settled["retained"])
            say(f"  invoice   {usd(amount)} verified -> settled in the same transaction: {usd(settled['paid'])} "
                f"to the cement works, {usd(settled['retained'])} retained for 90 days")

    invoice(240 * PRICE)  # the shipped quantity, not the received one
    invoice(239 * PRICE)
    story.escrow_left = buyer.get(key, events=False).escrow
    say(f"  escrow    {usd(story.escrow_left)} waits for the remaining 161 t")
    return story
