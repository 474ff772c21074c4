"""Options every chain-facing command shares, and output for people (tables) or scripts (--json)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from millchain.jsonable import model_json as model_json  # the CLI's --json form is the SDK's

F = TypeVar("F", bound=Callable[..., Any])

UNBOUNDED_WIDTH = 10_000
"""Columns for output that is not a terminal: rich would assume 80 and cut addresses and reasons in tables that
go to a file, a pipe or a log; tables only take the width their cells need."""

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else UNBOUNDED_WIDTH)
err_console = Console(stderr=True)


def network_options(func: F) -> F:
    """--network/--rpc/--deployments/--keystore/--account, turned into a ``session`` keyword argument."""

    @click.option("--network", "-n", default="local", envvar="MILLCHAIN_NETWORK", show_default=True,
                  show_envvar=True,
                  help="local (embedded chain, fresh each run), anvil (the node `millchain node` runs, else "
                       "127.0.0.1:8545) or a name for --rpc's records folder.")
    @click.option("--rpc", "rpc_url", envvar="MILLCHAIN_RPC", show_envvar=True, metavar="URL",
                  help="Any JSON-RPC endpoint (a consortium node, an anvil on another port).")
    @click.option("--deployments", envvar="MILLCHAIN_DEPLOYMENTS", show_envvar=True, metavar="PATH|URL",
                  help="Deployment records: a folder (a network's, or one holding <network>/) or an http(s) URL "
                       "of a network's folder  [default: ./deployments/<network>/].")
    @click.option("--keystore", type=click.Path(path_type=Path), envvar="MILLCHAIN_KEYSTORE", show_envvar=True,
                  help="Encrypted key file to sign with (password: $MILLCHAIN_KEYSTORE_PASSWORD or a prompt).")
    @click.option("--account", "account_index", type=click.IntRange(min=0), default=0, show_default=True,
                  help="Which development account signs (local and anvil).")
    @functools.wraps(func)
    def wrapper(*args: Any, network: str, rpc_url: str | None, deployments: str | None, keystore: Path | None,
                account_index: int, **kwargs: Any) -> Any:
        from millchain.session import Session  # web3 and eth-account: only once a command runs, not for --help

        session = Session.open(network, rpc_url=rpc_url, keystore=keystore, account_index=account_index,
                               deployments=deployments)
        return func(*args, session=session, **kwargs)

    return wrapper  # type: ignore[return-value]


def checksum_address(text: str, *, what: str) -> str:
    """``text`` as a checksummed address, or a usage error naming the argument."""
    from eth_utils import is_address, to_checksum_address

    if not is_address(text):
        raise click.BadParameter(f"{text!r} is not an address (0x + 40 hex digits)", param_hint=what)
    return str(to_checksum_address(text))


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, default=str))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    grid = Table(title=title, title_justify="left")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(str(c) for c in row))
    console.print(grid)
