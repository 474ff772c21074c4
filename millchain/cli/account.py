"""millchain account new | show"""

from __future__ import annotations

from pathlib import Path

import click
from eth_account import Account

from millchain.chain import PASSWORD_ENV, load_keystore, write_keystore
from millchain.cli.common import console, emit_json, json_option


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
