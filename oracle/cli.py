"""`millchain oracle run | status | rebaseline` (a plugin of the millchain CLI) and `python -m oracle`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from oracle.config import load_config
from oracle.outbox import Outbox

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default="oracle.toml",
    show_default=True,
    envvar="ORACLE_CONFIG",
    help="Oracle config file (TOML).",
)


@click.group()
def oracle() -> None:
    """The edge oracle: machine counters in, signed usage settled on chain, lock commands out."""


@oracle.command("run")
@config_option
@click.option("--log-level", default="INFO", show_default=True)
def run(config_path: Path, log_level: str) -> None:
    """Run the oracle until SIGTERM / SIGINT (then flush and exit 0)."""
    import os

    from oracle import keyvault
    from oracle.logs import configure

    configure(log_level)
    settings = load_config(config_path)
    # The vault's key derivation runs while the service's heavy imports load (restart time, issue 12).
    keyvault.prefetch(settings.outbox.with_suffix(".keys"), os.environ.get("ORACLE_DEVICE_PASSWORD"))
    from oracle.service import OracleService
    from oracle.wiring import build_adapters

    async def main() -> int:
        sources, commanders = build_adapters(settings)
        service = OracleService(settings, sources=sources, commanders=commanders)
        return await service.run()

    raise SystemExit(asyncio.run(main()))


@oracle.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True)
def status(config_path: Path, as_json: bool) -> None:
    """Per machine: the outbox's view (last seen, last settled, pending, quarantined, lock) beside the chain's
    (the lease's counter), every difference flagged; then the last preflight's findings."""
    from rich.console import Console
    from rich.table import Table

    from oracle.status import collect, to_json

    settings = load_config(config_path)
    report = collect(settings)
    if as_json:
        click.echo(to_json(report))
        return
    grid = Table(title=f"oracle outbox {settings.outbox} (depth {report['outbox_depth']})", title_justify="left")
    for column in ("machine", "last seen", "last settled", "on chain", "pending", "quarantined", "lock", "flags"):
        grid.add_column(column)
    for row in report["machines"]:
        quarantined = str(row["quarantined_readings"])
        if row["machine_quarantined"]:
            quarantined += f" (machine: {row['machine_quarantined']})"
        elif row["quarantine_reasons"]:
            quarantined += f" ({row['quarantine_reasons']})"
        grid.add_row(
            str(row["machine"]),
            str(row["last_seen"]),
            str(row["last_settled"]),
            str(row["on_chain"]),
            str(row["pending"]),
            quarantined,
            str(row["lock"]),
            "; ".join(row["flags"]) or "ok",
        )
    console = Console(soft_wrap=True)
    console.print(grid)
    if report["chain_error"]:
        console.print(f"chain view unavailable: {report['chain_error']}")
    for finding in report["preflight"]:
        console.print(f"preflight {finding['level']} ({finding['check']}): {finding['message']}")


@oracle.command("rebaseline")
@click.argument("machine")
@config_option
def rebaseline(machine: str, config_path: Path) -> None:
    """After MACHINE's counters were reset: continue billing from where the chain is, lift its quarantine."""
    settings = load_config(config_path)
    if settings.machine(machine) is None:
        raise click.BadParameter(f"no machine {machine!r} in {config_path}", param_hint="MACHINE")
    outbox = Outbox(settings.outbox)
    state = outbox.rebaseline(machine)
    outbox.close()
    click.echo(f"{machine}: counters continue from {state.counter_offset} units / {state.runtime_offset} s")
