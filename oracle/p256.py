"""P-256 device keys in the oracle: readings a machine's secure element or TPM signed, and machine keys the gateway
holds in its own TPM.

Device-signed mode: a P-256 machine sends ``"signature": {"r", "s"}`` (the ECDSA signature over
``sha256(EIP-712 digest)``, as any "hash with SHA-256, then sign" API makes it). The oracle normalises ``s`` to
the low half (the lease accepts only that form; ``(r, n - s)`` is the same signature to the curve), verifies it
against the registry's P-256 key with the same P256VERIFY code the embedded chain runs, and relays it through
``submitUsageBatchMixed`` beside the secp256k1 machines' reports.

Gateway mode: a machine's ``device_signer`` (a :class:`~millchain.signers.config.SignerConfig`) names where its
P-256 key lives — a TPM handle, a TPM-wrapped key file, or an encrypted PKCS#8 file. :class:`P256ReportSigner`
signs through it only what the submitter sends (the newest cumulative reading per machine per batch), because a
discrete TPM signs tens of times a second, not thousands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from millchain.calls import FunctionCall
from millchain.identity import p256_key_id
from millchain.signers import (
    Signer,
    SignerError,
    normalize_low_s,
    sign_usage_report,
    verify_usage_report_signature,
)
from millchain.typed_data import SignedUsageReport, UsageReport, UsageReportHasher
from oracle.outbox import PendingReading
from oracle.telemetry import InvalidTelemetry

P256_SIGNATURE_BYTES = 64


class P256ReportSigner:
    """A gateway-held P-256 machine key behind the submitter's signer interface: ``address`` is the key id the
    registry lists as the machine's signer; ``sign`` returns ``r`` and ``s`` in the ``r``/``vs`` slots."""

    def __init__(self, signer: Signer, hasher: UsageReportHasher) -> None:
        if signer.key_type != "p256":
            raise SignerError(f"a P-256 machine signer is needed, got a {signer.key_type} one ({signer!r})")
        self.signer = signer
        self.hasher = hasher
        self.public_key = signer.public_key
        self.address = p256_key_id(self.public_key)

    def sign(self, report: UsageReport) -> SignedUsageReport:
        signature = sign_usage_report(self.signer, self.hasher, report)
        return SignedUsageReport(report=report, r=signature[:32], vs=signature[32:])

    def close(self) -> None:
        close = getattr(self.signer, "close", None)
        if close is not None:
            close()


def verify_p256_reading(hasher: UsageReportHasher, report: UsageReport, r: bytes, s: bytes,
                        public_key: bytes | None) -> tuple[bytes, bytes]:  # fmt: skip
    """``(r, low s)`` of a device's P-256 signature over ``report``, or :class:`InvalidTelemetry`
    ``bad_signature`` naming why: the machine has no P-256 key registered, or the signature is not its key's."""
    if public_key is None:
        raise InvalidTelemetry("bad_signature", "P-256 signature from a machine whose registered key is not P-256")
    signature = normalize_low_s(r + s)
    if not verify_usage_report_signature(public_key, hasher.digest(report), signature):
        raise InvalidTelemetry(
            "bad_signature", f"P-256 signature does not verify under the registered key {p256_key_id(public_key)}"
        )
    return signature[:32], signature[32:]


class MixedBatchEncoder:
    """``submitUsageBatchMixed(secp256k1 reports, P-256 reports)`` calldata; a reading is P-256 when its machine
    is in ``p256_keys`` (machine name -> x ‖ y)."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._call = FunctionCall(abi, "submitUsageBatchMixed")

    def calldata(self, readings: Sequence[PendingReading], p256_keys: Mapping[str, bytes]) -> str:
        secp, p256 = [], []
        for reading in readings:
            report = (reading.lease_id, reading.machine_id, reading.counter, reading.runtime, reading.timestamp)
            key = p256_keys.get(reading.machine)
            if key is None:
                secp.append((report, reading.r, reading.vs))
            else:
                p256.append((report, reading.r, reading.vs, key[:32], key[32:]))
        return "0x" + self._call.encode(secp, p256).hex()
