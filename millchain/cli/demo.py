"""millchain demo"""

from __future__ import annotations

import click

from millchain import demo
from millchain.cli.chain import status_rows
from millchain.cli.common import console, emit_json, json_option, network_options, table
from millchain.session import Session


@click.command("demo")
@network_options
@json_option
def demo_command(session: Session, as_json: bool) -> None:
    """Play the main job end to end (default: on the embedded chain, nothing to start first)."""
    report = demo.run(session, say=(lambda *_: None) if as_json else console.print)
    if as_json:
        emit_json(report.__dict__)
        return
    table(f"status: {session.chain.network} (chainId {session.chain.chain_id}, block "
          f"{session.chain.w3.eth.block_number})", ["contract", "address", "code"],
          [(r["contract"], r["address"], r["code"]) for r in status_rows(session)])
