"""millchain token mint | balance"""

from __future__ import annotations

import click

from millchain.cli.common import checksum_address, console, emit_json, json_option, network_options
from millchain.session import Session
from millchain.units import format_amount, parse_amount

SYMBOL_DECIMALS = 6
"""The test SettlementToken (mUSD) has 6 decimals, like the USD stablecoins it stands in for."""


@click.group()
def token() -> None:
    """The test settlement token (mUSD) of development chains: mint some, read balances."""


@token.command("mint")
@click.argument("to")
@click.argument("amount")
@network_options
@json_option
def mint(to: str, amount: str, session: Session, as_json: bool) -> None:
    """Mint AMOUNT test mUSD (e.g. 500 or 0.25) to address TO. Development chains only: the deployer
    (account 0) holds the minter role; real networks settle in a real token."""
    session.require_dev_chain("`millchain token mint`")
    recipient = checksum_address(to, what="TO")
    value = parse_amount(amount, SYMBOL_DECIMALS, what="AMOUNT")
    receipt = session.mint(recipient, value)
    balance = int(session.contract("SettlementToken").functions.balanceOf(recipient).call())
    if as_json:
        emit_json(
            {
                "to": recipient,
                "minted": str(value),
                "balance": str(balance),
                "tx": "0x" + bytes(receipt["transactionHash"]).hex(),
            }
        )
        return
    console.print(
        f"minted {format_amount(value, SYMBOL_DECIMALS)} mUSD to {recipient}; balance "
        f"{format_amount(balance, SYMBOL_DECIMALS)} mUSD"
    )


@token.command("balance")
@click.argument("address")
@network_options
@json_option
def balance(address: str, session: Session, as_json: bool) -> None:
    """ADDRESS's balance of the deployed SettlementToken."""
    holder = checksum_address(address, what="ADDRESS")
    value = int(session.contract("SettlementToken").functions.balanceOf(holder).call())
    if as_json:
        emit_json({"address": holder, "balance": str(value)})
    else:
        console.print(f"{format_amount(value, SYMBOL_DECIMALS)} mUSD")
