"""Registration-time enrolment of a TPM device key, and the later check of a registration's evidence file.

``millchain machine register --tpm`` runs in the machine maker's factory (or at commissioning): the maker's CA
issues the certificate of the TPM's attestation key (:func:`maker_ca_issuer`), or a certificate issued once
before is reused (:func:`stored_chain_issuer`); :func:`millchain.tpm.attest.provision_tpm_key` creates and
certifies the key and checks the evidence against the trust anchor before anything is registered.

``millchain machine show --evidence FILE`` is the other half, run by anyone (lessor, auditor, financier) with
nothing but the file, the anchor and the chain: :func:`check_registered_evidence` recomputes the bundle's hash,
compares it with what the registry recorded for the machine's current key, verifies the bundle, and checks that
it attests that very key for that very machine (the qualifying data is the machine id).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID

from millchain.tpm.attest import (
    AkCertificateIssuer,
    AttestationError,
    TpmEvidence,
    common_name,
    evidence_hash,
    verify_evidence,
)

AK_CERTIFICATE_DAYS = 3650
"""An AK certificate vouches for a TPM for the machine's service life, like a TPM vendor's EK certificate."""


def load_ca_key(pem: bytes, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """The maker CA's private key from a PEM file (PKCS#8 or SEC1, encrypted when ``password`` is given)."""
    try:
        key = load_pem_private_key(pem, password)
    except (ValueError, TypeError) as exc:
        raise AttestationError(f"the maker CA key is not a readable PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise AttestationError(f"the maker CA key is a {type(key).__name__}; an EC key is needed")
    return key


def load_certificates(pem: bytes, what: str) -> list[x509.Certificate]:
    """The certificates of a PEM file; ``what`` names the file in the error."""
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise AttestationError(f"{what} holds no PEM certificate: {exc}") from exc


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def maker_ca_issuer(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    trust_anchors: Sequence[x509.Certificate],
    subject_cn: str,
    days: int = AK_CERTIFICATE_DAYS,
) -> AkCertificateIssuer:
    """An issuer that certifies the AK with the maker's CA (``ca_cert``/``ca_key``), subject ``subject_cn`` in
    the CA's organisation. The chain handed back is the AK certificate, plus ``ca_cert`` unless it is itself one of
    the ``trust_anchors`` (an intermediate CA travels with the evidence; the anchor never does)."""
    ca_public = ca_cert.public_key()
    if not isinstance(ca_public, ec.EllipticCurvePublicKey) or (
        ca_public.public_numbers() != ca_key.public_key().public_numbers()
    ):
        raise AttestationError(
            f"the maker CA key does not belong to the CA certificate {ca_cert.subject.rfc4514_string()!r}"
        )
    organisation = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    subject = x509.Name(
        [*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(o.value)) for o in organisation[:1]),
         x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]
    )  # fmt: skip
    anchor_prints = {_fingerprint(a) for a in trust_anchors}

    def issue(ak: ec.EllipticCurvePublicKey) -> Sequence[x509.Certificate]:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # tolerate a verifier's clock a little behind
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(ak)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        return [cert] if _fingerprint(ca_cert) in anchor_prints else [cert, ca_cert]

    return issue


def stored_chain_issuer(chain: Sequence[x509.Certificate]) -> AkCertificateIssuer:
    """An issuer that hands back an AK certificate chain issued earlier (AK certificate first); verification
    refuses it if it is for another AK than the TPM's."""
    if not chain:
        raise AttestationError("the AK certificate file holds no certificate")

    def issue(ak: ec.EllipticCurvePublicKey) -> Sequence[x509.Certificate]:
        return list(chain)

    return issue


def write_evidence(path: Path, evidence: TpmEvidence) -> None:
    """Write the bundle as JSON; it holds public data only (public areas, certificates, a signature)."""
    path.write_text(evidence.dumps() + "\n")


def read_evidence(path: Path) -> TpmEvidence:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AttestationError(f"cannot read the evidence file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise AttestationError(f"the evidence file {path} is not a JSON object")
    return TpmEvidence.from_json(data)


@dataclass(frozen=True)
class AttestationCheck:
    """A registration's evidence, checked: the key is hardware-attested by ``attester`` under ``anchor``
    (common names of the AK certificate and of the trust anchor)."""

    attester: str
    anchor: str
    evidence_hash: bytes


def check_registered_evidence(
    evidence: TpmEvidence,
    trust_anchors: Sequence[x509.Certificate],
    *,
    machine: bytes,
    registered_key: bytes | None,
    registered_hash: bytes | None,
    at: dt.datetime | None = None,
) -> AttestationCheck:
    """Check that ``evidence`` is what the registry recorded for ``machine``'s current key and that it proves
    the key is a non-exportable TPM key under one of ``trust_anchors``; raise :class:`AttestationError` naming
    the first check that fails."""
    if registered_key is None:
        raise AttestationError("the machine's current key is a secp256k1 key; TPM evidence attests P-256 keys only")
    digest = evidence_hash(evidence)
    if registered_hash is None:
        raise AttestationError("the registry records no evidence hash for the machine's current key")
    if digest != registered_hash:
        raise AttestationError(f"the evidence file hashes to 0x{digest.hex()}, but the registry recorded "
                               f"0x{registered_hash.hex()} for the current key")  # fmt: skip
    attested = verify_evidence(evidence, trust_anchors, expected_qualifying_data=machine, at=at)
    if attested.public_key != registered_key:
        raise AttestationError(f"the evidence attests key 0x{attested.public_key.hex()}, not the registered "
                               f"0x{registered_key.hex()}")  # fmt: skip
    ak_cert = x509.load_der_x509_certificate(evidence.ak_certificates[0])
    anchor = next(a for a in trust_anchors if a.subject.rfc4514_string() == attested.anchor)
    return AttestationCheck(attester=common_name(ak_cert), anchor=common_name(anchor), evidence_hash=digest)
