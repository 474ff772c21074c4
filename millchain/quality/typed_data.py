"""The EIP-712 attestation an inspector signs and the lineage digest QualityLotLib computes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from millchain.quality.models import Finding
from millchain.typed_data import EIP712_DOMAIN_TYPE

ATTESTATION_TYPE = [
    {"name": "lotId", "type": "bytes32"},
    {"name": "outcome", "type": "uint8"},
    {"name": "severity", "type": "uint8"},
    {"name": "sampleSize", "type": "uint32"},
    {"name": "defects", "type": "uint32"},
    {"name": "supersedes", "type": "uint32"},
    {"name": "reportCommitment", "type": "bytes32"},
    {"name": "uri", "type": "string"},
    {"name": "inspector", "type": "address"},
    {"name": "nonce", "type": "uint64"},
    {"name": "deadline", "type": "uint40"},
]
"""EIP-712 members of ``Attestation``, in the order of QualityLedger's type string."""


def lineage_digest(data_commitment: bytes, inputs: Sequence[bytes]) -> bytes:
    """QualityLotLib.digest: keccak256(abi.encode(dataCommitment, keccak256(abi.encodePacked(inputs))))."""
    return keccak(encode(["bytes32", "bytes32"], [data_commitment, keccak(b"".join(inputs))]))


def attestation_typed_data(
    *, chain_id: int, ledger: str, finding: Finding, inspector: str, nonce: int, deadline: int
) -> dict[str, Any]:
    """The EIP-712 message an inspector signs for ``attestBySig`` (built apart from signing it)."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "Attestation": ATTESTATION_TYPE},
        "primaryType": "Attestation",
        "domain": {
            "name": "QualityLedger",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(ledger),
        },
        "message": {
            "inspector": to_checksum_address(inspector),
            "lotId": finding.lot,
            "nonce": nonce,
            "outcome": int(finding.outcome),
            "severity": int(finding.severity),
            "sampleSize": finding.sample_size,
            "defects": finding.defects,
            "supersedes": finding.supersedes,
            "reportCommitment": finding.report_commitment,
            "uri": finding.uri,
            "deadline": deadline,
        },
    }


def sign_typed(account: LocalAccount, typed_data: dict[str, Any]) -> bytes:
    """65-byte r || s || v signature of ``typed_data`` by ``account``."""
    signed = account.sign_typed_data(full_message=typed_data)
    return bytes(signed.signature)
