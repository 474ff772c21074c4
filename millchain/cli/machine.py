"""millchain machine register | rotate-key | revoke | show"""

from __future__ import annotations

import click
from hexbytes import HexBytes

from millchain.cli.common import console, emit_json, json_option, model_json, network_options, table
from millchain.identity import NO_EXPIRY, Machine, MachineRegistryClient
from millchain.session import Session
from millchain.types import machine_id, to_bytes32

ZERO32 = "0x" + "00" * 32


def _show(client: MachineRegistryClient, label: str, as_json: bool) -> Machine:
    machine = client.get(machine_id(label))
    if as_json:
        emit_json(model_json(machine))
    else:
        table(f"machine {machine.machine_id}", ["field", "value"],
              [(k, v.name if k == "status" else v) for k, v in machine.model_dump().items()])
    return machine


def _receipt_line(receipt: dict[str, object]) -> None:
    tx = HexBytes(receipt["transactionHash"]).to_0x_hex()  # type: ignore[arg-type]
    console.print(f"tx {tx} in block {receipt['blockNumber']}, gas {receipt['gasUsed']}")


@click.group()
def machine() -> None:
    """Machine identities: owner, device signing key, metadata commitment, status."""


@machine.command("register")
@click.argument("machine_label", metavar="MACHINE_ID")
@click.option("--signer", required=True, help="Address of the device's signing key.")
@click.option("--owner", default=None, help="Owning organisation's account [default: the sender].")
@click.option("--commitment", default=ZERO32, show_default=True,
              help="32-byte commitment to the machine's metadata (model, serial, rated capacity).")
@network_options
@json_option
def register(machine_label: str, signer: str, owner: str | None, commitment: str, session: Session,
             as_json: bool) -> None:
    """Register MACHINE_ID (a label of up to 32 bytes, or 0x + 64 hex)."""
    client = MachineRegistryClient(session)
    receipt = client.register(machine_id(machine_label), signer, owner=owner,
                              metadata=to_bytes32(commitment, what="commitment"))
    if not as_json:
        _receipt_line(dict(receipt))
    _show(client, machine_label, as_json)


@machine.command("rotate-key")
@click.argument("machine_label", metavar="MACHINE_ID")
@click.option("--signer", required=True, help="The new device key; the old one stays valid only for "
                                              "reports timestamped before now.")
@network_options
@json_option
def rotate_key(machine_label: str, signer: str, session: Session, as_json: bool) -> None:
    """Replace the device signing key of MACHINE_ID."""
    client = MachineRegistryClient(session)
    receipt = client.rotate_key(machine_id(machine_label), signer)
    if not as_json:
        _receipt_line(dict(receipt))
    _show(client, machine_label, as_json)


@machine.command("revoke")
@click.argument("machine_label", metavar="MACHINE_ID")
@network_options
@json_option
def revoke(machine_label: str, session: Session, as_json: bool) -> None:
    """Revoke MACHINE_ID: nothing its keys sign from now on is accepted. Final."""
    client = MachineRegistryClient(session)
    receipt = client.revoke(machine_id(machine_label))
    if not as_json:
        _receipt_line(dict(receipt))
    _show(client, machine_label, as_json)


@machine.command("show")
@click.argument("machine_label", metavar="MACHINE_ID")
@network_options
@json_option
def show(machine_label: str, session: Session, as_json: bool) -> None:
    """Show MACHINE_ID's record and the validity window of its current key."""
    client = MachineRegistryClient(session)
    record = _show(client, machine_label, as_json)
    if not as_json:
        start, end = client.key_validity(machine_id(machine_label), record.signer)
        until = "open" if end == NO_EXPIRY else str(end)
        console.print(f"current key valid for report timestamps in [{start}, {until})")
