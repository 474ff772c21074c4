"""Quality-control vocabulary: ids, amounts, the ledger's enums, the errors and the pydantic views the
client returns (docs/contracts/quality.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NewType

from hexbytes import HexBytes
from pydantic import BaseModel, ConfigDict

from millchain import units
from millchain.errors import ConfigError, MillchainError
from millchain.types import TokenUnits, label_of, to_bytes32

OrgId = NewType("OrgId", bytes)
ProductId = NewType("ProductId", bytes)
LotId = NewType("LotId", bytes)

ZERO32 = b"\0" * 32
NO_EXPIRY = 2**40 - 1
"""QualityLedger's validUntil for an accreditation without end."""
MAX_INPUTS = 32
TOKEN_DECIMALS = 6
TOKEN_SYMBOL = "mUSD"
DEFAULT_SIGNATURE_TTL = 24 * 3600


class VerificationFailed(MillchainError):
    """A document or disclosure does not match any commitment on the chain."""


class ForwardError(MillchainError):
    """An alert could not be delivered to a webhook or broker."""


def org_id(label: str | bytes) -> OrgId:
    return OrgId(to_bytes32(label, what="organisation id"))


def product_id(label: str | bytes) -> ProductId:
    return ProductId(to_bytes32(label, what="product id"))


def lot_id(label: str | bytes) -> LotId:
    return LotId(to_bytes32(label, what="lot id"))


def to_hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


@dataclass(frozen=True, order=True)
class AlertRef:
    """An alert (or any attestation): lot and number in the lot's record, printed ``LOT#SEQ``."""

    lot: bytes
    seq: int

    def __str__(self) -> str:
        return f"{label_of(self.lot)}#{self.seq}"

    @classmethod
    def parse(cls, text: str) -> AlertRef:
        """``LOT#SEQ``; the lot may itself contain ``#`` (the last one separates the number)."""
        lot, sep, seq = text.rpartition("#")
        if not sep or not lot or not seq.isdigit() or int(seq) < 1:
            raise ConfigError(f"alert {text!r} is not LOT#SEQ (e.g. bearing-0042#1, SEQ counting from 1)")
        return cls(lot_id(lot), int(seq))


def parse_amount(text: str | int) -> TokenUnits:
    """A token amount as typed ("12.5" mUSD, or base units with a ``u`` suffix: "12500000u") -> base units."""
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"amount {text} is negative")
        return TokenUnits(text)
    raw = text.strip().replace("_", "")
    if raw.endswith("u") and raw[:-1].isdigit():
        return TokenUnits(int(raw[:-1]))
    return units.parse_amount(raw, TOKEN_DECIMALS)


def format_amount(base_units: int) -> str:
    """Base units -> "12.5 mUSD" (exact; never through a float)."""
    return f"{units.format_amount(base_units, TOKEN_DECIMALS)} {TOKEN_SYMBOL}"


def parse_duration(text: str | int) -> int:
    """Seconds from "3d", "12h", "90m", "45s", "2w" or a plain number of seconds."""
    return text if isinstance(text, int) else units.parse_duration(text)


class InspectorStatus(IntEnum):
    NONE = 0
    ACCREDITED = 1
    SUSPENDED = 2
    REVOKED = 3


class Outcome(IntEnum):
    NONE = 0  # an explicit alert without a verdict
    PASS = 1
    CONDITIONAL = 2
    FAIL = 3


class Severity(IntEnum):
    NONE = 0
    MINOR = 1
    MAJOR = 2
    CRITICAL = 3


class ClaimStatus(IntEnum):
    NONE = 0
    FILED = 1
    DISPUTED = 2
    PAID = 3
    REJECTED = 4
    WITHDRAWN = 5
    LAPSED = 6


def parse_choice(enum: type[IntEnum], text: str, *, what: str) -> int:
    try:
        return int(enum[text.strip().upper().replace("-", "_")])
    except KeyError:
        names = ", ".join(m.name.lower() for m in enum)
        raise ConfigError(f"{what} {text!r} is not one of: {names}") from None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Organisation(_Frozen):
    org_id: str
    admin: str
    index: int
    regulator: bool


class Inspector(_Frozen):
    address: str
    org_id: str | None
    status: InspectorStatus
    since: int
    valid_until: int
    can_attest: bool


class Lot(_Frozen):
    lot_id: str
    producer: str
    product_id: str
    quantity: int
    registered_at: int
    input_count: int
    attestation_count: int
    lineage_digest: str


