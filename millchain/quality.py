"""Quality control across plants and firms: typed client for QualityLedger and QualityBonds, the lineage graph
and alert views built from events, the EIP-712 attestation an inspector signs, report verification, and a
watcher that follows one organisation's alerts and forwards them to a webhook or an MQTT topic.

Spec: docs/contracts/quality.md. Ids (organisations, products, lots) are bytes32 labels
(:func:`millchain.types.to_bytes32`); alerts are named ``LOT#SEQ``. Amounts are settlement-token base units.
The lineage is never walked on-chain: :class:`LotGraph` is rebuilt from ``LotRegistered`` events.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, NewType, Protocol

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from pydantic import BaseModel, ConfigDict
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt

from millchain import units
from millchain.client import AccountClient
from millchain.disclosure import Disclosure, SaltedDocument
from millchain.errors import ConfigError, MillchainError
from millchain.session import Session
from millchain.typed_data import EIP712_DOMAIN_TYPE, permit_typed_data
from millchain.types import TokenUnits, label_of, to_bytes32

log = logging.getLogger("millchain.quality")

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


class VerificationFailed(MillchainError):
    """A document or disclosure does not match any commitment on the chain."""


class ForwardError(MillchainError):
    """An alert could not be delivered to a webhook or broker."""


# ---------------------------------------------------------------------------------------------- ids, amounts


def org_id(label: str | bytes) -> OrgId:
    return OrgId(to_bytes32(label, what="organisation id"))


def product_id(label: str | bytes) -> ProductId:
    return ProductId(to_bytes32(label, what="product id"))


def lot_id(label: str | bytes) -> LotId:
    return LotId(to_bytes32(label, what="lot id"))


def _hex(data: bytes) -> str:
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


def parse_address(text: str, *, what: str = "address") -> str:
    """A checksummed address, or a ConfigError naming ``what`` was wrong."""
    try:
        return str(to_checksum_address(text))
    except (ValueError, TypeError):
        raise ConfigError(f"{what} {text!r} is not an address (0x + 40 hex digits)") from None


# ---------------------------------------------------------------------------------------------- domain types


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
        return (self.lot, int(self.outcome), int(self.severity), self.sample_size, self.defects, self.supersedes,
                self.report_commitment, self.uri)


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
        return Finding(lot=HexBytes(self.lot), outcome=self.outcome, severity=self.severity,
                       sample_size=self.sample_size, defects=self.defects, supersedes=self.supersedes,
                       report_commitment=HexBytes(self.report_commitment), uri=self.uri)


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


# ---------------------------------------------------------------------------------------------- typed data


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
        "domain": {"name": "QualityLedger", "version": "1", "chainId": chain_id,
                   "verifyingContract": to_checksum_address(ledger)},
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


# ---------------------------------------------------------------------------------------------- lineage


@dataclass(frozen=True)
class LotNode:
    lot: bytes
    producer: bytes
    product: bytes
    quantity: int
    data_commitment: bytes
    inputs: tuple[bytes, ...]
    block_number: int


@dataclass
class LotGraph:
    """The traceability DAG from LotRegistered events. Inputs always exist before their consumers."""

    lots: dict[bytes, LotNode] = field(default_factory=dict)
    consumers: dict[bytes, list[bytes]] = field(default_factory=dict)

    def add(self, node: LotNode) -> None:
        self.lots[node.lot] = node
        for source in node.inputs:
            self.consumers.setdefault(source, []).append(node.lot)

    def node(self, lot: bytes) -> LotNode:
        try:
            return self.lots[lot]
        except KeyError:
            raise ConfigError(f"lot {label_of(lot)} is not registered on this ledger") from None

    def downstream(self, lot: bytes) -> list[bytes]:
        """Every lot built (transitively) from ``lot``, breadth first, each once."""
        return self._walk(lot, lambda n: self.consumers.get(n, []))

    def upstream(self, lot: bytes) -> list[bytes]:
        """Every lot ``lot`` was (transitively) built from, breadth first, each once."""
        return self._walk(lot, lambda n: self.lots[n].inputs if n in self.lots else ())

    @staticmethod
    def _walk(start: bytes, nexts: Callable[[bytes], Iterable[bytes]]) -> list[bytes]:
        seen = {start}
        order: list[bytes] = []
        queue = deque([start])
        while queue:
            for item in nexts(queue.popleft()):
                if item not in seen:
                    seen.add(item)
                    order.append(item)
                    queue.append(item)
        return order

    def affected(self, lot: bytes, regulators: Iterable[bytes]) -> list[bytes]:
        """Organisations an alert on ``lot`` concerns: its producer, every downstream producer, the regulators."""
        orgs = [self.node(lot).producer]
        orgs += [self.lots[d].producer for d in self.downstream(lot)]
        orgs += list(regulators)
        return list(dict.fromkeys(orgs))

    def tree(self, lot: bytes, *, up: bool, alerts: Mapping[bytes, list[str]] | None = None) -> list[TraceNode]:
        """The children of ``lot`` (its inputs when ``up``, else its consumers), recursively."""
        shown: set[bytes] = set()

        def build(item: bytes) -> TraceNode:
            node = self.lots[item]
            repeated = item in shown
            shown.add(item)
            children = [] if repeated else [build(c) for c in self._next(item, up)]
            return TraceNode(lot_id=label_of(item), producer=label_of(node.producer),
                             product_id=label_of(node.product), quantity=node.quantity,
                             alerts=list((alerts or {}).get(item, [])), repeated=repeated, children=children)

        return [build(c) for c in self._next(lot, up)]

    def _next(self, lot: bytes, up: bool) -> Sequence[bytes]:
        return self.lots[lot].inputs if up else self.consumers.get(lot, [])


def _node_from_event(event: EventData) -> LotNode:
    args = event["args"]
    return LotNode(lot=bytes(args["lotId"]), producer=bytes(args["producer"]), product=bytes(args["productId"]),
                   quantity=int(args["quantity"]), data_commitment=bytes(args["dataCommitment"]),
                   inputs=tuple(bytes(i) for i in args["inputs"]), block_number=int(event["blockNumber"]))


def _order(event: EventData) -> tuple[int, int]:
    return int(event["blockNumber"]), int(event["logIndex"])


# ---------------------------------------------------------------------------------------------- the client


class QualityClient(AccountClient):
    """Every quality-control operation, for one signing account (``account_index``) of a session."""

    DEPLOYED_AS = "QualityLedger"

    def __init__(self, session: Session, account_index: int | None = None, *, gas: int | None = None) -> None:
        super().__init__(session, account_index, gas=gas)
        self.ledger: Contract = session.contract("QualityLedger")
        self.bonds: Contract = session.contract("QualityBonds")
        self._token: Contract | None = None

    @property
    def token(self) -> Contract:
        if self._token is None:
            address = self.tx.call(self.bonds.functions.TOKEN())
            self._token = self.session.contract("SettlementToken", address)
        return self._token

    def _send(self, fn: Any) -> TxReceipt:
        return self.tx.transact(fn, gas=self.gas)

    # ------------------------------------------------------------------ organisations and inspectors

    def register_organisation(self, org: bytes, admin: str, *, regulator: bool = False) -> TxReceipt:
        return self._send(self.ledger.functions.registerOrganisation(org, parse_address(admin), regulator))

    def add_member(self, org: bytes, account: str) -> TxReceipt:
        """Invites ``account`` to ``org``; it joins when it accepts (``accept_membership``)."""
        return self._send(self.ledger.functions.addMember(org, parse_address(account)))

    def accept_membership(self, org: bytes) -> TxReceipt:
        """Joins ``org``, which invited this account."""
        return self._send(self.ledger.functions.acceptMembership(org))

    def leave_organisation(self) -> TxReceipt:
        """Leaves this account's organisation (it stays affiliated with it and may only ever rejoin it)."""
        return self._send(self.ledger.functions.leaveOrganisation())

    def remove_member(self, org: bytes, account: str) -> TxReceipt:
        return self._send(self.ledger.functions.removeMember(org, parse_address(account)))

    def transfer_organisation_admin(self, org: bytes, new_admin: str) -> TxReceipt:
        return self._send(self.ledger.functions.transferOrganisationAdmin(org, parse_address(new_admin)))

    def accredit(self, inspector: str, org: bytes, *, valid_until: int = NO_EXPIRY) -> TxReceipt:
        return self._send(self.ledger.functions.accredit(parse_address(inspector), org, valid_until))

    def suspend(self, inspector: str) -> TxReceipt:
        return self._send(self.ledger.functions.suspend(parse_address(inspector)))

    def restore(self, inspector: str) -> TxReceipt:
        return self._send(self.ledger.functions.restore(parse_address(inspector)))

    def revoke(self, inspector: str) -> TxReceipt:
        return self._send(self.ledger.functions.revoke(parse_address(inspector)))

    def organisation(self, org: bytes) -> Organisation:
        admin, index, regulator = self.tx.call(self.ledger.functions.organisation(org))
        return Organisation(org_id=label_of(org), admin=admin, index=index, regulator=regulator)

    def organisation_of(self, account: str | None = None) -> bytes | None:
        org = bytes(self.tx.call(self.ledger.functions.organisationOf(parse_address(account or self.address))))
        return None if org == ZERO32 else org

    def affiliation_of(self, account: str | None = None) -> bytes | None:
        """The organisation ``account`` belongs or last belonged to (fixed from its first membership on)."""
        org = bytes(self.tx.call(self.ledger.functions.affiliationOf(parse_address(account or self.address))))
        return None if org == ZERO32 else org

    def last_independent_fail_at(self, org: bytes) -> int:
        """When an independent Fail last hit one of ``org``'s lots (0: never); its bond withdrawals wait
        WITHDRAWAL_DELAY after it."""
        return int(self.tx.call(self.ledger.functions.lastIndependentFailAt(org)))

    def latest_independent(self, lot: bytes) -> int:
        """The seq of ``lot``'s latest record by an organisation other than its producer (0: none)."""
        return int(self.tx.call(self.ledger.functions.latestIndependent(lot)))

    def my_organisation(self) -> bytes:
        org = self.organisation_of()
        if org is None:
            raise ConfigError(f"account {self.address} belongs to no organisation on the quality ledger "
                              "(an organisation admin invites it with `millchain qc org add-member`, "
                              "then it accepts with `millchain qc org accept`)")
        return org

    def inspector(self, address: str) -> Inspector:
        checksummed = parse_address(address)
        org, status, since, valid_until = self.tx.call(self.ledger.functions.inspector(checksummed))
        can = bool(self.tx.call(self.ledger.functions.canAttest(checksummed)))
        org_bytes = bytes(org)
        return Inspector(address=checksummed, org_id=None if org_bytes == ZERO32 else label_of(org_bytes),
                         status=InspectorStatus(status), since=since, valid_until=valid_until, can_attest=can)

    def members(self, org: bytes) -> list[str]:
        """Current member accounts of ``org``, from MemberAdded / MemberRemoved / MemberLeft events."""
        events = [*self._logs("MemberAdded", {"orgId": org}), *self._logs("MemberRemoved", {"orgId": org}),
                  *self._logs("MemberLeft", {"orgId": org})]
        members: dict[str, None] = {}
        for event in sorted(events, key=_order):
            account = str(event["args"]["account"])
            if event["event"] == "MemberAdded":
                members[account] = None
            else:
                members.pop(account, None)
        return list(members)

    # ------------------------------------------------------------------ lots

    def register_lot(
        self,
        lot: bytes,
        product: bytes,
        quantity: int,
        *,
        data_commitment: bytes = ZERO32,
        inputs: Sequence[bytes] = (),
    ) -> TxReceipt:
        """Register a lot of the sender's organisation; ``inputs`` are sorted here (the contract wants them
        strictly ascending) and checked for duplicates and the limit before anything is sent."""
        ordered = sorted(set(inputs))
        if len(ordered) != len(inputs):
            raise ConfigError("a lot lists an input lot twice")
        if len(ordered) > MAX_INPUTS:
            raise ConfigError(f"a lot consumes at most {MAX_INPUTS} input lots, got {len(ordered)}")
        if quantity <= 0 or quantity >= 2**64:
            raise ConfigError(f"quantity must be between 1 and 2**64 - 1, got {quantity}")
        return self._send(self.ledger.functions.registerLot(lot, product, quantity, data_commitment, ordered))

    def lot(self, lot: bytes) -> Lot:
        producer, product, quantity, registered_at, input_count, count, digest = self.tx.call(
            self.ledger.functions.lot(lot))
        return Lot(lot_id=label_of(lot), producer=label_of(bytes(producer)), product_id=label_of(bytes(product)),
                   quantity=quantity, registered_at=registered_at, input_count=input_count,
                   attestation_count=count, lineage_digest=_hex(digest))

    def lot_event(self, lot: bytes) -> LotNode:
        """The lot's registration as emitted: data commitment and inputs (checked against its digest)."""
        events = list(self._logs("LotRegistered", {"lotId": lot}))
        if not events:
            raise ConfigError(f"lot {label_of(lot)} is not registered on this ledger")
        node = _node_from_event(events[0])
        digest = bytes(self.tx.call(self.ledger.functions.lot(lot))[6])
        if digest != lineage_digest(node.data_commitment, node.inputs):
            raise MillchainError(f"lot {label_of(lot)}: its LotRegistered event does not match the stored digest")
        return node

    def graph(self, *, to_block: int | str = "latest") -> LotGraph:
        graph = LotGraph()
        for event in sorted(self._logs("LotRegistered", to_block=to_block), key=_order):
            graph.add(_node_from_event(event))
        return graph

    def regulators(self) -> list[bytes]:
        return [bytes(e["args"]["orgId"]) for e in sorted(self._logs("OrganisationRegistered"), key=_order)
                if e["args"]["regulator"]]

    def trace(self, lot: bytes) -> Trace:
        """The lot with its upstream tree (what it was made of) and downstream tree (what was made of it)."""
        graph = self.graph()
        node = graph.node(lot)
        alerts: dict[bytes, list[str]] = {}
        for event in self._attested():
            if event["args"]["severity"] != 0:
                alerts.setdefault(bytes(event["args"]["lotId"]), []).append(
                    str(AlertRef(bytes(event["args"]["lotId"]), int(event["args"]["seq"]))))
        root = TraceNode(lot_id=label_of(lot), producer=label_of(node.producer), product_id=label_of(node.product),
                         quantity=node.quantity, alerts=alerts.get(lot, []))
        return Trace(lot=root, upstream=graph.tree(lot, up=True, alerts=alerts),
                     downstream=graph.tree(lot, up=False, alerts=alerts))

    # ------------------------------------------------------------------ attestations and alerts

    def attest(self, finding: Finding) -> tuple[AlertRef, TxReceipt]:
        """Attest as the sender (an accredited inspector); returns the attestation's ``LOT#SEQ``."""
        receipt = self._send(self.ledger.functions.attest(finding.as_tuple()))
        return self._attested_ref(receipt), receipt

    def raise_alert(self, lot: bytes, severity: Severity, *, report_commitment: bytes = ZERO32,
                    uri: str = "") -> tuple[AlertRef, TxReceipt]:
        receipt = self._send(self.ledger.functions.raiseAlert(lot, int(severity), report_commitment, uri))
        return self._attested_ref(receipt), receipt

    def sign_attestation(self, finding: Finding, *, signer: LocalAccount | None = None,
                         inspector: str | None = None, nonce: int | None = None,
                         deadline: int | None = None) -> SignedAttestation:
        """Sign ``finding`` for relaying. ``signer`` defaults to this client's key; ``inspector`` to its address
        (give a contract wallet's address when ``signer`` is its owner key). ``nonce`` defaults to the inspector's
        next nonce on the ledger (IQualityLedger.attestBySig): the signature stays valid until relayed, until
        ``deadline`` or until the inspector cancels it (cancel_signed_attestations); nobody else's record makes
        it stale. Signatures of one inspector are relayed in nonce order, so a second one signed before the first
        is relayed needs ``nonce=first.nonce + 1``. ``deadline`` defaults to one day from the latest block."""
        account = signer or self.tx.account
        who = parse_address(inspector or account.address)
        if nonce is None:
            nonce = self.attestation_nonce(who)
        if deadline is None:
            deadline = int(self.session.chain.w3.eth.get_block("latest")["timestamp"]) + DEFAULT_SIGNATURE_TTL
        typed = attestation_typed_data(chain_id=self.session.chain.chain_id, ledger=self.ledger.address,
                                       finding=finding, inspector=who, nonce=nonce, deadline=deadline)
        return SignedAttestation(lot=_hex(finding.lot), outcome=finding.outcome, severity=finding.severity,
                                 sample_size=finding.sample_size, defects=finding.defects,
                                 supersedes=finding.supersedes, report_commitment=_hex(finding.report_commitment),
                                 uri=finding.uri, inspector=who, nonce=nonce, deadline=deadline,
                                 signature=_hex(sign_typed(account, typed)))

    def relay(self, signed: SignedAttestation) -> tuple[AlertRef, TxReceipt]:
        """Submit someone's signed attestation (the sender pays the gas)."""
        receipt = self._send(self.ledger.functions.attestBySig(
            signed.finding().as_tuple(), parse_address(signed.inspector), signed.nonce, signed.deadline,
            HexBytes(signed.signature)))
        return self._attested_ref(receipt), receipt

    def attestation_nonce(self, inspector: str) -> int:
        """The nonce ``inspector``'s next relayed attestation must carry."""
        return int(self.tx.call(self.ledger.functions.attestationNonce(parse_address(inspector))))

    def cancel_signed_attestations(self, up_to: int | None = None) -> TxReceipt:
        """Void the sender's signed attestations not yet relayed: every one with a nonce below ``up_to``
        (default: the next nonce + 1, which voids the one signature carrying the next nonce)."""
        if up_to is None:
            up_to = self.attestation_nonce(self.address) + 1
        return self._send(self.ledger.functions.cancelSignedAttestations(up_to))

    def _attested_ref(self, receipt: TxReceipt) -> AlertRef:
        (event,) = self.ledger.events.Attested().process_receipt(receipt, errors=DISCARD)
        return AlertRef(bytes(event["args"]["lotId"]), int(event["args"]["seq"]))

    def attestation(self, lot: bytes, seq: int) -> Attestation:
        (org, outcome, severity, sample, defects, at, supersedes, superseded_by, independent,
         commitment) = self.tx.call(self.ledger.functions.attestation(lot, seq))
        return Attestation(ref=str(AlertRef(lot, seq)), lot_id=label_of(lot), seq=seq,
                           inspector_org=label_of(bytes(org)), outcome=Outcome(outcome), severity=Severity(severity),
                           sample_size=sample, defects=defects, attested_at=at, supersedes=supersedes,
                           superseded_by=superseded_by, independent=independent,
                           report_commitment=_hex(commitment))

    def attestations(self, lot: bytes) -> list[Attestation]:
        count = self.lot(lot).attestation_count
        return [self.attestation(lot, seq) for seq in range(1, count + 1)]

    def acknowledge(self, ref: AlertRef) -> TxReceipt:
        return self._send(self.ledger.functions.acknowledge(ref.lot, ref.seq))

    def acknowledged_at(self, ref: AlertRef, org: bytes) -> int:
        return int(self.tx.call(self.ledger.functions.acknowledgedAt(ref.lot, ref.seq, org)))

    def alerts(self, *, org: bytes | None = None, pending_only: bool = False,
               active_only: bool = False) -> list[Alert]:
        """Every alert, with the organisations it concerns and their acknowledgements, oldest first.
        ``org``: only alerts concerning it; ``pending_only``: only those ``org`` (or anyone) has not
        acknowledged; ``active_only``: not superseded by a correction."""
        view = _AlertView.load(self)
        out = []
        for alert in view.all_alerts():
            if org is not None and label_of(org) not in alert.affected:
                continue
            if pending_only and (label_of(org) not in alert.pending if org is not None else not alert.pending):
                continue
            if active_only and not alert.active:
                continue
            out.append(alert)
        return out

    # ------------------------------------------------------------------ bonds

    def mint(self, to: str, amount: int) -> TxReceipt:
        """Development chains only: mint settlement tokens (the sender needs MINTER_ROLE)."""
        return self._send(self.token.functions.mint(parse_address(to), amount))

    def balance_of(self, account: str) -> int:
        return int(self.tx.call(self.token.functions.balanceOf(parse_address(account))))

    def deposit(self, org: bytes, product: bytes, amount: int) -> TxReceipt:
        """Approve (if the allowance is short) and deposit ``amount`` into the bond."""
        if amount <= 0:
            raise ConfigError("a deposit must be more than zero")
        allowance = int(self.tx.call(self.token.functions.allowance(self.address, self.bonds.address)))
        if allowance < amount:
            self._send(self.token.functions.approve(self.bonds.address, amount))
        return self._send(self.bonds.functions.deposit(org, product, amount))

    def permit_typed_data(self, amount: int, deadline: int) -> dict[str, Any]:
        """The ERC-2612 permit letting the bonds contract pull ``amount`` from this account."""
        nonce = int(self.tx.call(self.token.functions.nonces(self.address)))
        return permit_typed_data(self.token, self.address, self.bonds.address, amount, nonce, deadline)

    def deposit_with_permit(self, org: bytes, product: bytes, amount: int, *,
                            deadline: int | None = None) -> TxReceipt:
        """Deposit in one transaction: sign an ERC-2612 permit instead of sending an approval."""
        if amount <= 0:
            raise ConfigError("a deposit must be more than zero")
        if deadline is None:
            deadline = int(self.session.chain.w3.eth.get_block("latest")["timestamp"]) + 3600
        signed = self.tx.account.sign_typed_data(full_message=self.permit_typed_data(amount, deadline))
        return self._send(self.bonds.functions.depositWithPermit(org, product, amount, deadline, signed.v,
                                                                 signed.r.to_bytes(32, "big"),
                                                                 signed.s.to_bytes(32, "big")))

    def set_terms(self, org: bytes, product: bytes, terms: Terms) -> TxReceipt:
        return self._send(self.bonds.functions.setTerms(
            org, product, (terms.penalty_per_defect, terms.claim_cap, terms.dispute_window)))

    def request_withdrawal(self, org: bytes, product: bytes, amount: int, to: str | None = None) -> TxReceipt:
        return self._send(self.bonds.functions.requestWithdrawal(
            org, product, amount, parse_address(to or self.address)))

    def cancel_withdrawal(self, org: bytes, product: bytes) -> TxReceipt:
        return self._send(self.bonds.functions.cancelWithdrawal(org, product))

    def execute_withdrawal(self, org: bytes, product: bytes) -> TxReceipt:
        return self._send(self.bonds.functions.executeWithdrawal(org, product))

    def bond(self, org: bytes, product: bytes) -> Bond:
        (balance, locked, terms, pending, effective_at, amount, to, unlock_at) = self.tx.call(
            self.bonds.functions.bond(org, product))
        return Bond(org_id=label_of(org), product_id=label_of(product), balance=balance, locked=locked,
                    free=balance - locked, terms=Terms(penalty_per_defect=terms[0], claim_cap=terms[1],
                                                       dispute_window=terms[2]),
                    pending_terms=Terms(penalty_per_defect=pending[0], claim_cap=pending[1],
                                        dispute_window=pending[2]),
                    terms_effective_at=effective_at, withdrawal_amount=amount, withdrawal_to=to,
                    unlock_at=unlock_at)

    # ------------------------------------------------------------------ claims

    def file_claim(self, ref: AlertRef, consumer_lot: bytes | None = None, *,
                   consumer_lineage: tuple[bytes, Sequence[bytes]] | None = None) -> tuple[int, TxReceipt]:
        """File the sender's organisation's claim on failed attestation ``ref``. ``consumer_lot`` (one of the
        sender's organisation's lots that consumed ``ref.lot``) is found from the lineage when not given; its
        (data commitment, inputs) are read from its LotRegistered event unless ``consumer_lineage`` gives them."""
        if consumer_lot is None:
            consumer_lot = self.consumer_lot_of(ref.lot, self.my_organisation())
        if consumer_lineage is None:
            node = self.lot_event(consumer_lot)
            consumer_lineage = (node.data_commitment, node.inputs)
        commitment, inputs = consumer_lineage
        receipt = self._send(self.bonds.functions.fileClaim(ref.lot, ref.seq, consumer_lot, commitment,
                                                            sorted(inputs)))
        (event,) = self.bonds.events.ClaimFiled().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["claimId"]), receipt

    def consumer_lot_of(self, lot: bytes, org: bytes) -> bytes:
        """A lot of ``org`` that lists ``lot`` directly among its inputs (the first registered)."""
        graph = self.graph()
        graph.node(lot)
        for consumer in graph.consumers.get(lot, []):
            if graph.lots[consumer].producer == org:
                return consumer
        raise ConfigError(f"{label_of(org)} registered no lot consuming {label_of(lot)} directly: only a direct "
                          "buyer can claim (pass --consumer-lot for one of its lots that lists it as input)")

    def accept_claim(self, claim_id: int) -> TxReceipt:
        return self._send(self.bonds.functions.acceptClaim(claim_id))

    def dispute_claim(self, claim_id: int, reason_commitment: bytes = ZERO32) -> TxReceipt:
        return self._send(self.bonds.functions.disputeClaim(claim_id, reason_commitment))

    def execute_claim(self, claim_id: int) -> TxReceipt:
        return self._send(self.bonds.functions.executeClaim(claim_id))

    def rule_claim(self, claim_id: int, awarded: int, ruling_commitment: bytes = ZERO32) -> TxReceipt:
        return self._send(self.bonds.functions.ruleClaim(claim_id, awarded, ruling_commitment))

    def withdraw_claim(self, claim_id: int) -> TxReceipt:
        return self._send(self.bonds.functions.withdrawClaim(claim_id))

    def claim(self, claim_id: int) -> Claim:
        (lot, seq, supplier, product, claimant, consumer, amount, paid, filed_at, deadline, status) = self.tx.call(
            self.bonds.functions.claim(claim_id))
        return Claim(claim_id=claim_id, lot_id=label_of(bytes(lot)), seq=seq, supplier=label_of(bytes(supplier)),
                     product_id=label_of(bytes(product)), claimant=label_of(bytes(claimant)),
                     consumer_lot=label_of(bytes(consumer)), amount=amount, paid=paid, filed_at=filed_at,
                     deadline=deadline, status=ClaimStatus(status))

    def claims(self) -> list[Claim]:
        count = int(self.tx.call(self.bonds.functions.claimCount()))
        return [self.claim(i) for i in range(1, count + 1)]

    # ------------------------------------------------------------------ report verification

    def verify_report(self, path: Path, lot: bytes, *, seq: int | None = None) -> ReportCheck:
        """Check an opened document (every field and salt, as saved by ``--save``) or one disclosed field
        (``SaltedDocument.disclose``) against the lot's commitments on the chain: its attestations' report
        commitments (only attestation ``seq`` if given) and its data commitment."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path} holds no JSON object: expected an opened document or a disclosure")
        candidates = self._commitments(lot, seq)
        if "proof" in data:
            disclosure = _parse_model(Disclosure, data, path, "a disclosure")
            matched = [name for name, root in candidates if disclosure.verify(root)]
            return ReportCheck(ok=bool(matched), kind="disclosure", root=disclosure.root, lot_id=label_of(lot),
                               matched=matched, fields={disclosure.name: disclosure.value_text})
        if "fields" in data:
            document = _parse_model(SaltedDocument, data, path, "an opened document")
            recomputed = SaltedDocument.commit(
                {name: HexBytes(f.value) for name, f in document.fields.items()},
                salts={name: HexBytes(f.salt) for name, f in document.fields.items()}).root
            if recomputed != document.root:
                raise VerificationFailed(f"{path}: its fields hash to {recomputed}, not to the root {document.root} "
                                         "it names: the document was altered")
            matched = [name for name, root in candidates if HexBytes(root) == HexBytes(document.root)]
            return ReportCheck(ok=bool(matched), kind="document", root=document.root, lot_id=label_of(lot),
                               matched=matched, fields={n: document.value_text(n) for n in document.fields})
        raise ConfigError(f"{path} is neither an opened document (root, fields) nor a disclosure "
                          "(root, name, value, salt, proof)")

    def _commitments(self, lot: bytes, seq: int | None) -> list[tuple[str, bytes]]:
        record = self.lot(lot)
        if seq is not None and not 1 <= seq <= record.attestation_count:
            raise ConfigError(f"lot {label_of(lot)} has attestations 1..{record.attestation_count}, not {seq}")
        seqs = [seq] if seq is not None else range(1, record.attestation_count + 1)
        out: list[tuple[str, bytes]] = [
            (f"attestation {s}", bytes(HexBytes(self.attestation(lot, s).report_commitment))) for s in seqs]
        if seq is None:
            out.append(("lot data", self.lot_event(lot).data_commitment))
        return [(name, bytes(root)) for name, root in out if bytes(root) != ZERO32]

    # ------------------------------------------------------------------ events

    def _logs(self, event: str, filters: dict[str, Any] | None = None, *, from_block: int | None = None,
              to_block: int | str = "latest", contract: Contract | None = None) -> list[EventData]:
        source = contract if contract is not None else self.ledger
        return list(getattr(source.events, event).get_logs(
            argument_filters=filters, from_block=self.start_block if from_block is None else from_block,
            to_block=to_block))

    def _attested(self, *, from_block: int | None = None, to_block: int | str = "latest") -> list[EventData]:
        return sorted(self._logs("Attested", from_block=from_block, to_block=to_block), key=_order)


def _parse_model(model: type[Any], data: dict[str, Any], path: Path, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"{path} is not {what}: {exc}") from exc


# ---------------------------------------------------------------------------------------------- alert views


@dataclass
class _AlertView:
    """Alerts, lineage, regulators and acknowledgements rebuilt from the ledger's events."""

    client: QualityClient
    graph: LotGraph
    regulators: list[bytes]
    attested: list[EventData]
    acks: dict[tuple[bytes, int], dict[bytes, int]]
    superseded: dict[tuple[bytes, int], int]

    @classmethod
    def load(cls, client: QualityClient) -> _AlertView:
        view = cls(client, LotGraph(), [], [], {}, {})
        view.feed(client, client.start_block, "latest")
        return view

    def feed(self, client: QualityClient, from_block: int, to_block: int | str) -> list[EventData]:
        """Take in the events of [from_block, to_block]; returns them in chain order."""
        events = self.fetch(client, from_block, to_block)
        for event in events:
            self.apply(event)
        return events

    @staticmethod
    def fetch(client: QualityClient, from_block: int, to_block: int | str) -> list[EventData]:
        events = [
            *client._logs("OrganisationRegistered", from_block=from_block, to_block=to_block),
            *client._logs("LotRegistered", from_block=from_block, to_block=to_block),
            *client._logs("Attested", from_block=from_block, to_block=to_block),
            *client._logs("AlertAcknowledged", from_block=from_block, to_block=to_block),
        ]
        return sorted(events, key=_order)

    def apply(self, event: EventData) -> None:
        args = event["args"]
        name = event["event"]
        if name == "OrganisationRegistered" and args["regulator"]:
            self.regulators.append(bytes(args["orgId"]))
        elif name == "LotRegistered":
            self.graph.add(_node_from_event(event))
        elif name == "Attested":
            self.attested.append(event)
            if args["supersedes"]:
                self.superseded[(bytes(args["lotId"]), int(args["supersedes"]))] = int(args["seq"])
        elif name == "AlertAcknowledged":
            key = (bytes(args["lotId"]), int(args["seq"]))
            self.acks.setdefault(key, {})[bytes(args["orgId"])] = int(event["blockNumber"])

    def affected(self, lot: bytes) -> list[bytes]:
        return self.graph.affected(lot, self.regulators)

    def alert(self, event: EventData) -> Alert:
        args = event["args"]
        lot, seq = bytes(args["lotId"]), int(args["seq"])
        node = self.graph.node(lot)
        affected = self.affected(lot)
        acked = self.acks.get((lot, seq), {})
        # The counts, the commitment and the inspector's organisation are in the record, not the event.
        record = self.client.attestation(lot, seq)
        return Alert(
            ref=str(AlertRef(lot, seq)), lot_id=label_of(lot), seq=seq, outcome=Outcome(args["outcome"]),
            severity=Severity(args["severity"]), inspector=str(args["inspector"]),
            inspector_org=record.inspector_org, producer=label_of(node.producer), product_id=label_of(node.product),
            defects=record.defects, sample_size=record.sample_size, report_commitment=record.report_commitment,
            uri=str(args["uri"]), block_number=int(event["blockNumber"]),
            superseded_by=self.superseded.get((lot, seq), 0), affected=[label_of(o) for o in affected],
            downstream_lots=[label_of(d) for d in self.graph.downstream(lot)],
            acknowledged={label_of(o): b for o, b in acked.items()},
            pending=[label_of(o) for o in affected if o not in acked],
        )

    def all_alerts(self) -> list[Alert]:
        return [self.alert(e) for e in self.attested if e["args"]["severity"] != 0]


