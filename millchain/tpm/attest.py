"""Proof that a device key lives in a TPM: TPM2_Certify evidence, its verifier, and the hash the registry records.

At registration the TPM certifies the device key with an attestation key (AK): a *restricted* signing key that
signs only structures the TPM made itself (they start with TPM_GENERATED_VALUE), so its signature over a
TPMS_ATTEST says "this TPM holds an object with this name". The name is a hash of the key's public area, which
carries its attributes; so the verifier learns, from the TPM's own word, that the key is ``fixedTPM |
fixedParent | sensitiveDataOrigin`` — generated inside, never exported. Who vouches that the AK is a real TPM's
restricted key is the AK's certificate, which must chain to a trust anchor the machine maker configures (its own
CA or the TPM vendor's EK CA chain; docs/tpm.md says what production uses).

The evidence bundle (:class:`TpmEvidence`) is what a lessor, an auditor or the CLI checks with
:func:`verify_evidence` — needing only ``cryptography``, no TPM. :func:`evidence_hash` is the bytes32 the
MachineRegistry records with a P-256 key, so anyone holding the bundle can show which evidence a registration
relied on. :func:`provision_tpm_key` does the whole registration-time job against a TPM.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from eth_abi import encode
from eth_utils import keccak

from millchain.signers import SignerError
from millchain.signers.tpm import (
    DEFAULT_KEY_HANDLE,
    FIXED_PARENT,
    FIXED_TPM,
    NON_EXPORTABLE,
    RESTRICTED,
    SENSITIVE_DATA_ORIGIN,
    SIGN,
    USER_WITH_AUTH,
    TpmSigner,
    _check_handle,
    _ecdsa_sha256_scheme,
    persist_new_key,
    persistent_handles,
    tpm2_pytss,
)
from millchain.tpm.structures import EccPublicArea, parse_certify_info, parse_ecc_public

DEFAULT_AK_HANDLE = 0x81010001
"""Where the attestation key is persisted: created once per TPM, certified once by the maker's CA."""
AK_ATTRIBUTES = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | RESTRICTED | SIGN
MAX_CHAIN_LENGTH = 4
"""AK certificate plus intermediates; a longer chain is refused rather than walked."""

_ATTRIBUTE_NAMES = {FIXED_TPM: "fixedTPM", FIXED_PARENT: "fixedParent", SENSITIVE_DATA_ORIGIN: "sensitiveDataOrigin",
                    RESTRICTED: "restricted", SIGN: "sign"}  # fmt: skip


class AttestationError(SignerError):
    """Evidence does not prove what it must; the message names the check that failed."""


