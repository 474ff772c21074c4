"""millchain account new | show | fund | list"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import click
from eth_account import Account
from eth_typing import ChecksumAddress

from millchain.chain import PASSWORD_ENV, load_keystore, write_keystore
from millchain.cli.common import checksum_address, console, emit_json, json_option, network_options
from millchain.session import Session
from millchain.units import format_amount, parse_amount


@click.group()
def account() -> None:
    """Encrypted keystores for real networks (the tools never write a plaintext key)."""


@account.command("new")
@click.argument("path", type=click.Path(path_type=Path))
@click.password_option(envvar=PASSWORD_ENV, help=f"Encryption password [env: {PASSWORD_ENV}].")
@json_option
def new(path: Path, password: str, as_json: bool) -> None:
    """Create a fresh key and write it encrypted to PATH."""
    created = Account.create()
    write_keystore(path, created, password)
    if as_json:
        emit_json({"address": created.address, "keystore": str(path)})
    else:
        console.print(f"{created.address} -> {path}")


@account.command("show")
@click.argument("path", type=click.Path(path_type=Path))
@json_option
def show(path: Path, as_json: bool) -> None:
    """Unlock PATH and print its address."""
    unlocked = load_keystore(path)
    if as_json:
        emit_json({"address": unlocked.address})
    else:
        console.print(unlocked.address)


@account.command("fund")
@click.argument("address")
@click.option("--eth", "amount", default="1", show_default=True, help="Ether to send (gas money for a relayer).")
@network_options
@json_option
def fund(address: str, amount: str, session: Session, as_json: bool) -> None:
    """Send ether from the signing account (--account on development chains, --keystore elsewhere) to ADDRESS,
    e.g. an oracle relayer that pays gas."""
    recipient = checksum_address(address, what="ADDRESS")
    value = parse_amount(amount, 18, what="--eth")
    receipt = session.tx.send({"to": recipient, "value": value, "data": b""})
    balance = int(session.chain.w3.eth.get_balance(cast(ChecksumAddress, recipient)))
    if as_json:
        emit_json({"to": recipient, "sent_wei": str(value), "balance_wei": str(balance),
                   "tx": "0x" + bytes(receipt["transactionHash"]).hex()})
    else:
        console.print(f"sent {amount} ETH to {recipient}; balance {format_amount(balance, 18)} ETH")


@account.command("list")
@network_options
@json_option
def list_accounts(session: Session, as_json: bool) -> None:
    """The accounts this network signs with (--account N): address, ether and test mUSD balances."""
    from millchain.cli.common import table
    from millchain.errors import MillchainError

    w3 = session.chain.w3
    try:
        token = session.contract("SettlementToken")
    except MillchainError:  # not deployed (yet), or a real network: no test token
        token = None
    rows: list[dict[str, Any]] = []
    for index, signer in enumerate(session.chain.accounts):
        musd = int(token.functions.balanceOf(signer.address).call()) if token is not None else None
        rows.append({"account": index, "address": signer.address, "eth_wei": str(w3.eth.get_balance(signer.address)),
                     "musd_base_units": None if musd is None else str(musd)})
    if as_json:
        emit_json(rows)
        return
    table(f"accounts on {session.chain.network}", ["account", "address", "ETH", "mUSD"],
          [(r["account"], r["address"], format_amount(int(r["eth_wei"]), 18),
            "—" if r["musd_base_units"] is None else format_amount(int(r["musd_base_units"]), 6)) for r in rows])
