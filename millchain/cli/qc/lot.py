"""millchain qc lot: production lots and their lineage."""

from __future__ import annotations

from pathlib import Path

import click
from rich.tree import Tree

from millchain.cli.common import console, emit_json, err_console, json_option, model_json, network_options, table
from millchain.cli.qc.common import commit_fields, document_fields, quality_client, receipt_line, show_model
from millchain.quality import (
    TraceNode,
    lot_id,
    product_id,
)
from millchain.session import Session


@click.group()
def lot() -> None:
    """Production lots and their lineage."""


@lot.command("register")
@click.argument("lot_label", metavar="LOT")
@click.option("--product", required=True, help="Product line / specification id.")
@click.option("--quantity", required=True, type=click.IntRange(min=1, max=2**64 - 1), help="Units in the lot.")
@click.option("--input", "inputs", multiple=True, metavar="LOT", help="A lot consumed (repeat, at most 32).")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="NAME=VALUE",
    help="A field of the lot's data (repeat); committed with a fresh salt each, kept in --save.",
)
@click.option(
    "--data",
    "data_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="JSON object of the lot's data fields.",
)
@click.option("--commitment", default=None, help="An existing 32-byte commitment instead of fields.")
@click.option(
    "--save",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to keep the opened data document (values and salts: private to the producer).",
)
@network_options
@json_option
def lot_register(
    lot_label: str,
    product: str,
    quantity: int,
    inputs: tuple[str, ...],
    fields: tuple[str, ...],
    data_file: Path | None,
    commitment: str | None,
    save: Path | None,
    session: Session,
    as_json: bool,
) -> None:
    """Register LOT, produced by the sender's organisation."""
    client = quality_client(session)
    data = commit_fields(document_fields(fields, data_file), save, commitment)
    receipt = client.register_lot(
        lot_id(lot_label), product_id(product), quantity, data_commitment=data, inputs=[lot_id(i) for i in inputs]
    )
    receipt_line(receipt, as_json)
    show_model(
        f"lot {lot_label}",
        client.lot(lot_id(lot_label)),
        as_json,
        extra={"data_commitment": "0x" + data.hex(), "inputs": sorted(inputs)},
    )


@lot.command("show")
@click.argument("lot_label", metavar="LOT")
@network_options
@json_option
def lot_show(lot_label: str, session: Session, as_json: bool) -> None:
    """Show LOT and its inspection record."""
    client = quality_client(session)
    record = client.lot(lot_id(lot_label))
    attestations = client.attestations(lot_id(lot_label))
    if as_json:
        emit_json({**model_json(record), "attestations": [model_json(a) for a in attestations]})
        return
    show_model(f"lot {lot_label}", record, False)
    table(
        f"inspection record of {lot_label}",
        ["#", "outcome", "severity", "defects/sample", "by", "independent", "superseded by"],
        [
            (
                a.seq,
                a.outcome.name,
                a.severity.name,
                f"{a.defects}/{a.sample_size}",
                a.inspector_org,
                "yes" if a.independent else "no",
                a.superseded_by or "",
            )
            for a in attestations
        ],
    )


@lot.command("trace")
@click.argument("lot_label", metavar="LOT")
@network_options
@json_option
def lot_trace(lot_label: str, session: Session, as_json: bool) -> None:
    """Print what LOT was made of (upstream) and what was made of it (downstream), with alerts.

    Read from the event index when one is configured for this chain (stderr says which, and why not)."""
    from millchain.index.logs import quality_reader  # the index's modules only for the commands that read it

    with quality_reader(session, "trace") as (client, source):
        trace = client.trace(lot_id(lot_label))
    err_console.print(source, highlight=False, markup=False, soft_wrap=True)  # after any error: that is one line
    if as_json:
        emit_json(trace.model_dump(mode="json"))
        return
    console.print(_tree(f"upstream of {_describe(trace.lot)}", trace.upstream))
    console.print(_tree(f"downstream of {_describe(trace.lot)}", trace.downstream))


def _describe(node: TraceNode) -> str:
    alerts = f" [bold red]alerts {', '.join(node.alerts)}[/]" if node.alerts else ""
    repeated = " [dim](shown above)[/]" if node.repeated else ""
    return f"[bold]{node.lot_id}[/] {node.product_id} x{node.quantity} by {node.producer}{alerts}{repeated}"


def _tree(title: str, nodes: list[TraceNode]) -> Tree:
    root = Tree(title)

    def add(parent: Tree, node: TraceNode) -> None:
        branch = parent.add(_describe(node))
        for child in node.children:
            add(branch, child)

    for node in nodes:
        add(root, node)
    if not nodes:
        root.add("[dim](none)[/]")
    return root