# ---------------------------------------------------------------------------------------------- watching


class Forwarder(Protocol):
    def send(self, notice: AlertNotice) -> None: ...

    def close(self) -> None: ...


class WebhookForwarder:
    """POSTs each notice as JSON to ``url`` (stdlib urllib); retries ``retries`` times, then raises."""

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 2, backoff: float = 0.5,
                 headers: Mapping[str, str] | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook {url!r} must be an http:// or https:// URL")
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.headers = {"Content-Type": "application/json", "User-Agent": "millchain-qc-watch",
                        **(headers or {})}

    def send(self, notice: AlertNotice) -> None:
        body = notice.model_dump_json().encode()
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    if 200 <= response.status < 300:
                        return
                    last = ForwardError(f"webhook {self.url} answered HTTP {response.status}")
            except urllib.error.HTTPError as exc:  # 4xx/5xx arrive as exceptions
                last = ForwardError(f"webhook {self.url} answered HTTP {exc.code}")
                if 400 <= exc.code < 500 and exc.code != 429:
                    break  # the request itself is wrong: retrying cannot help
            except (urllib.error.URLError, OSError) as exc:
                last = ForwardError(f"webhook {self.url} unreachable: {exc}")
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        assert last is not None
        raise last

    def close(self) -> None:
        return None


