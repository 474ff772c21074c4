"""The two TPM 2.0 structures attestation evidence carries, parsed in plain Python (TPM 2.0 Part 2).

A verifier — a lessor checking a machine's registration, the CLI before it registers — needs no TPM and no
tpm2-tss: only these parsers and ``cryptography``. Only what the checks use is decoded; anything malformed raises
:class:`TpmStructureError` naming the field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from millchain.signers import SignerError

TPM_GENERATED_VALUE = 0xFF544347
"""TPMS_ATTEST.magic: the structure was made by a TPM (a TPM refuses to sign outside data that starts so)."""
TPM_ST_ATTEST_CERTIFY = 0x8017
TPM_ALG_ECC = 0x0023
TPM_ALG_SHA256 = 0x000B
TPM_ALG_NULL = 0x0010
TPM_ECC_NIST_P256 = 0x0003


class TpmStructureError(SignerError):
    """A TPM structure in the evidence is truncated or not what it claims."""


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int, field: str) -> bytes:
        if self.pos + n > len(self.data):
            raise TpmStructureError(f"{self.what} ends inside {field}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "big")

    def u32(self, field: str) -> int:
        return int.from_bytes(self.take(4, field), "big")

    def u64(self, field: str) -> int:
        return int.from_bytes(self.take(8, field), "big")

    def sized(self, field: str) -> bytes:
        """A TPM2B: a 16-bit size and that many bytes."""
        return self.take(self.u16(field + ".size"), field)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise TpmStructureError(f"{self.what} has {len(self.data) - self.pos} byte(s) after its end")


@dataclass(frozen=True)
class EccPublicArea:
    """A P-256 TPMT_PUBLIC: what the checks need of it."""

    name_alg: int
    object_attributes: int
    x: bytes
    y: bytes
    raw: bytes

    @property
    def name(self) -> bytes:
        """The TPM name: nameAlg ‖ SHA-256(TPMT_PUBLIC) — what TPM2_Certify puts in the attestation."""
        return self.name_alg.to_bytes(2, "big") + hashlib.sha256(self.raw).digest()

    @property
    def point(self) -> bytes:
        """``x ‖ y``, 64 bytes."""
        return self.x.rjust(32, b"\x00") + self.y.rjust(32, b"\x00")


def parse_ecc_public(raw: bytes) -> EccPublicArea:
    """Parse a marshalled TPMT_PUBLIC that must be a P-256 key named with SHA-256."""
    r = _Reader(raw, "TPMT_PUBLIC")
    if (kind := r.u16("type")) != TPM_ALG_ECC:
        raise TpmStructureError(f"TPMT_PUBLIC.type is {kind:#06x}, not ECC (0x0023)")
    if (name_alg := r.u16("nameAlg")) != TPM_ALG_SHA256:
        raise TpmStructureError(f"TPMT_PUBLIC.nameAlg is {name_alg:#06x}, not SHA-256 (0x000b)")
    attributes = r.u32("objectAttributes")
    r.sized("authPolicy")
    if r.u16("symmetric.algorithm") != TPM_ALG_NULL:
        r.u16("symmetric.keyBits")
        r.u16("symmetric.mode")
    if r.u16("scheme.scheme") != TPM_ALG_NULL:
        r.u16("scheme.hashAlg")
    if (curve := r.u16("curveID")) != TPM_ECC_NIST_P256:
        raise TpmStructureError(f"TPMT_PUBLIC.curveID is {curve:#06x}, not NIST P-256 (0x0003)")
    if r.u16("kdf.scheme") != TPM_ALG_NULL:
        r.u16("kdf.hashAlg")
    x = r.sized("unique.x")
    y = r.sized("unique.y")
    r.end()
    if len(x) > 32 or len(y) > 32:
        raise TpmStructureError("TPMT_PUBLIC.unique holds coordinates longer than 32 bytes")
    return EccPublicArea(name_alg=name_alg, object_attributes=attributes, x=x, y=y, raw=raw)


@dataclass(frozen=True)
class CertifyInfo:
    """A TPMS_ATTEST of type certify: what the checks need of it."""

    qualified_signer: bytes
    extra_data: bytes
    firmware_version: int
    name: bytes
    qualified_name: bytes


def parse_certify_info(raw: bytes) -> CertifyInfo:
    """Parse the TPMS_ATTEST that TPM2_Certify returns (and signs)."""
    r = _Reader(raw, "TPMS_ATTEST")
    if (magic := r.u32("magic")) != TPM_GENERATED_VALUE:
        raise TpmStructureError(f"TPMS_ATTEST.magic is {magic:#010x}, not TPM_GENERATED_VALUE (0xff544347)")
    if (kind := r.u16("type")) != TPM_ST_ATTEST_CERTIFY:
        raise TpmStructureError(f"TPMS_ATTEST.type is {kind:#06x}, not TPM_ST_ATTEST_CERTIFY (0x8017)")
    signer = r.sized("qualifiedSigner")
    extra = r.sized("extraData")
    r.take(17, "clockInfo")  # clock u64, resetCount u32, restartCount u32, safe u8
    firmware = r.u64("firmwareVersion")
    name = r.sized("attested.certify.name")
    qualified = r.sized("attested.certify.qualifiedName")
    r.end()
    return CertifyInfo(
        qualified_signer=signer, extra_data=extra, firmware_version=firmware, name=name, qualified_name=qualified
    )
