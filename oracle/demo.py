"""The leasing part of the factory day, through the real oracle: three leased machines, one shift.

A machine maker leases a press, a lathe and a mill to a factory, paid per part. The oracle (simulator
source, gateway signing with encrypted device keystores) turns their counters into signed reports and
settles them; the press, the busiest, runs its escrow dry and is locked; the factory tops up and it is
unlocked; at the end of the shift the lathe's lease closes and its escrow is refunded.

The shift runs on the demo's chain clock: the oracle is stepped (tick, ingest, submit, watch) every
simulated half hour, so a day takes seconds on the embedded chain and on anvil alike. `millchain demo`
finds this through the `millchain.demo` entry point: the SDK never imports the oracle.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account

from millchain.fleet import LESSEE, LESSOR, lease_fleet
from millchain.leasing import LeaseClient, LeaseStatus
from millchain.session import Session
from millchain.units import format_amount
from oracle.config import ChainSettings, MachineSettings, OracleSettings
from oracle.service import Embedding, OracleService
from oracle.sources import Telemetry
from oracle.sources.simulator import SimulatedMachine, SimulatorCommander, SimulatorSource

RELAYER = 3
STEP = 1800  # seconds of shift per oracle step
STEPS = 12  # a six-hour shift
PRICE = 50_000  # 0.05 mUSD per part
ESCROW = 120 * 10**6
TOP_UP = 400 * 10**6
RATES = {"press-01": 1500, "lathe-02": 300, "mill-03": 200}  # parts per hour


def usd(amount: int) -> str:
    return format_amount(amount, 6) + " mUSD"


def _keystores(folder: Path, keys: dict[str, bytes], password: str) -> dict[str, Path]:
    """Device keys as an edge box keeps them: encrypted files (scrypt), unlocked by the oracle at start."""
    paths = {}
    for name, key in keys.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(Account.encrypt(key, password)))
        path.chmod(0o600)
        paths[name] = path
    return paths


async def _shift(session: Session, say: Callable[..., Any], work: Path, tag: str) -> dict[str, Any]:
    rates = {f"{name}{tag}": rate for name, rate in RATES.items()}  # unique names on a node that keeps state
    press, lathe = (f"{name}{tag}" for name in ("press-01", "lathe-02"))
    fleet = lease_fleet(session, list(rates), escrow=ESCROW, price_per_unit=PRICE, max_rate_per_hour=5_000,
                        heartbeat=2 * 3600, grace_period=3600)
    password = secrets.token_hex(16)
    keystores = _keystores(work, {m.name: m.device_key for m in fleet}, password)
    settings = OracleSettings(
        chain=ChainSettings(network=session.chain.network, relayer_dev_account=RELAYER),
        machines=[MachineSettings(name=m.name, machine_id=m.name, source="simulator",
                                  device_keystore=keystores[m.name]) for m in fleet],
        outbox=work / "outbox.sqlite", metrics_port=0, max_clock_skew_s=600)
    records = {name: session.store.get(name) or {} for name in ("EquipmentLease", "MachineRegistry")}
    clock = lambda: float(session.chain.now())  # noqa: E731 - the oracle and the machines share the chain's clock
    machines = [SimulatedMachine(name, rate, jitter=0.15, clock=clock, seed=i) for i, (name, rate) in
                enumerate(rates.items())]
    commander = SimulatorCommander(machines)
    service = OracleService(settings, commanders=dict.fromkeys(rates, commander),
                            embedding=Embedding(session.chain, records, password, clock))
    source = SimulatorSource(machines, interval=STEP)
    lessee = LeaseClient(session, LESSEE)
    leases = {m.name: m.lease_id for m in fleet}
    say(f"{len(fleet)} machines leased to the factory at {usd(PRICE)}/part, {usd(ESCROW)} prepaid each; "
        "the oracle signs their counters with each machine's key and settles them in batches")

    inbox: list[Telemetry] = []

    async def emit(telemetry: Telemetry) -> None:
        inbox.append(telemetry)

    timeline: list[dict[str, Any]] = []
    topped_up = False
    await service.watcher.step()
    session.chain.advance_time(1)  # the first readings come after the opening block: they anchor the counters
    for step in range(STEPS + 1):
        await source.tick(emit)
        service.ingest(inbox)
        inbox.clear()
        service.submitter.tick()  # sends the batch
        service.submitter.tick()  # records its receipt
        await service.watcher.step()
        row: dict[str, Any] = {"time": session.chain.now(), "hour": step * STEP / 3600, "machines": {}}
        for machine in machines:
            lease = lessee.get(leases[machine.name])
            row["machines"][machine.name] = {"counter": lease.last_counter, "escrow": lease.escrow,
                                             "billed": lease.earnings, "debt": lease.debt,
                                             "status": lease.status.name, "locked": machine.locked}
        timeline.append(row)
        dry = row["machines"][press]
        say(f"  {row['hour']:4.1f} h  " + "  ".join(
            f"{name} {m['counter']:>5} parts {usd(m['escrow']):>12}{' LOCKED' if m['locked'] else ''}"
            for name, m in row["machines"].items()))
        if dry["locked"] and not topped_up:
            say(f"  {press}'s escrow ran dry: lease {LeaseStatus.SUSPENDED.name}, debt {usd(dry['debt'])}; "
                "the oracle locked the press")
            token = session.contract("SettlementToken")
            session.tx.transact(token.functions.mint(lessee.tx.address, TOP_UP))  # the factory buys more mUSD
            lessee.top_up(leases[press], TOP_UP)
            await service.watcher.step()
            topped_up = True
            say(f"  the factory topped up {usd(TOP_UP)}: debt paid, lease active, press unlocked = "
                f"{not machines[0].locked}")
        if step < STEPS:
            session.chain.advance_time(STEP)

    # End of the shift: the lathe's lease closes with the maker's consent, the escrow left goes back.
    lessor = LeaseClient(session, LESSOR)
    lessor.consent_to_close(leases[lathe])
    lessee.close(leases[lathe])
    await service.watcher.step()
    session.chain.advance_time(3601)
    token_of_lathe = lessee.token(lessee.get(leases[lathe]).terms.token)
    before = token_of_lathe.functions.balanceOf(lessee.tx.address).call()
    lessee.withdraw_refund(leases[lathe])
    after = token_of_lathe.functions.balanceOf(lessee.tx.address).call()
    say(f"  {lathe}'s lease closed: {usd(after - before)} refunded to the factory; the oracle locked the idle "
        f"lathe = {machines[1].locked}; it is free for the next lease")
    summary: dict[str, dict[str, Any]] = {}
    for machine in machines:
        statement = lessor.statement(leases[machine.name])
        summary[machine.name] = {"lease": hex(leases[machine.name]), "units": statement.total_units,
                                 "billed": statement.total_billed,
                                 "counter": statement.lease.last_counter,
                                 "anchor": statement.lines[0].counter if statement.lines else 0}
    say("  billed: " + ", ".join(f"{n} {s['units']} parts = {usd(s['billed'])}" for n, s in summary.items()))
    service.outbox.close()
    return {"timeline": timeline, "summary": summary, "commands": [list(c) for c in commander.log],
            "refund": after - before}


def play(session: Session, say: Callable[..., Any] = print, *, tag: str = "") -> dict[str, Any]:
    """Entry point `millchain.demo:leasing`. ``tag`` suffixes the machine names, so the day can be played again
    on a node that keeps the last run's machines."""
    with tempfile.TemporaryDirectory(prefix="millchain-oracle-") as tmp:
        return asyncio.run(_shift(session, say, Path(tmp), tag))
