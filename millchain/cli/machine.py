"""millchain machine register | rotate-key | revoke | show"""

from __future__ import annotations

import click
from hexbytes import HexBytes

from millchain.cli.common import console, emit_json, json_option, network_options, table
from millchain.errors import ConfigError
from millchain.identity import NO_EXPIRY, Machine, MachineRegistryClient, parse_p256_public_key
from millchain.session import Session
from millchain.types import machine_id, to_bytes32

ZERO32 = "0x" + "00" * 32


def _show(client: MachineRegistryClient, label: str, as_json: bool) -> Machine:
    machine = client.get(machine_id(label))
    if as_json:
        emit_json({**machine.model_dump(mode="json"), "hardware_attested": machine.hardware_attested})
    else:
        rows = [(k, v.name if k == "status" else v) for k, v in machine.model_dump().items() if v is not None]
        if machine.key_type == "p256":
            rows.append(("hardware attested", "yes (evidence hash recorded)" if machine.hardware_attested
                         else "no (no attestation evidence registered)"))
        table(f"machine {machine.machine_id}", ["field", "value"], rows)
    return machine


def _key_choice(signer: str | None, p256_public_key: str | None) -> bytes | None:
    """The P-256 key to use, or None for the secp256k1 ``signer``; exactly one of the two must be given."""
    if (signer is None) == (p256_public_key is None):
        raise ConfigError("give either --signer ADDRESS (secp256k1) or --p256-public-key HEX (P-256), not both")
    return None if p256_public_key is None else parse_p256_public_key(p256_public_key)


def _receipt_line(receipt: dict[str, object]) -> None:
    tx = HexBytes(receipt["transactionHash"]).to_0x_hex()  # type: ignore[arg-type]
    console.print(f"tx {tx} in block {receipt['blockNumber']}, gas {receipt['gasUsed']}")


@click.group()
def machine() -> None:
    """Machine identities: owner, device signing key, metadata commitment, status."""


@machine.command("register")
@click.argument("machine_label", metavar="MACHINE_ID")
@click.option("--signer", default=None, help="Address of the device's secp256k1 signing key.")
@click.option("--p256-public-key", default=None,
              help="The device's P-256 public key in hex (x ‖ y, or 04 ‖ x ‖ y), e.g. from a TPM or secure element.")
@click.option("--evidence-hash", default=ZERO32, show_default=True,
              help="With --p256-public-key: hash of the key's hardware attestation evidence (docs/tpm.md).")
@click.option("--owner", default=None, help="Owning organisation's account [default: the sender].")
@click.option("--commitment", default=ZERO32, show_default=True,
              help="32-byte commitment to the machine's metadata (model, serial, rated capacity).")
@network_options
@json_option
def register(machine_label: str, signer: str | None, p256_public_key: str | None, evidence_hash: str,
             owner: str | None, commitment: str, session: Session, as_json: bool) -> None:
    """Register MACHINE_ID (a label of up to 32 bytes, or 0x + 64 hex) with a secp256k1 or a P-256 key."""
    client = MachineRegistryClient(session)
    p256 = _key_choice(signer, p256_public_key)
    metadata = to_bytes32(commitment, what="commitment")
    if p256 is not None:
        receipt = client.register_p256(machine_id(machine_label), p256, owner=owner, metadata=metadata,
                                       evidence_hash=to_bytes32(evidence_hash, what="--evidence-hash"))
    else:
        assert signer is not None
        receipt = client.register(machine_id(machine_label), signer, owner=owner, metadata=metadata)
    if not as_json:
        _receipt_line(dict(receipt))
    _show(client, machine_label, as_json)


@machine.command("rotate-key")
@click.argument("machine_label", metavar="MACHINE_ID")
@click.option("--signer", default=None, help="The new device key (secp256k1 address); the old one stays valid "
                                             "only for reports timestamped before now.")
@click.option("--p256-public-key", default=None, help="The new device key as a P-256 public key in hex.")
@click.option("--evidence-hash", default=ZERO32, show_default=True,
              help="With --p256-public-key: hash of the key's hardware attestation evidence.")
@network_options
@json_option
def rotate_key(machine_label: str, signer: str | None, p256_public_key: str | None, evidence_hash: str,
               session: Session, as_json: bool) -> None:
    """Replace the device signing key of MACHINE_ID (with a secp256k1 or a P-256 key)."""
    client = MachineRegistryClient(session)
    p256 = _key_choice(signer, p256_public_key)
    if p256 is not None:
        receipt = client.rotate_key_p256(machine_id(machine_label), p256,
                                         evidence_hash=to_bytes32(evidence_hash, what="--evidence-hash"))
    else:
        assert signer is not None
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