@dataclass(frozen=True)
class TpmEvidence:
    """What TPM2_Certify produced at registration, with what a verifier needs to check it.

    ``device_public`` and ``ak_public`` are marshalled TPMT_PUBLIC structures; ``certify_info`` the TPMS_ATTEST
    the AK signed; ``signature`` the AK's ECDSA/SHA-256 signature over it as ``r ‖ s``; ``ak_certificates`` the
    DER certificates from the AK's own up to (not including) the trust anchor; ``qualifying_data`` what the
    registrant asked the TPM to include (binds the evidence to one registration, e.g. the machine id)."""

    device_public: bytes
    certify_info: bytes
    signature: bytes
    ak_public: bytes
    ak_certificates: tuple[bytes, ...]
    qualifying_data: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "devicePublic": self.device_public.hex(),
            "certifyInfo": self.certify_info.hex(),
            "signature": self.signature.hex(),
            "akPublic": self.ak_public.hex(),
            "akCertificates": [c.hex() for c in self.ak_certificates],
            "qualifyingData": self.qualifying_data.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TpmEvidence:
        try:
            return cls(
                device_public=bytes.fromhex(data["devicePublic"]),
                certify_info=bytes.fromhex(data["certifyInfo"]),
                signature=bytes.fromhex(data["signature"]),
                ak_public=bytes.fromhex(data["akPublic"]),
                ak_certificates=tuple(bytes.fromhex(c) for c in data["akCertificates"]),
                qualifying_data=bytes.fromhex(data["qualifyingData"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AttestationError(f"not a TPM evidence bundle: {exc!r}") from exc

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)


def evidence_hash(evidence: TpmEvidence) -> bytes:
    """The bytes32 the registry records: keccak256 of the ABI encoding ``(bytes devicePublic, bytes certifyInfo,
    bytes signature, bytes akPublic, bytes[] akCertificates, bytes qualifyingData)`` — reproducible from the
    bundle in any language (or in Solidity with ``keccak256(abi.encode(...))``)."""
    return bytes(
        keccak(
            encode(
                ["bytes", "bytes", "bytes", "bytes", "bytes[]", "bytes"],
                [
                    evidence.device_public,
                    evidence.certify_info,
                    evidence.signature,
                    evidence.ak_public,
                    list(evidence.ak_certificates),
                    evidence.qualifying_data,
                ],
            )
        )
    )


@dataclass(frozen=True)
class AttestedKey:
    """What verified evidence establishes: this P-256 key is a non-exportable TPM key, attested by ``attester``
    (the AK certificate's subject) under the anchor ``anchor`` (its subject)."""

    public_key: bytes
    attester: str
    anchor: str
    evidence_hash: bytes


def _missing(attributes: int, required: int) -> list[str]:
    return [name for bit, name in _ATTRIBUTE_NAMES.items() if required & bit and not attributes & bit]


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _check_validity(cert: x509.Certificate, at: dt.datetime) -> None:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise AttestationError(
            f"certificate {_subject(cert)!r} is not valid at {at.isoformat()} "
            f"(valid {cert.not_valid_before_utc.isoformat()} to {cert.not_valid_after_utc.isoformat()})"
        )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _chain_to_anchor(
    chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate], at: dt.datetime
) -> x509.Certificate:
    """The anchor that ``chain`` (AK certificate first) leads to; every link checked for signature, validity
    and, for issuers, the CA flag."""
    for cert, issuer in pairwise(chain):
        _check_validity(cert, at)
        if not _is_ca(issuer):
            raise AttestationError(f"certificate {_subject(issuer)!r} issued another but is not a CA")
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise AttestationError(f"certificate {_subject(cert)!r} is not issued by {_subject(issuer)!r}") from exc
    last = chain[-1]
    _check_validity(last, at)
    for anchor in anchors:
        try:
            last.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if not _is_ca(anchor):
            raise AttestationError(f"trust anchor {_subject(anchor)!r} is not a CA certificate")
        _check_validity(anchor, at)
        return anchor
    names = ", ".join(repr(_subject(a)) for a in anchors) or "none configured"
    raise AttestationError(f"the AK certificate chain ends at {last.issuer.rfc4514_string()!r}, not at a trust "
                           f"anchor ({names})")  # fmt: skip


def _ecc_key(area: EccPublicArea) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(area.x, "big"), int.from_bytes(area.y, "big"), ec.SECP256R1()
        ).public_key()
    except ValueError as exc:
        raise AttestationError("a public area in the evidence holds a point not on P-256") from exc