class MqttForwarder:
    """Publishes each notice as JSON to ``topic`` on an MQTT broker (QoS 1), with paho-mqtt if installed."""

    def __init__(self, host: str, port: int = 1883, topic: str = "millchain/qc/alerts", *, qos: int = 1,
                 client_id: str = "", timeout: float = 5.0) -> None:
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError as exc:
            raise ConfigError("MQTT forwarding needs paho-mqtt: pip install 'paho-mqtt>=2'") from exc
        if not topic or any(c in topic for c in "+#"):
            raise ConfigError(f"MQTT topic {topic!r} must be non-empty and contain no wildcards (+ or #)")
        self.topic = topic
        self.qos = qos
        self.timeout = timeout
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        try:
            self._client.connect(host, port, keepalive=30)
        except OSError as exc:
            raise ForwardError(f"MQTT broker {host}:{port} unreachable: {exc}") from exc
        self._client.loop_start()

    @classmethod
    def from_url(cls, url: str, topic: str) -> MqttForwarder:
        """``mqtt://host[:port]`` (or ``host[:port]``)."""
        rest = url.removeprefix("mqtt://")
        host, _, port = rest.partition(":")
        if not host or (port and not port.isdigit()):
            raise ConfigError(f"MQTT broker {url!r} is not mqtt://HOST[:PORT]")
        return cls(host, int(port or 1883), topic)

    def send(self, notice: AlertNotice) -> None:
        info = self._client.publish(self.topic, notice.model_dump_json(), qos=self.qos)
        try:
            info.wait_for_publish(timeout=self.timeout)
        except (RuntimeError, ValueError) as exc:
            raise ForwardError(f"MQTT publish to {self.topic} failed: {exc}") from exc
        if not info.is_published():
            raise ForwardError(f"MQTT publish to {self.topic} not acknowledged within {self.timeout} s")

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


