"""millchain demo"""

from __future__ import annotations

from pathlib import Path

import click

from millchain import demo
from millchain.cli.chain import status_rows
from millchain.cli.common import console, emit_json, json_option, network_options, table
from millchain.cli.console import console_hint
from millchain.report import render
from millchain.session import Session


@click.command("demo")
@network_options
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Where to write the HTML report [default: build/demo-report.html].")
@click.option("--keep-state", is_flag=True,
              help="On anvil: keep the day's leases and orders, and the clock it moved hours ahead [default: roll "
                   "the day back, keeping the deployment].")
@json_option
def demo_command(session: Session, report_path: Path | None, keep_state: bool, as_json: bool) -> None:
    """Play a factory day end to end (default: on the embedded chain, nothing to start first)."""
    report = demo.run(session, say=(lambda *_: None) if as_json else console.print, keep_state=keep_state)
    path = report_path or session.project.build_dir / "demo-report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    if as_json:
        emit_json({**report.__dict__, "report": str(path)})
        return
    table(f"status: {session.chain.network} (chainId {session.chain.chain_id}, block "
          f"{session.chain.w3.eth.block_number})", ["contract", "address", "code"],
          [(r["contract"], r["address"], r["code"]) for r in status_rows(session)])
    console.print(f"report: {path.resolve()}")
    console.print(console_hint(session, kept=keep_state), highlight=False)
