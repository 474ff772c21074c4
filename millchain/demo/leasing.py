"""The leasing part of the factory day: a press leased per unit, billed from its own signed counters.

A machine maker (the lessor) leases press-01 to a factory (the lessee) at a price per part plus a price per
runtime hour. The press signs its cumulative counters; a relayer submits them; the escrow pays the lessor.
The escrow runs dry, the lease is suspended (the oracle would lock the press), a top-up resumes it; at the end
the lessee closes with the lessor's consent and gets the rest of the escrow back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account

from millchain.events import event_names
from millchain.identity import MachineRegistryClient
from millchain.leasing import LeaseClient, LeaseStatus, LeaseTerms
from millchain.session import Session
from millchain.typed_data import DeviceSigner, UsageReport
from millchain.types import machine_id
from millchain.units import format_amount

LESSOR, LESSEE, RELAYER = 1, 2, 3
"""Development account indexes playing the machine maker, the factory and the oracle's relayer."""
DECIMALS = 6
HOUR = 3600


@dataclass
class LeaseStory:
    lease_id: int
    machine: str
    timeline: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    billed: int = 0
    units: int = 0
    refund: int = 0


def usd(amount: int) -> str:
    return format_amount(amount, DECIMALS) + " mUSD"


def play_lease_story(session: Session, say: Callable[..., Any] = print) -> LeaseStory:
    admin = session.transactor(0)
    token = session.contract("SettlementToken")
    lessor = LeaseClient(session, LESSOR)
    lessee = LeaseClient(session, LESSEE)
    relayer = LeaseClient(session, RELAYER)
    admin.transact(token.functions.mint(lessee.tx.address, 1_000 * 10**DECIMALS))

    device = Account.create()  # lives in the press (or the edge box's keystore), never on a disk in clear
    press = machine_id("press-01")
    MachineRegistryClient(session, LESSOR).register(press, device.address)
    terms = LeaseTerms(token=token.address, price_per_unit=250_000, price_per_hour=2 * 10**DECIMALS,
                       min_balance=40 * 10**DECIMALS, max_rate_per_hour=600,
                       ends_at=session.chain.now() + 30 * 24 * HOUR, heartbeat=2 * HOUR, grace_period=HOUR)
    lease_id = lessor.offer(press, terms)
    lessee.open(lease_id, 100 * 10**DECIMALS, permit=True)
    story = LeaseStory(lease_id=lease_id, machine="press-01")
    say(f"lease {hex(lease_id)}: press-01 from the machine maker to the factory at {usd(terms.price_per_unit)}"
        f"/part + {usd(terms.price_per_hour)}/h, 100 mUSD prepaid (ERC-2612 permit)")

    signer = DeviceSigner(bytes(device.key), relayer.hasher)
    counter = runtime = 0

    def report(parts: int, seconds: int) -> None:
        nonlocal counter, runtime
        session.chain.advance_time(seconds)
        counter += parts
        runtime += seconds
        signed = signer.sign(UsageReport(lease_id=lease_id, machine_id=press, counter=counter,
                                         runtime_seconds=runtime, timestamp=session.chain.now()))
        receipt = relayer.submit(signed)
        lease = lessee.get(lease_id)
        for name in event_names(relayer.contract, receipt):
            if name in ("LeaseSuspended", "EscrowFellBelowMinimum", "LeaseResumed"):
                story.events.append(name)
                say(f"  event {name}")
        story.timeline.append({"time": session.chain.now(), "counter": counter, "escrow": lease.escrow,
                               "earnings": lease.earnings, "debt": lease.debt, "status": lease.status.name})
        say(f"  counter {counter:>5}  runtime {runtime / HOUR:>4.1f} h  escrow {usd(lease.escrow):>14}  "
            f"debt {usd(lease.debt):>12}  {lease.status.name}")

    report(0, 60)  # the first reading after opening anchors the counters and bills nothing
    for parts in (120, 180, 150):
        report(parts, HOUR)
    if lessee.get(lease_id).status is LeaseStatus.SUSPENDED:
        say("  escrow ran dry: lease suspended, the press is locked until the factory tops up")
        lessee.top_up(lease_id, 200 * 10**DECIMALS)
        say(f"  factory topped up 200 mUSD -> {lessee.get(lease_id).status.name}")
    for parts in (200, 90):
        report(parts, HOUR)

    lessor.consent_to_close(lease_id)
    lessee.close(lease_id)
    session.chain.advance_time(terms.grace_period)
    before = token.functions.balanceOf(lessee.tx.address).call()
    lessee.withdraw_refund(lease_id)
    story.refund = token.functions.balanceOf(lessee.tx.address).call() - before
    statement = lessor.statement(lease_id)
    lessor.withdraw_earnings(lease_id)
    story.billed, story.units = statement.total_billed, statement.total_units
    say(f"closed: {story.units} parts billed {usd(story.billed)} to the machine maker, "
        f"{usd(story.refund)} refunded to the factory; press-01 free for the next lease")
    return story