class AlertWatcher:
    """Follows the alerts that concern one organisation, block by block.

    The first :meth:`poll` takes in history up to ``from_block - 1`` silently (default: everything so far, so
    only new events are reported); every poll then reports the notices of the blocks it has not seen.
    """

    def __init__(self, client: QualityClient, org: bytes, *, from_block: int | None = None) -> None:
        self.client = client
        self.org = org
        self.from_block = from_block
        self._view: _AlertView | None = None
        self._cursor = -1  # last block taken in

    def _start(self) -> _AlertView:
        view = _AlertView(self.client, LotGraph(), [], [], {}, {})
        latest = self.client.session.chain.w3.eth.block_number
        until = latest if self.from_block is None else min(latest, self.from_block - 1)
        if until >= self.client.start_block:
            view.feed(self.client, self.client.start_block, until)
        self._cursor = max(until, self.client.start_block - 1)
        return view

    def poll(self) -> list[AlertNotice]:
        if self._view is None:
            self._view = self._start()
        view = self._view
        latest = self.client.session.chain.w3.eth.block_number
        if latest <= self._cursor:
            return []
        # Whether each active alert concerns this organisation so far: a new lot may change that.
        before = {key: self.org in view.affected(key[0]) for key in self._active_alerts(view)}
        events = view.fetch(self.client, self._cursor + 1, latest)
        notices: list[AlertNotice] = []
        for event in events:  # one at a time, so each notice sees the ledger as it was at that event
            view.apply(event)
            notices.extend(self._notices(view, event, before))
        self._cursor = latest
        return notices

    @staticmethod
    def _active_alerts(view: _AlertView) -> list[tuple[bytes, int]]:
        keys = [(bytes(e["args"]["lotId"]), int(e["args"]["seq"])) for e in view.attested
                if e["args"]["severity"] != 0]
        return [k for k in keys if k not in view.superseded]

    def _notices(self, view: _AlertView, event: EventData, before: dict[tuple[bytes, int], bool]
                 ) -> list[AlertNotice]:
        args = event["args"]
        name = event["event"]
        tx = HexBytes(event["transactionHash"]).to_0x_hex()
        block = int(event["blockNumber"])
        out: list[AlertNotice] = []
        if name == "Attested":
            key = (bytes(args["lotId"]), int(args["seq"]))
            if args["severity"] != 0 and self.org in view.affected(key[0]):
                before[key] = True
                out.append(self._notice("raised", view, key, block, tx))
            if args["supersedes"]:
                old = (key[0], int(args["supersedes"]))
                if self._is_alert(view, old) and self.org in view.affected(old[0]):
                    out.append(self._notice("superseded", view, old, block, tx, superseded_by=key[1]))
        elif name == "AlertAcknowledged":
            key = (bytes(args["lotId"]), int(args["seq"]))
            if self.org in view.affected(key[0]):
                out.append(self._notice("acknowledged", view, key, block, tx, by=label_of(bytes(args["orgId"]))))
        elif name == "LotRegistered":
            new_lot = bytes(args["lotId"])
            for key, was_affected in before.items():
                if not was_affected and self.org in view.affected(key[0]) and \
                        new_lot in view.graph.downstream(key[0]):
                    before[key] = True
                    out.append(self._notice("exposed", view, key, block, tx, via_lot=label_of(new_lot)))
        return out

    @staticmethod
    def _is_alert(view: _AlertView, key: tuple[bytes, int]) -> bool:
        return any((bytes(e["args"]["lotId"]), int(e["args"]["seq"])) == key and e["args"]["severity"] != 0
                   for e in view.attested)

    def _notice(self, kind: str, view: _AlertView, key: tuple[bytes, int], block: int, tx: str,
                **extra: Any) -> AlertNotice:
        event = next(e for e in view.attested if (bytes(e["args"]["lotId"]), int(e["args"]["seq"])) == key)
        node = view.graph.node(key[0])
        return AlertNotice(kind=kind, org=label_of(self.org), alert=str(AlertRef(*key)),
                           severity=Severity(event["args"]["severity"]), outcome=Outcome(event["args"]["outcome"]),
                           lot_id=label_of(key[0]), producer=label_of(node.producer), block_number=block,
                           transaction=tx, **extra)

    def run(self, on_notice: Callable[[AlertNotice], None], *, poll_interval: float = 1.0,
            stop: threading.Event | None = None, max_notices: int | None = None) -> int:
        """Poll until ``stop`` is set or ``max_notices`` were delivered; returns how many were."""
        stop = stop or threading.Event()
        delivered = 0
        while not stop.is_set():
            for notice in self.poll():
                on_notice(notice)
                delivered += 1
                if max_notices is not None and delivered >= max_notices:
                    return delivered
            stop.wait(poll_interval)
        return delivered