def verify_evidence(
    evidence: TpmEvidence,
    trust_anchors: Sequence[x509.Certificate],
    *,
    expected_qualifying_data: bytes | None = None,
    at: dt.datetime | None = None,
) -> AttestedKey:
    """Check ``evidence`` and return the key it attests, or raise :class:`AttestationError` naming the check:

    1. the AK certificate chain leads to one of ``trust_anchors`` (signatures, validity at ``at``, CA flags);
    2. the AK certificate's key is the AK public area's, and that area is a restricted, non-exportable signing key;
    3. the AK's signature over the TPMS_ATTEST verifies, and it is a TPM-made certify structure;
    4. the name it certifies is the device public area's name, and its extra data is ``qualifying_data``
       (and ``expected_qualifying_data`` when the caller gives one);
    5. the device key is a P-256 signing key with fixedTPM, fixedParent and sensitiveDataOrigin set.
    """
    at = at or dt.datetime.now(dt.UTC)
    if not evidence.ak_certificates:
        raise AttestationError("the evidence carries no AK certificate")
    if len(evidence.ak_certificates) > MAX_CHAIN_LENGTH:
        raise AttestationError(f"the AK certificate chain has {len(evidence.ak_certificates)} certificates; at "
                               f"most {MAX_CHAIN_LENGTH} are accepted")  # fmt: skip
    try:
        chain = [x509.load_der_x509_certificate(der) for der in evidence.ak_certificates]
    except ValueError as exc:
        raise AttestationError(f"an AK certificate is not DER X.509: {exc}") from exc
    anchor = _chain_to_anchor(chain, trust_anchors, at)

    ak_area = parse_ecc_public(evidence.ak_public)
    if missing := _missing(ak_area.object_attributes, AK_ATTRIBUTES):
        raise AttestationError(f"the attestation key lacks {', '.join(missing)}: it could sign data the TPM did "
                               "not make")  # fmt: skip
    ak_key = _ecc_key(ak_area)
    cert_key = chain[0].public_key()
    if not isinstance(cert_key, ec.EllipticCurvePublicKey) or cert_key.public_numbers() != ak_key.public_numbers():
        raise AttestationError("the AK certificate is for another key than the evidence's AK public area")

    if len(evidence.signature) != 64:
        raise AttestationError(f"the AK signature is r ‖ s, 64 bytes; got {len(evidence.signature)}")
    der = encode_dss_signature(int.from_bytes(evidence.signature[:32], "big"),
                               int.from_bytes(evidence.signature[32:], "big"))  # fmt: skip
    try:
        ak_key.verify(der, evidence.certify_info, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise AttestationError("the AK's signature over the certify information does not verify") from exc
    info = parse_certify_info(evidence.certify_info)

    device = parse_ecc_public(evidence.device_public)
    if info.name != device.name:
        raise AttestationError(f"the TPM certified the object named 0x{info.name.hex()}, not the device key "
                               f"(0x{device.name.hex()})")  # fmt: skip
    if info.extra_data != evidence.qualifying_data:
        raise AttestationError("the certify information's extra data is not the evidence's qualifying data")
    if expected_qualifying_data is not None and info.extra_data != expected_qualifying_data:
        raise AttestationError(f"the evidence was made for qualifying data 0x{info.extra_data.hex()}, not "
                               f"0x{expected_qualifying_data.hex()} (a bundle from another registration?)")  # fmt: skip
    if missing := _missing(device.object_attributes, NON_EXPORTABLE | SIGN):
        raise AttestationError(f"the device key lacks {', '.join(missing)}: it is not a non-exportable TPM "
                               "signing key")  # fmt: skip
    if device.object_attributes & RESTRICTED:
        raise AttestationError("the device key is restricted: it cannot sign UsageReport digests")
    _ecc_key(device)
    return AttestedKey(
        public_key=device.point,
        attester=_subject(chain[0]),
        anchor=_subject(anchor),
        evidence_hash=evidence_hash(evidence),
    )


def open_or_create_attestation_key(signer: TpmSigner, handle: int = DEFAULT_AK_HANDLE) -> tuple[Any, bytes]:
    """The TPM's attestation key (ESYS_TR in ``signer``'s context) and its marshalled public area; created under
    the storage key and persisted at ``handle`` the first time. It must be a restricted signing key."""
    _check_handle(handle)
    t = tpm2_pytss()
    esapi = signer.esapi
    try:
        if handle in persistent_handles(esapi):
            ak = esapi.tr_from_tpmpublic(handle)
        else:
            ak = persist_new_key(esapi, AK_ATTRIBUTES, handle)
        public, _, _ = esapi.read_public(ak)
    except t.TSS2_Exception as exc:
        raise AttestationError(f"cannot open or create the attestation key at {handle:#x}: {exc}") from exc
    area: bytes = public.publicArea.marshal()
    if missing := _missing(parse_ecc_public(area).object_attributes, AK_ATTRIBUTES):
        raise AttestationError(f"the key at {handle:#x} is no attestation key: it lacks {', '.join(missing)}")
    return ak, area


def certify(signer: TpmSigner, ak: Any, qualifying_data: bytes) -> tuple[bytes, bytes]:
    """TPM2_Certify of ``signer``'s key by the attestation key ``ak``: (TPMS_ATTEST bytes, AK signature r ‖ s)."""
    t = tpm2_pytss()
    if len(qualifying_data) > 64:
        raise AttestationError(f"qualifying data is at most 64 bytes (TPM2B_DATA), got {len(qualifying_data)}")
    try:
        with signer.loaded_key() as key:
            attest, signature = signer.esapi.certify(key, ak, t.TPM2B_DATA(qualifying_data), _ecdsa_sha256_scheme())
    except t.TSS2_Exception as exc:
        raise AttestationError(f"the TPM refused to certify the key at {signer.location}: {exc}") from exc
    ecdsa = signature.signature.ecdsa
    r_s = bytes(ecdsa.signatureR).rjust(32, b"\x00") + bytes(ecdsa.signatureS).rjust(32, b"\x00")
    return bytes(attest), r_s


class ProvisionedKey(NamedTuple):
    """What ``machine register --tpm`` needs: the key to register, the evidence and the hash to record."""

    public_key: bytes
    evidence: TpmEvidence
    evidence_hash: bytes


AkCertificateIssuer = Callable[[ec.EllipticCurvePublicKey], Sequence[x509.Certificate]]
"""Given the AK's public key, the certificate chain for it (AK certificate first, anchor excluded): in production
the maker's enrolment service (after checking the AK against the TPM's EK), or a stored certificate issued once."""


def provision_tpm_key(
    tcti: str,
    *,
    issue_ak_certificate: AkCertificateIssuer,
    trust_anchors: Sequence[x509.Certificate],
    qualifying_data: bytes = b"",
    handle: int = DEFAULT_KEY_HANDLE,
    ak_handle: int = DEFAULT_AK_HANDLE,
) -> ProvisionedKey:
    """Create a device key in the TPM at ``tcti`` (persisted at ``handle``), certify it with the TPM's
    attestation key, and check the evidence against ``trust_anchors`` before returning it — a key whose
    evidence fails is not handed out for registration (it stays in the TPM; :func:`millchain.signers.tpm.evict`
    removes it). ``qualifying_data`` (≤ 64 bytes, e.g. the machine id) binds the evidence to this registration."""
    with TpmSigner.create(tcti, handle=handle) as signer:
        ak, ak_public = open_or_create_attestation_key(signer, ak_handle)
        ak_key = _ecc_key(parse_ecc_public(ak_public))
        chain = tuple(issue_ak_certificate(ak_key))
        info, signature = certify(signer, ak, qualifying_data)
        evidence = TpmEvidence(
            device_public=signer.public_area,
            certify_info=info,
            signature=signature,
            ak_public=ak_public,
            ak_certificates=tuple(c.public_bytes(Encoding.DER) for c in chain),
            qualifying_data=qualifying_data,
        )
        attested = verify_evidence(evidence, trust_anchors, expected_qualifying_data=qualifying_data)
        if attested.public_key != signer.public_key:
            raise AttestationError("the certified key is not the key just created")
        return ProvisionedKey(public_key=signer.public_key, evidence=evidence, evidence_hash=attested.evidence_hash)


def load_trust_anchors(pem: bytes) -> list[x509.Certificate]:
    """The CA certificates of a PEM bundle (the maker's configured trust anchors)."""
    try:
        anchors = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise AttestationError(f"the trust anchor file holds no PEM certificate: {exc}") from exc
    return anchors


def common_name(cert: x509.Certificate) -> str:
    """The certificate's CN, or its whole subject when it has none (for ``machine show``'s "attested by")."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else _subject(cert)