class Finding(_Frozen):
    """What an inspector found (QualityLedger's ``Finding``); outcome NONE with a severity is an explicit alert."""

    lot: bytes
    outcome: Outcome
    severity: Severity = Severity.NONE
    sample_size: int = 0
    defects: int = 0
    supersedes: int = 0
    report_commitment: bytes = ZERO32
    uri: str = ""

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.lot,
            int(self.outcome),
            int(self.severity),
            self.sample_size,
            self.defects,
            self.supersedes,
            self.report_commitment,
            self.uri,
        )


class Attestation(_Frozen):
    ref: str
    lot_id: str
    seq: int
    inspector_org: str
    outcome: Outcome
    severity: Severity
    sample_size: int
    defects: int
    attested_at: int
    supersedes: int
    superseded_by: int
    independent: bool
    report_commitment: str
    uri: str = ""
    """Where authorised readers fetch the report: from the ``Attested`` event (storage keeps only the commitment)."""

    @property
    def is_alert(self) -> bool:
        return self.severity != Severity.NONE


class SignedAttestation(_Frozen):
    """An attestation signed by its inspector, ready for anyone to relay (JSON-serialisable)."""

    lot: str  # 0x hex
    outcome: Outcome
    severity: Severity
    sample_size: int
    defects: int
    supersedes: int
    report_commitment: str
    uri: str
    inspector: str
    nonce: int  # the inspector's nonce it was signed for (IQualityLedger.attestationNonce)
    deadline: int
    signature: str

    def finding(self) -> Finding:
        return Finding(
            lot=HexBytes(self.lot),
            outcome=self.outcome,
            severity=self.severity,
            sample_size=self.sample_size,
            defects=self.defects,
            supersedes=self.supersedes,
            report_commitment=HexBytes(self.report_commitment),
            uri=self.uri,
        )


class Terms(_Frozen):
    penalty_per_defect: int
    claim_cap: int
    dispute_window: int


class Bond(_Frozen):
    org_id: str
    product_id: str
    balance: int
    locked: int
    free: int
    terms: Terms
    pending_terms: Terms
    terms_effective_at: int
    withdrawal_amount: int
    withdrawal_to: str
    unlock_at: int


class Claim(_Frozen):
    claim_id: int
    lot_id: str
    seq: int
    supplier: str
    product_id: str
    claimant: str
    consumer_lot: str
    amount: int
    paid: int
    filed_at: int
    deadline: int
    status: ClaimStatus


class Alert(_Frozen):
    """An alert with everyone it concerns: computed from events and the attestation's record."""

    ref: str
    lot_id: str
    seq: int
    outcome: Outcome
    severity: Severity
    inspector: str
    inspector_org: str
    producer: str
    product_id: str
    defects: int
    sample_size: int
    report_commitment: str
    uri: str
    block_number: int
    superseded_by: int
    affected: list[str]
    downstream_lots: list[str]
    acknowledged: dict[str, int]  # organisation -> block number of its acknowledgement
    pending: list[str]

    @property
    def active(self) -> bool:
        return self.superseded_by == 0


class TraceNode(BaseModel):
    """One lot in an upstream or downstream tree; ``repeated`` marks a lot already shown elsewhere (a DAG)."""

    model_config = ConfigDict(frozen=True)

    lot_id: str
    producer: str
    product_id: str
    quantity: int
    alerts: list[str] = []
    repeated: bool = False
    children: list[TraceNode] = []


class Trace(_Frozen):
    lot: TraceNode
    upstream: list[TraceNode]
    downstream: list[TraceNode]


class AlertNotice(_Frozen):
    """What ``watch`` reports: ``raised`` (a new alert concerns the organisation), ``exposed`` (a new lot made it
    concerned by an existing alert), ``acknowledged``, ``superseded`` (the alert was corrected)."""

    kind: str
    org: str
    alert: str
    severity: Severity
    outcome: Outcome
    lot_id: str
    producer: str
    by: str | None = None
    via_lot: str | None = None
    superseded_by: int | None = None
    block_number: int
    transaction: str


class ReportCheck(_Frozen):
    """Result of checking a document or a single disclosed field against the chain."""

    ok: bool
    kind: str  # "document" | "disclosure"
    root: str
    lot_id: str
    matched: list[str]  # "attestation N" / "lot data"
    fields: dict[str, str]  # name -> value (text) of what was checked