# ---------------------------------------------------------------------------------------------- the story


STORY_ACCOUNTS = {"consortium": 0, "supplier": 1, "plant": 2, "inspector": 3, "oem": 4, "regulator": 5, "lab": 6}
"""Dev account index per actor in :func:`play_quality_story`."""


def play_quality_story(session: Session, say: Callable[..., Any] = print) -> dict[str, Any]:
    """A supplier's bearing lot fails an independent laboratory's inspection; the alert reaches the plant that
    built gearboxes from it, the OEM that built tractors from those, and the regulator, who all acknowledge it;
    the plant files a claim, which the supplier accepts and its quality bond pays at once.

    Deterministic for a given chain state and safe to run again on the same chain (organisations, accreditation
    and terms are set up once; lot ids carry the starting block). Returns what happened.
    """
    a = STORY_ACCOUNTS
    # On the embedded chain a fixed gas limit skips py-evm's slow estimation (every step here succeeds).
    consortium = QualityClient(session, a["consortium"], gas=1_000_000 if session.chain.embedded else None)
    actor = {name: consortium.as_account(index) for name, index in a.items()}
    address = {name: client.address for name, client in actor.items()}
    supplier, plant, oem, lab, regulator = (org_id(x) for x in ("axle-supply", "mill-plant", "tractor-oem",
                                                                 "tuv-lab", "regulator"))
    bearing = product_id("bearing-6204")

    for org, who, is_regulator in ((supplier, "supplier", False), (plant, "plant", False), (oem, "oem", False),
                                   (lab, "lab", False), (regulator, "regulator", True)):
        if consortium.organisation_of(address[who]) is None:
            consortium.register_organisation(org, address[who], regulator=is_regulator)
    if not consortium.inspector(address["inspector"]).can_attest:
        consortium.accredit(address["inspector"], lab)
    say("organisations: axle-supply (supplier), mill-plant, tractor-oem, tuv-lab (inspection), regulator")

    terms = Terms(penalty_per_defect=parse_amount("25"), claim_cap=parse_amount("2000"), dispute_window=3 * 24 * 3600)
    if actor["supplier"].bond(supplier, bearing).terms.dispute_window == 0:
        actor["supplier"].set_terms(supplier, bearing, terms)
    deposit = parse_amount("10000")
    consortium.mint(address["supplier"], deposit)
    actor["supplier"].deposit(supplier, bearing, deposit)
    say(f"axle-supply bonds {format_amount(deposit)} for bearing-6204: 25 mUSD per defective unit, cap 2,000 mUSD")

    run = session.chain.w3.eth.block_number
    lots = {name: lot_id(f"{name}-{run}") for name in ("bearings", "housings", "gearboxes", "tractors")}
    steel = SaltedDocument.commit({"heat": "H-5521", "line": "grinding-2", "shift": "night"})
    actor["supplier"].register_lot(lots["bearings"], bearing, 5000, data_commitment=HexBytes(steel.root))
    actor["plant"].register_lot(lots["housings"], product_id("housing-g3"), 800)
    actor["plant"].register_lot(lots["gearboxes"], product_id("gearbox-g3"), 400,
                                inputs=[lots["bearings"], lots["housings"]])
    actor["oem"].register_lot(lots["tractors"], product_id("tractor-t7"), 40, inputs=[lots["gearboxes"]])
    say(f"lineage: {label_of(lots['bearings'])} -> {label_of(lots['gearboxes'])} -> {label_of(lots['tractors'])}")

    report = SaltedDocument.commit({"standard": "ISO 492 class 6", "radial-runout-um": "14 (limit 8)",
                                    "sample": "200", "defective": "14", "inspector": "tuv-lab/3"})
    ref, attest_receipt = actor["inspector"].attest(Finding(
        lot=lots["bearings"], outcome=Outcome.FAIL, severity=Severity.MAJOR, sample_size=200, defects=14,
        report_commitment=HexBytes(report.root), uri="https://reports.tuv-lab.example/qc/bearings"))
    say(f"tuv-lab attests {ref}: FAIL, 14 of 200 defective (gas {attest_receipt['gasUsed']})")

    alert = next(x for x in consortium.alerts() if x.ref == str(ref))
    say(f"alert {ref} concerns {', '.join(alert.affected)} via {', '.join(alert.downstream_lots)}")
    acked = []
    for name, org in (("plant", plant), ("oem", oem), ("regulator", regulator), ("supplier", supplier)):
        actor[name].acknowledge(ref)
        acked.append(label_of(org))
    say(f"acknowledged by {', '.join(acked)}")

    disclosed = report.disclose("radial-runout-um")
    field_ok = bool(consortium.tx.call(consortium.ledger.functions.verifyReportField(
        ref.lot, ref.seq, disclosed.name, disclosed.value_bytes, HexBytes(disclosed.salt),
        [HexBytes(p) for p in disclosed.proof])))

    plant_before = consortium.balance_of(address["plant"])
    claim_id, _ = actor["plant"].file_claim(ref)
    filed = actor["plant"].claim(claim_id)
    actor["supplier"].accept_claim(claim_id)
    paid = actor["plant"].claim(claim_id)
    received = consortium.balance_of(address["plant"]) - plant_before
    bond_after = actor["supplier"].bond(supplier, bearing)
    say(f"claim #{claim_id}: mill-plant asked {format_amount(filed.amount)}, axle-supply accepted, "
        f"paid {format_amount(paid.paid)} from the bond ({format_amount(bond_after.balance)} left)")
    return {
        "lots": {name: label_of(lot) for name, lot in lots.items()},
        "alert": str(ref),
        "severity": Severity.MAJOR.name,
        "affected": alert.affected,
        "downstream_lots": alert.downstream_lots,
        "acknowledged_by": acked,
        "disclosed_field": {"name": disclosed.name, "value": disclosed.value_text, "verified_on_chain": field_ok},
        "claim": {"id": claim_id, "amount": filed.amount, "paid": paid.paid, "status": paid.status.name,
                  "received_by_plant": received},
        "bond_left": bond_after.balance,
        "attest_gas": int(attest_receipt["gasUsed"]),
    }


__all__ = [
    "NO_EXPIRY", "Alert", "AlertNotice", "AlertRef", "AlertWatcher", "Attestation", "Bond", "Claim",
    "ClaimStatus", "Finding", "ForwardError", "Forwarder", "Inspector", "InspectorStatus", "Lot", "LotGraph",
    "LotId", "MqttForwarder", "OrgId", "Organisation", "Outcome", "ProductId", "QualityClient", "ReportCheck",
    "Severity", "SignedAttestation", "Terms", "Trace", "TraceNode", "VerificationFailed", "WebhookForwarder",
    "attestation_typed_data", "format_amount", "lineage_digest", "lot_id", "org_id", "parse_address",
    "parse_amount", "parse_choice", "parse_duration", "play_quality_story", "product_id", "sign_typed",
]

