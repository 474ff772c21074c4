"""Quality control across plants and firms: typed client for QualityLedger and QualityBonds, the lineage graph
and alert views built from events, the EIP-712 attestation an inspector signs, report verification, and a
watcher that follows one organisation's alerts and forwards them to a webhook or an MQTT topic.

Spec: docs/contracts/quality.md. Ids (organisations, products, lots) are bytes32 labels
(:func:`millchain.types.to_bytes32`); alerts are named ``LOT#SEQ``. Amounts are settlement-token base units.
The lineage is never walked on-chain: :class:`LotGraph` is rebuilt from ``LotRegistered`` events.

One job per module: ``models`` (ids, amounts, enums, views), ``typed_data`` (the signed attestation),
``lineage`` (the lot graph), ``client`` (QualityClient), ``alerts`` (alerts rebuilt from events), ``forward``
(webhook and MQTT delivery), ``watch`` (AlertWatcher). The demo's quality story is in
:mod:`millchain.demo.quality`.
"""

from __future__ import annotations

from typing import Any

from millchain.quality.client import QualityClient
from millchain.quality.forward import Forwarder, MqttForwarder, WebhookForwarder
from millchain.quality.lineage import LotGraph, LotNode
from millchain.quality.models import (
    DEFAULT_SIGNATURE_TTL,
    MAX_INPUTS,
    NO_EXPIRY,
    TOKEN_DECIMALS,
    TOKEN_SYMBOL,
    ZERO32,
    Alert,
    AlertNotice,
    AlertRef,
    Attestation,
    Bond,
    Claim,
    ClaimStatus,
    Finding,
    ForwardError,
    Inspector,
    InspectorStatus,
    Lot,
    LotId,
    Organisation,
    OrgId,
    Outcome,
    ProductId,
    ReportCheck,
    Severity,
    SignedAttestation,
    Terms,
    Trace,
    TraceNode,
    VerificationFailed,
    format_amount,
    lot_id,
    org_id,
    parse_amount,
    parse_choice,
    parse_duration,
    product_id,
)
from millchain.quality.typed_data import ATTESTATION_TYPE, attestation_typed_data, lineage_digest, sign_typed
from millchain.quality.watch import AlertWatcher
from millchain.types import parse_address


def __getattr__(name: str) -> Any:
    # The story moved to millchain.demo.quality, which imports this package: re-exported lazily for old imports.
    if name == "play_quality_story":
        from millchain.demo.quality import play_quality_story

        return play_quality_story
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ATTESTATION_TYPE",
    "DEFAULT_SIGNATURE_TTL",
    "MAX_INPUTS",
    "NO_EXPIRY",
    "TOKEN_DECIMALS",
    "TOKEN_SYMBOL",
    "ZERO32",
    "Alert",
    "AlertNotice",
    "AlertRef",
    "AlertWatcher",
    "Attestation",
    "Bond",
    "Claim",
    "ClaimStatus",
    "Finding",
    "ForwardError",
    "Forwarder",
    "Inspector",
    "InspectorStatus",
    "Lot",
    "LotGraph",
    "LotId",
    "LotNode",
    "MqttForwarder",
    "OrgId",
    "Organisation",
    "Outcome",
    "ProductId",
    "QualityClient",
    "ReportCheck",
    "Severity",
    "SignedAttestation",
    "Terms",
    "Trace",
    "TraceNode",
    "VerificationFailed",
    "WebhookForwarder",
    "attestation_typed_data",
    "format_amount",
    "lineage_digest",
    "lot_id",
    "org_id",
    "parse_address",
    "parse_amount",
    "parse_choice",
    "parse_duration",
    "play_quality_story",
    "product_id",
    "sign_typed",
]
