"""millchain machine register | rotate-key | revoke | show"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast

import click
from click.decorators import FC
from hexbytes import HexBytes

from millchain.cli.common import console, emit_json, err_console, json_option, model_json, network_options, table
from millchain.errors import ConfigError
from millchain.identity import NO_EXPIRY, Machine, MachineRegistryClient, parse_p256_public_key
from millchain.session import Session
from millchain.signers.tpm import DEFAULT_KEY_HANDLE
from millchain.types import machine_id, to_bytes32

ZERO32 = "0x" + "00" * 32


def _show(client: MachineRegistryClient, label: str, as_json: bool) -> Machine:
    machine = client.get(machine_id(label))
    if as_json:
        emit_json({**model_json(machine), "hardware_attested": machine.hardware_attested})
    else:
        rows = [(k, v.name if k == "status" else v) for k, v in machine.model_dump().items() if v is not None]
        if machine.key_type == "p256":
            rows.append(
                (
                    "hardware attested",
                    "yes (evidence hash recorded)"
                    if machine.hardware_attested
                    else "no (no attestation evidence registered)",
                )
            )
        table(f"machine {machine.machine_id}", ["field", "value"], rows)
    return machine


MAKER_CA_PASSWORD_ENV = "MILLCHAIN_MAKER_CA_PASSWORD"


@dataclass(frozen=True)
class KeyChoice:
    """The device key a command was given: a secp256k1 address, a P-256 public key in hex, or a TPM in which to
    create and attest one (with what the attestation needs)."""

    signer: str | None
    p256_public_key: str | None
    evidence_hash: str
    tpm: str | None
    tpm_handle: str
    maker_ca_cert: Path | None
    maker_ca_key: Path | None
    ak_certificate: Path | None
    trust_anchor: Path | None
    evidence_out: Path | None

    def resolve(self, label: str) -> tuple[str | None, bytes | None, bytes]:
        """(secp256k1 signer, P-256 public key, evidence hash); exactly one of the three ways must be given. A TPM
        key is created and attested here, its evidence checked and written, before anything is registered."""
        if sum(x is not None for x in (self.signer, self.p256_public_key, self.tpm)) != 1:
            raise ConfigError(
                "give one of --signer ADDRESS (secp256k1), --p256-public-key HEX (P-256) or --tpm TCTI "
                "(a P-256 key created and attested in a TPM)"
            )
        evidence = to_bytes32(self.evidence_hash, what="--evidence-hash")
        if self.tpm is not None:
            p256, evidence = _provision(
                label, self.tpm, self.tpm_handle, self.maker_ca_cert, self.maker_ca_key, self.ak_certificate,
                self.trust_anchor, self.evidence_out,
            )  # fmt: skip
            return None, p256, evidence
        if self.p256_public_key is not None:
            return None, parse_p256_public_key(self.p256_public_key), evidence
        return self.signer, None, evidence


def key_options(*, signer_help: str, p256_help: str, evidence_help: str) -> Callable[[FC], FC]:
    """The options that choose a device key (--signer, --p256-public-key, --evidence-hash, and --tpm with where
    the key goes, the maker's CA that certifies the TPM's attestation key, the trust anchor the evidence must
    chain to and where the evidence bundle is written), handed to the command as one ``key: KeyChoice``."""
    pem = click.Path(exists=True, dir_okay=False, path_type=Path)
    options = [
        click.option("--signer", default=None, help=signer_help),
        click.option("--p256-public-key", default=None, help=p256_help),
        click.option("--evidence-hash", default=ZERO32, show_default=True, help=evidence_help),
        click.option(
            "--tpm",
            "tpm",
            metavar="TCTI",
            default=None,
            help="Create the P-256 key in this TPM (device:/dev/tpmrm0, swtpm:host=…,port=…), have the TPM "
            "certify it, check the evidence against --trust-anchor, then register it.",
        ),
        click.option(
            "--tpm-handle",
            default=hex(DEFAULT_KEY_HANDLE),
            show_default=True,
            help="With --tpm: the persistent handle for the new key (a free one).",
        ),
        click.option(
            "--maker-ca-cert",
            type=pem,
            default=None,
            help="With --tpm: the maker's CA certificate (PEM) that issues the attestation key's certificate.",
        ),
        click.option(
            "--maker-ca-key",
            type=pem,
            default=None,
            help=f"With --maker-ca-cert: its private key (PEM; password in ${MAKER_CA_PASSWORD_ENV}).",
        ),
        click.option(
            "--ak-certificate",
            type=pem,
            default=None,
            help="With --tpm, instead of the maker CA: the AK certificate chain issued earlier (PEM, AK first).",
        ),
        click.option(
            "--trust-anchor",
            type=pem,
            default=None,
            help="With --tpm: the trust anchor(s) (PEM) the evidence must chain to; checked before registering.",
        ),
        click.option(
            "--evidence-out",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="With --tpm: where to write the evidence bundle (JSON) whose hash the registry records.",
        ),
    ]
    names = [field.name for field in fields(KeyChoice)]

    def decorate(command: FC) -> FC:
        @functools.wraps(command)
        def with_key(**kwargs: Any) -> Any:
            key = KeyChoice(**{name: kwargs.pop(name) for name in names})
            return command(key=key, **kwargs)

        decorated: Any = with_key
        for option in reversed(options):
            decorated = option(decorated)
        return cast(FC, decorated)

    return decorate


def _provision(label: str, tcti: str, handle: str, maker_ca_cert: Path | None, maker_ca_key: Path | None,
               ak_certificate: Path | None, trust_anchor: Path | None,
               evidence_out: Path | None) -> tuple[bytes, bytes]:  # fmt: skip
    """Create and attest the key in the TPM, write the evidence bundle, and return (public key, evidence hash).
    Nothing is registered unless the evidence verified against the trust anchor."""
    from millchain.tpm.attest import provision_tpm_key
    from millchain.tpm.enrol import (
        load_ca_key,
        load_certificates,
        maker_ca_issuer,
        stored_chain_issuer,
        write_evidence,
    )

    if trust_anchor is None or evidence_out is None:
        raise ConfigError("--tpm needs --trust-anchor PEM (to check the evidence) and --evidence-out FILE (to keep it)")
    if (maker_ca_cert is None) == (ak_certificate is None) or (maker_ca_cert is None) != (maker_ca_key is None):
        raise ConfigError(
            "--tpm needs either --maker-ca-cert PEM with --maker-ca-key PEM (to certify the TPM's "
            "attestation key) or --ak-certificate PEM (a certificate issued earlier)"
        )
    try:
        key_handle = int(handle, 0)
    except ValueError as exc:
        raise ConfigError(f"--tpm-handle {handle!r} is not an integer (e.g. 0x81010010)") from exc
    anchors = load_certificates(trust_anchor.read_bytes(), f"--trust-anchor {trust_anchor}")
    if maker_ca_cert is not None and maker_ca_key is not None:
        ca_certs = load_certificates(maker_ca_cert.read_bytes(), f"--maker-ca-cert {maker_ca_cert}")
        password = os.environ.get(MAKER_CA_PASSWORD_ENV)
        ca_key = load_ca_key(maker_ca_key.read_bytes(), password.encode() if password else None)
        issuer = maker_ca_issuer(ca_certs[0], ca_key, trust_anchors=anchors, subject_cn=f"TPM AK of machine {label}")
    else:
        assert ak_certificate is not None
        issuer = stored_chain_issuer(
            load_certificates(ak_certificate.read_bytes(), f"--ak-certificate {ak_certificate}")
        )
    # The machine id as qualifying data binds the bundle to this machine: `machine show --evidence` refuses a
    # bundle made for another one.
    provisioned = provision_tpm_key(
        tcti,
        issue_ak_certificate=issuer,
        trust_anchors=anchors,
        qualifying_data=bytes(machine_id(label)),
        handle=key_handle,
    )
    # Written before the transaction: a bundle whose registration then fails is harmless, a registration whose
    # bundle was lost could not be checked by anyone.
    write_evidence(evidence_out, provisioned.evidence)
    err_console.print(
        f"TPM key attested; evidence written to {evidence_out} (hash 0x{provisioned.evidence_hash.hex()})"
    )
    return provisioned.public_key, provisioned.evidence_hash


def _receipt_line(receipt: dict[str, object]) -> None:
    tx = HexBytes(receipt["transactionHash"]).to_0x_hex()  # type: ignore[arg-type]
    console.print(f"tx {tx} in block {receipt['blockNumber']}, gas {receipt['gasUsed']}")


@click.group()
def machine() -> None:
    """Machine identities: owner, device signing key, metadata commitment, status."""


@machine.command("register")
@click.argument("machine_label", metavar="MACHINE_ID")
@key_options(
    signer_help="Address of the device's secp256k1 signing key.",
    p256_help="The device's P-256 public key in hex (x ‖ y, or 04 ‖ x ‖ y), e.g. from a TPM or secure element.",
    evidence_help="With --p256-public-key: hash of the key's hardware attestation evidence (docs/tpm.md).",
)
@click.option("--owner", default=None, help="Owning organisation's account [default: the sender].")
@click.option(
    "--commitment",
    default=ZERO32,
    show_default=True,
    help="32-byte commitment to the machine's metadata (model, serial, rated capacity).",
)
@network_options
@json_option
def register(
    machine_label: str, key: KeyChoice, owner: str | None, commitment: str, session: Session, as_json: bool
) -> None:
    """Register MACHINE_ID (a label of up to 32 bytes, or 0x + 64 hex) with a secp256k1 or a P-256 key, or with
    a P-256 key created and attested in a TPM (--tpm)."""
    client = MachineRegistryClient(session)
    metadata = to_bytes32(commitment, what="commitment")
    signer, p256, evidence = key.resolve(machine_label)
    if p256 is not None:
        receipt = client.register_p256(
            machine_id(machine_label), p256, owner=owner, metadata=metadata, evidence_hash=evidence
        )
    else:
        assert signer is not None
        receipt = client.register(machine_id(machine_label), signer, owner=owner, metadata=metadata)
    if not as_json:
        _receipt_line(dict(receipt))
    _show(client, machine_label, as_json)


@machine.command("rotate-key")
@click.argument("machine_label", metavar="MACHINE_ID")
@key_options(
    signer_help="The new device key (secp256k1 address); the old one stays valid only for reports timestamped "
    "before now.",
    p256_help="The new device key as a P-256 public key in hex.",
    evidence_help="With --p256-public-key: hash of the key's hardware attestation evidence.",
)
@network_options
@json_option
def rotate_key(machine_label: str, key: KeyChoice, session: Session, as_json: bool) -> None:
    """Replace the device signing key of MACHINE_ID (with a secp256k1 or a P-256 key, or a TPM key: --tpm)."""
    client = MachineRegistryClient(session)
    signer, p256, evidence = key.resolve(machine_label)
    if p256 is not None:
        receipt = client.rotate_key_p256(machine_id(machine_label), p256, evidence_hash=evidence)
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
@click.option(
    "--evidence",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An evidence bundle (from register --tpm --evidence-out) to check against the registry's "
    "evidence hash and --trust-anchor.",
)
@click.option(
    "--trust-anchor",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --evidence: the trust anchor(s) (PEM) the attestation must chain to.",
)
@network_options
@json_option
def show(machine_label: str, evidence: Path | None, trust_anchor: Path | None, session: Session, as_json: bool) -> None:
    """Show MACHINE_ID's record and the validity window of its current key; with --evidence and --trust-anchor,
    whether the key is hardware-attested and by whom (exit status 1 when it is not)."""
    client = MachineRegistryClient(session)
    if (evidence is None) != (trust_anchor is None):
        raise ConfigError("--evidence FILE and --trust-anchor PEM go together")
    if evidence is None or trust_anchor is None:
        record = _show(client, machine_label, as_json)
        if not as_json:
            start, end = client.key_validity(machine_id(machine_label), record.signer)
            until = "open" if end == NO_EXPIRY else str(end)
            console.print(f"current key valid for report timestamps in [{start}, {until})")
        return
    _show_attestation(client, machine_label, evidence, trust_anchor, as_json)


def _show_attestation(client: MachineRegistryClient, label: str, evidence: Path, trust_anchor: Path,
                      as_json: bool) -> None:  # fmt: skip
    from millchain.tpm.attest import AttestationError
    from millchain.tpm.enrol import check_registered_evidence, load_certificates, read_evidence

    record = client.get(machine_id(label))
    try:
        check = check_registered_evidence(
            read_evidence(evidence),
            load_certificates(trust_anchor.read_bytes(), f"--trust-anchor {trust_anchor}"),
            machine=bytes(machine_id(label)),
            registered_key=bytes.fromhex(record.p256_public_key[2:]) if record.p256_public_key else None,
            registered_hash=bytes.fromhex(record.evidence_hash[2:]) if record.evidence_hash else None,
        )
    except AttestationError as exc:
        if as_json:
            emit_json({**model_json(record), "hardware_attested": False, "attestation_error": str(exc)})
        else:
            _show(client, label, False)
            console.print(f"hardware attested: NO — {exc}")
        raise SystemExit(1) from exc
    if as_json:
        emit_json({**model_json(record), "hardware_attested": True, "attester": check.attester, "anchor": check.anchor})
    else:
        _show(client, label, False)
        console.print(
            f"hardware attested: yes — key certified by {check.attester!r} under trust anchor "
            f"{check.anchor!r} (evidence 0x{check.evidence_hash.hex()})"
        )
