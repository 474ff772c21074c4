"""millchain lease offer | open | top-up | consent-close | close | withdraw | report | show | statement"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from eth_utils import is_address
from hexbytes import HexBytes

from millchain.chain import load_keystore
from millchain.cli.common import console, emit_json, err_console, json_option, model_json, network_options, table
from millchain.errors import ConfigError
from millchain.index import reader as index_reader
from millchain.leasing import Lease, LeaseClient, LeaseTerms, lease_hex, parse_lease_id
from millchain.session import Session
from millchain.typed_data import DeviceSigner, UsageReport
from millchain.types import machine_id
from millchain.units import format_amount, parse_amount, parse_duration


def _iso(unix: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


def _decimals(client: LeaseClient, token: str) -> int:
    return client.token_decimals(token)


def _done(receipt: Any, what: str) -> None:
    console.print(f"{what}: tx {HexBytes(receipt['transactionHash']).to_0x_hex()} "
                  f"block {receipt['blockNumber']} gas {receipt['gasUsed']}")


def _lease_rows(lease: Lease, decimals: int) -> list[tuple[str, object]]:
    def money(value: int) -> str:
        return format_amount(value, decimals)

    terms = lease.terms
    return [
        ("lease", lease.lease_hex), ("machine", lease.machine_id), ("status", lease.status.name),
        ("lessor", lease.lessor), ("lessee", lease.lessee), ("token", terms.token),
        ("price per unit", money(terms.price_per_unit)), ("price per hour", money(terms.price_per_hour)),
        ("min balance", money(terms.min_balance)), ("max rate (units/h)", terms.max_rate_per_hour),
        ("ends at", terms.ends_at), ("heartbeat (s)", terms.heartbeat), ("grace (s)", terms.grace_period),
        ("last counter", lease.last_counter), ("last runtime (s)", lease.last_runtime_seconds),
        ("last report at", lease.last_timestamp), ("escrow", money(lease.escrow)),
        ("earnings (unwithdrawn)", money(lease.earnings)), ("debt", money(lease.debt)),
    ]


def _show(client: LeaseClient, lease_id: int, as_json: bool) -> None:
    lease = client.get(lease_id)
    if as_json:
        emit_json({**model_json(lease), "lease_id": lease.lease_hex})
        return
    table(f"lease {lease.lease_hex}", ["field", "value"], _lease_rows(lease, _decimals(client, lease.terms.token)))


@click.group()
def lease() -> None:
    """Pay-per-use equipment leases billed from device-signed counters."""


@lease.command("offer")
@click.argument("machine_label", metavar="MACHINE_ID")
@click.option("--price-per-unit", required=True, help="Token amount per unit produced, e.g. 0.25.")
@click.option("--price-per-hour", default="0", show_default=True, help="Token amount per runtime hour.")
@click.option("--min-balance", default="0", show_default=True, help="Escrow below this raises a low-balance event.")
@click.option("--max-rate", type=click.IntRange(min=1), required=True, help="Most units per hour the machine can make.")
@click.option("--duration", default="30d", show_default=True, help="Lease term from now (90s, 8h, 30d, 2w).")
@click.option("--heartbeat", default="1h", show_default=True, help="Report silence after which the lease is stale.")
@click.option("--grace", default="1d", show_default=True, help="After closing, reports up to the close still settle.")
@click.option("--token", "token_address", default=None,
              help="Settlement token [default: the deployed SettlementToken].")
@click.option("--lessee", default=None, help="Reserve the offer for this address: nobody else can open it.")
@network_options
@json_option
def offer(machine_label: str, price_per_unit: str, price_per_hour: str, min_balance: str, max_rate: int,
          duration: str, heartbeat: str, grace: str, token_address: str | None, lessee: str | None,
          session: Session, as_json: bool) -> None:
    """Offer MACHINE_ID (which you own) for lease on these terms."""
    client = LeaseClient(session)
    token = token_address or session.address("SettlementToken")
    decimals = _decimals(client, token)
    now = int(session.chain.w3.eth.get_block("latest")["timestamp"])
    terms = LeaseTerms(
        token=token, price_per_unit=parse_amount(price_per_unit, decimals, what="--price-per-unit"),
        price_per_hour=parse_amount(price_per_hour, decimals, what="--price-per-hour"),
        min_balance=parse_amount(min_balance, decimals, what="--min-balance"), max_rate_per_hour=max_rate,
        ends_at=now + parse_duration(duration, what="--duration"),
        heartbeat=parse_duration(heartbeat, what="--heartbeat"), grace_period=parse_duration(grace, what="--grace"))
    if lessee is not None and not is_address(lessee):
        raise ConfigError(f"--lessee {lessee!r} is not an address (0x followed by 40 hex digits)")
    lease_id = client.offer(machine_id(machine_label), terms, lessee=lessee)
    if not as_json:
        console.print(f"offered lease {lease_hex(lease_id)}")
    _show(client, lease_id, as_json)


@lease.command("open")
@click.argument("lease_text", metavar="LEASE_ID")
@click.option("--deposit", required=True, help="Escrow to prepay, in token units (e.g. 500).")
@click.option("--permit", is_flag=True, help="Sign an ERC-2612 permit instead of sending an approve first.")
@network_options
@json_option
def open_lease(lease_text: str, deposit: str, permit: bool, session: Session, as_json: bool) -> None:
    """Accept offer LEASE_ID and deposit the escrow in the same call."""
    client = LeaseClient(session)
    lease_id = parse_lease_id(lease_text)
    amount = parse_amount(deposit, _decimals(client, client.get(lease_id).terms.token), what="--deposit")
    receipt = client.open(lease_id, amount, permit=permit)
    if not as_json:
        _done(receipt, "opened")
    _show(client, lease_id, as_json)


@lease.command("top-up")
@click.argument("lease_text", metavar="LEASE_ID")
@click.argument("amount")
@click.option("--permit", is_flag=True, help="Sign an ERC-2612 permit instead of sending an approve first.")
@network_options
@json_option
def top_up(lease_text: str, amount: str, permit: bool, session: Session, as_json: bool) -> None:
    """Add AMOUNT to the escrow of LEASE_ID; debt is paid first and a suspended lease resumes."""
    client = LeaseClient(session)
    lease_id = parse_lease_id(lease_text)
    value = parse_amount(amount, _decimals(client, client.get(lease_id).terms.token), what="AMOUNT")
    receipt = client.top_up(lease_id, value, permit=permit)
    if not as_json:
        _done(receipt, "topped up")
    _show(client, lease_id, as_json)


@lease.command("consent-close")
@click.argument("lease_text", metavar="LEASE_ID")
@network_options
def consent_close(lease_text: str, session: Session) -> None:
    """(Lessor) allow the lessee to close LEASE_ID before its end date."""
    _done(LeaseClient(session).consent_to_close(parse_lease_id(lease_text)), "consented")


@lease.command("close")
@click.argument("lease_text", metavar="LEASE_ID")
@network_options
@json_option
def close(lease_text: str, session: Session, as_json: bool) -> None:
    """Close LEASE_ID (after its end date, or early by the lessee with the lessor's consent)."""
    client = LeaseClient(session)
    lease_id = parse_lease_id(lease_text)
    receipt = client.close(lease_id)
    if not as_json:
        _done(receipt, "closed")
    _show(client, lease_id, as_json)


@lease.command("withdraw")
@click.argument("lease_text", metavar="LEASE_ID")
@click.option("--earnings", "which", flag_value="earnings", help="Lessor: billed amounts.")
@click.option("--refund", "which", flag_value="refund", help="Lessee: escrow left after the grace period.")
@network_options
def withdraw(lease_text: str, which: str | None, session: Session) -> None:
    """Withdraw what LEASE_ID owes you (earnings as lessor, refund as lessee)."""
    client = LeaseClient(session)
    lease_id = parse_lease_id(lease_text)
    if which is None:
        lease_record = client.get(lease_id)
        me = client.tx.address
        which = "earnings" if me == lease_record.lessor else "refund" if me == lease_record.lessee else None
        if which is None:
            raise ConfigError(f"{me} is neither the lessor nor the lessee of lease {lease_hex(lease_id)}")
    receipt = client.withdraw_earnings(lease_id) if which == "earnings" else client.withdraw_refund(lease_id)
    _done(receipt, f"withdrew {which}")


@lease.command("report")
@click.argument("lease_text", metavar="LEASE_ID")
@click.option("--counter", type=click.IntRange(min=0), required=True, help="Cumulative units produced.")
@click.option("--runtime", type=click.IntRange(min=0), required=True, help="Cumulative runtime, seconds.")
@click.option("--timestamp", type=click.IntRange(min=0), default=None, help="Device time [default: now].")
@click.option("--device-keystore", type=click.Path(path_type=Path), required=True,
              help="The machine's key (encrypted keyfile; password: $MILLCHAIN_DEVICE_PASSWORD or a prompt).")
@network_options
def report(lease_text: str, counter: int, runtime: int, timestamp: int | None, device_keystore: Path,
           session: Session) -> None:
    """Sign a usage reading with the device key and submit it (normally the oracle does this)."""
    client = LeaseClient(session)
    lease_id = parse_lease_id(lease_text)
    lease_record = client.get(lease_id)
    device = load_keystore(device_keystore, os.environ.get("MILLCHAIN_DEVICE_PASSWORD"))
    signed = DeviceSigner(bytes(device.key), client.hasher).sign(UsageReport(
        lease_id=lease_id, machine_id=machine_id(lease_record.machine_id), counter=counter,
        runtime_seconds=runtime, timestamp=timestamp if timestamp is not None else int(time.time())))
    _done(client.submit(signed), "submitted")


@lease.command("show")
@click.argument("lease_text", metavar="LEASE_ID")
@network_options
@json_option
def show(lease_text: str, session: Session, as_json: bool) -> None:
    """Terms, state and balances of LEASE_ID."""
    _show(LeaseClient(session), parse_lease_id(lease_text), as_json)


@lease.command("statement")
@click.argument("lease_text", metavar="LEASE_ID")
@click.option("--csv", "as_csv", is_flag=True,
              help="CSV on stdout, as the table: amounts in tokens, times in ISO 8601 UTC (plus base units).")
@network_options
@json_option
def statement(lease_text: str, as_csv: bool, session: Session, as_json: bool) -> None:
    """Every settled report of LEASE_ID, total billed, debt and escrow left."""
    client = LeaseClient(session)
    st, source = index_reader.statement(session, client, parse_lease_id(lease_text))
    err_console.print(source, highlight=False, soft_wrap=True)
    if as_json:
        emit_json({"lease": st.lease.lease_hex, "lines": [line.model_dump() for line in st.lines],
                   "total_units": st.total_units, "total_billed": st.total_billed,
                   "debt": st.lease.debt, "escrow": st.lease.escrow})
        return
    decimals = _decimals(client, st.lease.terms.token)
    if as_csv:
        # What the table shows (a spreadsheet reads both columns), with the exact base units for reconciliation.
        writer = csv.writer(sys.stdout)
        writer.writerow(["block", "time", "counter", "units", "amount", "amount_base_units", "tx_hash"])
        for line in st.lines:
            writer.writerow([line.block, _iso(line.time), line.counter, line.units,
                             format_amount(line.amount, decimals), line.amount, line.tx_hash])
        return
    table(f"statement of lease {st.lease.lease_hex} ({st.lease.machine_id})",
          ["block", "time", "counter", "units", "amount"],
          [(line.block, _iso(line.time), line.counter, line.units,
            format_amount(line.amount, decimals)) for line in st.lines])
    console.print(f"total {st.total_units} units, billed {format_amount(st.total_billed, decimals)}; "
                  f"debt {format_amount(st.lease.debt, decimals)}; escrow left "
                  f"{format_amount(st.lease.escrow, decimals)}")
