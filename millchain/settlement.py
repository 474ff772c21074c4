"""Supply-chain settlement (四流合一): typed client for SupplyChainSettlement, the EIP-712 order both parties
sign (built apart from signing it), order files passed between buyer and supplier, the carrier's signed
logistics events, and the four-flow assessment ``millchain order show`` prints.

Spec: docs/contracts/supply-chain-settlement.md. Orders are addressed by their key (``order_key``: the
buyer's address, then the low 96 bits of ``keccak256(abi.encode(buyer, supplier, orderId))``); ``orderId`` is
the parties' own number (a bytes32 label such as ``PO-2025-0042``). Disclosed fields of the order lines and of
invoices are checked by the contract against the order's documents chain (``verify_disclosure``). Amounts are
token base units; quantities whole units.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from web3.contract import Contract
from web3.types import EventData, TxReceipt

from millchain.client import AccountClient
from millchain.disclosure import Disclosure, FieldValue, SaltedDocument
from millchain.errors import ConfigError, MillchainError
from millchain.events import decode_events
from millchain.session import Session
from millchain.typed_data import EIP712_DOMAIN_TYPE, domain_separator, permit_typed_data
from millchain.types import label_of, to_bytes32

DOMAIN_NAME = "SupplyChainSettlement"
DOMAIN_VERSION = "1"
MAX_LOTS = 32
BPS = 10_000
ZERO32 = b"\0" * 32
ORDER_FILE_VERSION = 1
DEFAULT_SIGNATURE_TTL = 24 * 3600

ORDER_TYPE = [
    {"name": "orderId", "type": "bytes32"},
    {"name": "buyer", "type": "address"},
    {"name": "supplier", "type": "address"},
    {"name": "carrier", "type": "address"},
    {"name": "token", "type": "address"},
    {"name": "linesCommitment", "type": "bytes32"},
    {"name": "quantity", "type": "uint48"},
    {"name": "unitPrice", "type": "uint96"},
    {"name": "total", "type": "uint96"},
    {"name": "deliveryDeadline", "type": "uint40"},
    {"name": "qcRequired", "type": "bool"},
    {"name": "retentionBps", "type": "uint16"},
    {"name": "warrantyPeriod", "type": "uint32"},
    {"name": "toleranceBps", "type": "uint16"},
]
"""EIP-712 members of ``Order``, in the order of SupplyChainSettlement's type string."""
SHIPMENT_TYPE = [
    {"name": "orderKey", "type": "bytes32"},
    {"name": "quantity", "type": "uint48"},
    {"name": "lotIds", "type": "bytes32[]"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint40"},
]
CHECKPOINT_TYPE = [
    {"name": "orderKey", "type": "bytes32"},
    {"name": "shipmentId", "type": "uint256"},
    {"name": "commitment", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint40"},
]
DELIVERY_TYPE = [
    {"name": "orderKey", "type": "bytes32"},
    {"name": "shipmentId", "type": "uint256"},
    {"name": "quantity", "type": "uint48"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint40"},
]
_CARRIER_TYPES: dict[str, list[dict[str, str]]] = {
    "Shipment": SHIPMENT_TYPE, "Checkpoint": CHECKPOINT_TYPE, "Delivery": DELIVERY_TYPE}


def _type_string(name: str, members: Sequence[Mapping[str, str]]) -> str:
    return f"{name}(" + ",".join(f"{m['type']} {m['name']}" for m in members) + ")"


ORDER_TYPEHASH = keccak(_type_string("Order", ORDER_TYPE).encode())


class SettlementError(MillchainError):
    """An order file, signature or settlement state is not what an operation needs."""


# ---------------------------------------------------------------------------------------------- enums


class OrderStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    COMPLETED = 2
    CLOSED = 3
    VOID = 4


class ShipmentStatus(IntEnum):
    NONE = 0
    IN_TRANSIT = 1
    DELIVERED = 2
    SETTLED = 3


class Receipt(IntEnum):
    NONE = 0
    BUYER = 1
    INSPECTION = 2
    ARBITER = 3


class InvoiceStatus(IntEnum):
    NONE = 0
    SUBMITTED = 1
    VERIFIED = 2
    REJECTED = 3


class Flow(IntEnum):
    CONTRACT = 0
    LOGISTICS = 1
    INVOICE = 2
    FUNDS = 3


class ClaimUse(IntEnum):
    NONE = 0
    HOLDING = 1
    DRAWN = 2
    DROPPED = 3


# ---------------------------------------------------------------------------------------------- parsing


def order_id(label: str | bytes) -> bytes:
    """An order number as bytes32: a label of at most 32 bytes (``PO-2025-0042``) or 0x + 64 hex."""
    return to_bytes32(label, what="order id")


def lot_id(label: str | bytes) -> bytes:
    return to_bytes32(label, what="lot id")


def parse_bps(text: str | int, *, what: str = "share") -> int:
    """Basis points from ``"5%"``, ``"0.5%"``, ``"250bps"`` or a plain number of basis points."""
    if isinstance(text, int):
        value = Decimal(text)
    else:
        raw = text.strip().lower().replace(" ", "")
        try:
            if raw.endswith("%"):
                value = Decimal(raw[:-1]) * 100
            elif raw.endswith("bps"):
                value = Decimal(raw[:-3])
            else:
                value = Decimal(raw)
        except InvalidOperation:
            raise ConfigError(f"{what} {text!r} is not a percentage (5%, 0.5%) or basis points (250bps)") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ConfigError(f"{what} {text!r} is finer than one basis point (0.01 %)")
    if not 0 <= value <= BPS:
        raise ConfigError(f"{what} {text!r} must be between 0 and 100 %")
    return int(value)


def format_bps(bps: int) -> str:
    text = f"{Decimal(bps) / 100:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " %"  # 0 -> "0 %", not " %"


def parse_address(text: str, *, what: str = "address") -> str:
    try:
        return str(to_checksum_address(text))
    except (ValueError, TypeError):
        raise ConfigError(f"{what} {text!r} is not an address (0x + 40 hex digits)") from None


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _bytes32(value: Any, *, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif isinstance(value, str) and value.startswith("0x"):
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            raise ConfigError(f"{what} {value!r} is not hex") from None
    else:
        raise ConfigError(f"{what} {value!r} is not 0x + 64 hex digits")
    if len(raw) != 32:
        raise ConfigError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def _readable_validation(exc: ValidationError, what: str) -> ConfigError:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or what
        parts.append(f"{where}: {error['msg']}")
    return ConfigError(f"invalid {what}: " + "; ".join(parts))


# ---------------------------------------------------------------------------------------------- the order


class Order(BaseModel):
    """The order buyer and supplier sign (ISupplyChainSettlement.Order). Amounts in token base units."""

    model_config = ConfigDict(frozen=True)

    order_id: bytes = Field(min_length=32, max_length=32)
    buyer: str
    supplier: str
    carrier: str
    token: str
    lines_commitment: bytes = Field(default=ZERO32, min_length=32, max_length=32)
    quantity: int = Field(gt=0, lt=2**48)
    unit_price: int = Field(gt=0, lt=2**96)
    total: int = Field(gt=0, lt=2**96)
    delivery_deadline: int = Field(gt=0, lt=2**40)
    qc_required: bool = False
    retention_bps: int = Field(default=0, ge=0, le=BPS)
    warranty_period: int = Field(default=0, ge=0, lt=2**32)
    tolerance_bps: int = Field(default=0, ge=0, le=BPS)

    @model_validator(mode="after")
    def _consistent(self) -> Order:
        for name in ("buyer", "supplier", "carrier", "token"):
            object.__setattr__(self, name, parse_address(getattr(self, name), what=name))
        if self.buyer == self.supplier:
            raise ValueError(f"buyer and supplier are the same account {self.buyer}")
        if self.total != self.quantity * self.unit_price:
            raise ValueError(f"total {self.total} is not quantity x unit price = {self.quantity * self.unit_price}")
        if self.retention_bps and not self.warranty_period:
            raise ValueError("a retention needs a warranty period after which it is released")
        return self

    @classmethod
    def build(cls, **fields: Any) -> Order:
        """An Order from keyword fields, ``total`` computed when not given; a ConfigError names what is wrong."""
        if "total" not in fields and isinstance(fields.get("quantity"), int) \
                and isinstance(fields.get("unit_price"), int):
            fields["total"] = fields["quantity"] * fields["unit_price"]
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise _readable_validation(exc, "order") from None

    @property
    def key(self) -> bytes:
        return order_key(self.buyer, self.supplier, self.order_id)

    def message(self) -> dict[str, Any]:
        """The ``message`` of the typed data: JSON values, as a wallet shows them."""
        return {
            "orderId": _hex(self.order_id), "buyer": self.buyer, "supplier": self.supplier,
            "carrier": self.carrier, "token": self.token, "linesCommitment": _hex(self.lines_commitment),
            "quantity": self.quantity, "unitPrice": self.unit_price, "total": self.total,
            "deliveryDeadline": self.delivery_deadline, "qcRequired": self.qc_required,
            "retentionBps": self.retention_bps, "warrantyPeriod": self.warranty_period,
            "toleranceBps": self.tolerance_bps,
        }

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Order:
        expected = {m["name"] for m in ORDER_TYPE}
        if set(message) != expected:
            missing, extra = sorted(expected - set(message)), sorted(set(message) - expected)
            raise ConfigError(f"order message fields differ from Order: missing {missing}, unexpected {extra}")
        return cls.build(
            order_id=_bytes32(message["orderId"], what="orderId"), buyer=message["buyer"],
            supplier=message["supplier"], carrier=message["carrier"], token=message["token"],
            lines_commitment=_bytes32(message["linesCommitment"], what="linesCommitment"),
            quantity=message["quantity"], unit_price=message["unitPrice"], total=message["total"],
            delivery_deadline=message["deliveryDeadline"], qc_required=message["qcRequired"],
            retention_bps=message["retentionBps"], warranty_period=message["warrantyPeriod"],
            tolerance_bps=message["toleranceBps"])

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI shape of ISupplyChainSettlement.Order."""
        return (self.order_id, self.buyer, self.supplier, self.carrier, self.token, self.lines_commitment,
                self.quantity, self.unit_price, self.total, self.delivery_deadline, self.qc_required,
                self.retention_bps, self.warranty_period, self.tolerance_bps)

    def struct_hash(self) -> bytes:
        types = ["bytes32"] + [m["type"] for m in ORDER_TYPE]
        return keccak(encode(types, [ORDER_TYPEHASH, *self.as_tuple()]))

    def party(self, address: str) -> Literal["buyer", "supplier"] | None:
        who = parse_address(address)
        return "buyer" if who == self.buyer else "supplier" if who == self.supplier else None


def order_key(buyer: str, supplier: str, number: bytes) -> bytes:
    """The contract's handle of an order: the buyer's address, then the low 96 bits of
    keccak256(abi.encode(buyer, supplier, orderId)) (so the key names its buyer without a storage read)."""
    buyer = parse_address(buyer)
    digest = keccak(encode(["address", "address", "bytes32"], [buyer, parse_address(supplier), number]))
    return bytes.fromhex(buyer[2:]) + digest[-12:]


SEQUENCE_SHIFT = 240
_DIGEST_MASK = (1 << SEQUENCE_SHIFT) - 1


def shipment_id(number: int, lots: Sequence[bytes]) -> int:
    """A shipment's id: its number in the order in the top 16 bits, the low 240 bits of the digest of its lots
    below (so the id proves which lots it carried)."""
    if not 1 <= number < 2**16:
        raise ConfigError(f"shipment number {number} is outside 1..65535")
    digest = int.from_bytes(bytes(keccak(b"".join(lots))), "big")
    return (number << SEQUENCE_SHIFT) | (digest & _DIGEST_MASK)


def shipment_number(shipment: int) -> int:
    """The number (1, 2, …) of a shipment in its order, from its id."""
    return shipment >> SEQUENCE_SHIFT


def settlement_domain(chain_id: int, contract: str) -> dict[str, Any]:
    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
            "verifyingContract": to_checksum_address(contract)}


_JSON_SAFE_BITS = 53
"""JavaScript numbers hold integers up to 2**53 exactly; ethers rejects wider ones given as JSON numbers."""
_WIDE_ORDER_FIELDS = frozenset(f["name"] for f in ORDER_TYPE
                               if f["type"].startswith("uint") and int(f["type"][4:]) > _JSON_SAFE_BITS)


def order_typed_data(domain: Mapping[str, Any], order: Order) -> dict[str, Any]:
    """The full EIP-712 message (eth_signTypedData_v4 JSON) a wallet displays and the parties sign. Integers wider
    than 53 bits (unitPrice, total) are decimal strings, as wallets take them; eth-account reads them too."""
    message = {k: str(v) if k in _WIDE_ORDER_FIELDS else v for k, v in order.message().items()}
    return {"types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "Order": ORDER_TYPE}, "primaryType": "Order",
            "domain": dict(domain), "message": message}


def order_digest(domain: Mapping[str, Any], order: Order) -> bytes:
    """The digest both parties sign, computed directly (equal to the contract's orderDigest)."""
    return keccak(b"\x19\x01" + domain_separator(dict(domain)) + order.struct_hash())


def sign_typed(account: LocalAccount, typed_data: Mapping[str, Any]) -> bytes:
    """65-byte r ‖ s ‖ v signature of ``typed_data`` by ``account`` (eth-account)."""
    return bytes(account.sign_typed_data(full_message=dict(typed_data)).signature)


def recover_typed(typed_data: Mapping[str, Any], signature: bytes) -> str:
    """The EOA that signed ``typed_data`` (a contract wallet's signature recovers to something else)."""
    return str(Account.recover_message(encode_typed_data(full_message=dict(typed_data)), signature=signature))


# ---------------------------------------------------------------------------------------------- order files


def _document_root(document: SaltedDocument) -> bytes:
    """The root an opened document's values and salts really commit to (not the root it claims)."""
    values = {name: bytes.fromhex(opened.value[2:]) for name, opened in document.fields.items()}
    salts = {name: bytes.fromhex(opened.salt[2:]) for name, opened in document.fields.items()}
    return _bytes32(SaltedDocument.commit(values, salts=salts).root, what="lines root")


class OrderFile(BaseModel):
    """What buyer and supplier pass between them before submitting: the typed data to sign, the signatures
    collected so far and the opened order lines (values and salts) the lines commitment was built from, so a
    signer can check what it commits to."""

    model_config = ConfigDict(populate_by_name=True)

    version: int = ORDER_FILE_VERSION
    typed_data: dict[str, Any] = Field(alias="typedData")
    signatures: dict[str, str] = Field(default_factory=dict)
    lines: SaltedDocument | None = None

    @classmethod
    def new(cls, domain: Mapping[str, Any], order: Order, lines: SaltedDocument | None = None) -> OrderFile:
        if lines is not None and _document_root(lines) != order.lines_commitment:
            raise ConfigError("the order's linesCommitment is not the root of the lines given")
        return cls.model_validate({"typedData": order_typed_data(domain, order), "lines": lines})

    @property
    def order(self) -> Order:
        return Order.from_message(self.typed_data.get("message", {}))

    @property
    def domain(self) -> dict[str, Any]:
        return dict(self.typed_data.get("domain", {}))

    @property
    def key(self) -> bytes:
        return self.order.key

    def check_shape(self) -> None:
        """The typed data is an Order for SupplyChainSettlement and its lines match the commitment."""
        if self.typed_data.get("primaryType") != "Order" or self.typed_data.get("types", {}).get("Order") != ORDER_TYPE:
            raise ConfigError("the file's typed data is not a SupplyChainSettlement Order")
        domain = self.domain
        if domain.get("name") != DOMAIN_NAME or domain.get("version") != DOMAIN_VERSION:
            raise ConfigError(f"the file's domain is {domain.get('name')!r} v{domain.get('version')}, "
                              f"not {DOMAIN_NAME} v{DOMAIN_VERSION}")
        if self.lines is not None and _document_root(self.lines) != self.order.lines_commitment:
            raise ConfigError("the order lines in the file do not match its linesCommitment")

    def signature(self, role: str) -> bytes:
        if role not in self.signatures:
            have = ", ".join(sorted(self.signatures)) or "none"
            raise SettlementError(f"the order has no {role} signature yet (signatures: {have}); "
                                  f"run `millchain order sign` as the {role}")
        return bytes(HexBytes(self.signatures[role]))

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2, by_alias=True, exclude_none=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> OrderFile:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read order file {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not JSON: {exc}") from None
        try:
            loaded = cls.model_validate(raw)
        except ValidationError as exc:
            raise _readable_validation(exc, f"order file {path}") from None
        loaded.check_shape()
        return loaded


def sign_order_file(document: OrderFile, account: LocalAccount, *, role: str | None = None) -> str:
    """Add ``account``'s signature to an order file, offline; returns the role it signed as. ``role`` names it
    when ``account`` is the owner key of a contract wallet that is the party (a plain signature of the typed
    data; wallets that want their own envelope sign with their own tools)."""
    order = document.order
    who = role or order.party(account.address)
    if who not in ("buyer", "supplier"):
        raise SettlementError(f"{account.address} is neither the buyer ({order.buyer}) nor the supplier "
                              f"({order.supplier}) of order {label_of(order.order_id)}")
    document.signatures[who] = _hex(sign_typed(account, document.typed_data))
    return who


# ---------------------------------------------------------------------------------------------- views


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Mismatch(_Frozen):
    flow: Flow
    expected: int
    actual: int

    def __str__(self) -> str:
        return f"{self.flow.name.lower()}: expected {self.expected}, got {self.actual}"


class OrderView(_Frozen):
    """An order's terms and state (orderState) plus what only its OrderCreated event holds."""

    key: str
    order_id: str
    lines_commitment: str
    status: OrderStatus
    buyer: str
    supplier: str
    carrier: str
    token: str
    quantity: int
    unit_price: int
    delivery_deadline: int
    qc_required: bool
    retention_bps: int
    warranty_period: int
    tolerance_bps: int
    shipment_count: int
    escrow: int
    retention: int
    settled: int
    reserved: int
    release_at: int
    holds: int

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price

    @property
    def remaining(self) -> int:
        return self.quantity - self.settled


class ShipmentView(_Frozen):
    """A shipment's on-chain state plus its facts from events (shipped quantity, lots, checkpoints, invoice)."""

    shipment_id: int
    number: int
    status: ShipmentStatus
    receipt: Receipt
    invoice: InvoiceStatus
    delivered: int
    received: int
    invoice_amount: int
    shipped: int = 0
    lots: list[str] = Field(default_factory=list)
    checkpoints: list[str] = Field(default_factory=list)
    invoice_tax: int = 0
    invoice_commitment: str | None = None
    paid: int = 0
    retained: int = 0
    mismatches: list[Mismatch] = Field(default_factory=list)


FlowState = Literal["agrees", "mismatch", "waiting"]


class FlowCheck(_Frozen):
    """One flow of one shipment, judged by the contract's rules: does it agree with the others?"""

    flow: Flow
    state: FlowState
    detail: str
    expected: int | None = None
    actual: int | None = None


class ShipmentAssessment(_Frozen):
    shipment: ShipmentView
    flows: dict[str, FlowCheck]
    outcome: str


class FundsLedger(_Frozen):
    """Every token movement of an order, from its events: funded = paid + refunded + escrow + retention."""

    funded: int = 0
    paid: int = 0
    refunded: int = 0
    escrow: int = 0
    retention: int = 0

    @property
    def balanced(self) -> bool:
        return self.funded == self.paid + self.refunded + self.escrow + self.retention


class InvoiceLink(_Frozen):
    """An invoice as the supplier submitted it (its InvoiceSubmitted event): a link of the order's documents
    chain, ISupplyChainSettlement.InvoiceLink."""

    shipment_id: int
    amount: int
    tax_amount: int
    commitment: str

    def as_tuple(self) -> tuple[int, int, int, bytes]:
        return (self.shipment_id, self.amount, self.tax_amount, HexBytes(self.commitment))


def documents_head(order: Order, invoices: Sequence[InvoiceLink] = ()) -> bytes:
    """The 20 bytes the contract keeps for an order's documents (``documents(orderKey)``): the low 160 bits of the
    signed order's struct hash (it holds the lines root), then each submitted invoice folded in."""
    head = order.struct_hash()[-20:]
    for link in invoices:
        head = keccak(encode(["uint160", "uint256", "uint96", "uint96", "bytes32"],
                             [int.from_bytes(head, "big"), *link.as_tuple()]))[-20:]
    return head


class DocumentCheck(_Frozen):
    """A disclosed field checked by the contract against an order's documents chain."""

    ok: bool
    document: str
    index: int
    name: str
    value: str
    verified_invoice: bool = False
    """Whether the document is its shipment's verified invoice (the last submitted for it, and verified): a
    rejected or replaced invoice's fields still match what the supplier once submitted, but it is not the
    invoice."""


class OrderReport(_Frozen):
    order: OrderView
    shipments: list[ShipmentAssessment]
    funds: FundsLedger
    now: int

    @property
    def ended(self) -> bool:
        return self.order.status is OrderStatus.CLOSED or self.now > self.order.delivery_deadline


def assess(order: OrderView, s: ShipmentView) -> ShipmentAssessment:
    """The four flows of a shipment side by side, with the contract's agreement rules applied."""
    checks: dict[Flow, FlowCheck] = {}
    due = s.received * order.unit_price
    has_receipt = s.receipt is not Receipt.NONE
    if s.status is ShipmentStatus.SETTLED:
        for flow in Flow:
            checks[flow] = FlowCheck(flow=flow, state="agrees", detail="settled")
        return ShipmentAssessment(shipment=s, flows={f.name.lower(): c for f, c in checks.items()},
                                  outcome=f"settled: paid {s.paid}, retained {s.retained}")

    # logistics
    if s.receipt is Receipt.ARBITER:
        checks[Flow.LOGISTICS] = FlowCheck(flow=Flow.LOGISTICS, state="agrees",
                                           detail=f"arbiter accepted {s.received}")
    elif s.status is not ShipmentStatus.DELIVERED or not has_receipt:
        missing = "delivery" if s.status is not ShipmentStatus.DELIVERED else "receipt"
        if s.status is not ShipmentStatus.DELIVERED and not has_receipt:
            missing = "delivery and receipt"
        checks[Flow.LOGISTICS] = FlowCheck(flow=Flow.LOGISTICS, state="waiting", detail=f"waiting for {missing}")
    else:
        difference = abs(s.delivered - s.received)
        ok = difference * BPS <= s.delivered * order.tolerance_bps
        checks[Flow.LOGISTICS] = FlowCheck(
            flow=Flow.LOGISTICS, state="agrees" if ok else "mismatch", expected=s.delivered, actual=s.received,
            detail=f"delivered {s.delivered}, received {s.received} (tolerance {format_bps(order.tolerance_bps)})")
    # contract
    if has_receipt:
        ok = s.received <= order.remaining
        checks[Flow.CONTRACT] = FlowCheck(flow=Flow.CONTRACT, state="agrees" if ok else "mismatch",
                                          expected=order.remaining, actual=s.received,
                                          detail=f"{s.received} of {order.remaining} still payable")
    else:
        checks[Flow.CONTRACT] = FlowCheck(flow=Flow.CONTRACT, state="waiting",
                                          detail=f"{order.remaining} of {order.quantity} still payable")
    # invoice
    if s.invoice is InvoiceStatus.VERIFIED:
        if has_receipt:
            ok = s.invoice_amount == due
            checks[Flow.INVOICE] = FlowCheck(flow=Flow.INVOICE, state="agrees" if ok else "mismatch",
                                             expected=due, actual=s.invoice_amount,
                                             detail=f"verified {s.invoice_amount}, receipt makes {due}")
        else:
            checks[Flow.INVOICE] = FlowCheck(flow=Flow.INVOICE, state="waiting", actual=s.invoice_amount,
                                             detail=f"verified {s.invoice_amount}, waiting for the receipt")
    elif has_receipt and s.received == 0 and s.invoice in (InvoiceStatus.NONE, InvoiceStatus.REJECTED):
        checks[Flow.INVOICE] = FlowCheck(flow=Flow.INVOICE, state="agrees", detail="nothing received, nothing due")
    else:
        what = {InvoiceStatus.NONE: "waiting for the supplier's invoice",
                InvoiceStatus.SUBMITTED: f"{s.invoice_amount} submitted, waiting for the tax platform",
                InvoiceStatus.REJECTED: f"{s.invoice_amount} rejected, waiting for a new invoice"}[s.invoice]
        checks[Flow.INVOICE] = FlowCheck(flow=Flow.INVOICE, state="waiting", actual=s.invoice_amount or None,
                                         detail=what)
    # funds
    if has_receipt:
        ok = order.escrow >= due
        checks[Flow.FUNDS] = FlowCheck(flow=Flow.FUNDS, state="agrees" if ok else "mismatch", expected=due,
                                       actual=order.escrow, detail=f"due {due}, escrow {order.escrow}")
    else:
        checks[Flow.FUNDS] = FlowCheck(flow=Flow.FUNDS, state="waiting", actual=order.escrow,
                                       detail=f"escrow {order.escrow}")

    waiting = [f.name.lower() for f in Flow if checks[f].state == "waiting"]
    wrong = [f.name.lower() for f in Flow if checks[f].state == "mismatch"]
    if waiting:
        outcome = "waiting: " + ", ".join(waiting)
    elif wrong:
        outcome = "mismatch: " + ", ".join(wrong)
    else:
        outcome = "ready: every flow agrees (run `millchain order settle`)"
    return ShipmentAssessment(shipment=s, flows={f.name.lower(): checks[f] for f in Flow}, outcome=outcome)


# ---------------------------------------------------------------------------------------------- carrier signatures


@dataclass(frozen=True)
class CarrierEvent:
    """A logistics event signed by the order's carrier (or a device its ERC-1271 wallet accepts), to relay."""

    kind: Literal["Shipment", "Checkpoint", "Delivery"]
    order_key: bytes
    nonce: int
    deadline: int
    signature: bytes
    quantity: int = 0
    lots: tuple[bytes, ...] = ()
    shipment_id: int = 0
    commitment: bytes = ZERO32

    def message(self) -> dict[str, Any]:
        base: dict[str, Any] = {"orderKey": _hex(self.order_key)}
        if self.kind == "Shipment":
            base.update(quantity=self.quantity, lotIds=[_hex(lot) for lot in self.lots])
        elif self.kind == "Checkpoint":
            base.update(shipmentId=self.shipment_id, commitment=_hex(self.commitment))
        else:
            base.update(shipmentId=self.shipment_id, quantity=self.quantity)
        base.update(nonce=self.nonce, deadline=self.deadline)
        return base


def carrier_typed_data(domain: Mapping[str, Any], kind: str, message: Mapping[str, Any]) -> dict[str, Any]:
    """The EIP-712 message of a carrier's Shipment, Checkpoint or Delivery."""
    if kind not in _CARRIER_TYPES:
        raise ConfigError(f"carrier event kind {kind!r} is not one of {', '.join(_CARRIER_TYPES)}")
    return {"types": {"EIP712Domain": EIP712_DOMAIN_TYPE, kind: _CARRIER_TYPES[kind]}, "primaryType": kind,
            "domain": dict(domain), "message": dict(message)}


# ---------------------------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    """What a transaction did to settlement: shipments settled, flows that disagreed, retention moves."""

    receipt: TxReceipt
    settled: list[dict[str, int]] = field(default_factory=list)
    mismatches: list[tuple[int, Mismatch]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    @property
    def gas(self) -> int:
        return int(self.receipt["gasUsed"])

    @property
    def tx_hash(self) -> str:
        return HexBytes(self.receipt["transactionHash"]).to_0x_hex()


def _outcome(contract: Contract, receipt: TxReceipt) -> Outcome:
    outcome = Outcome(receipt=receipt)
    for event in decode_events(contract, receipt):
        name, args = str(event["event"]), event["args"]
        outcome.events.append(name)
        if name == "ShipmentSettled":
            outcome.settled.append({"shipment": int(args["shipmentId"]), "quantity": int(args["quantity"]),
                                    "paid": int(args["paid"]), "retained": int(args["retained"])})
        elif name == "SettlementMismatched":
            outcome.mismatches.append((int(args["shipmentId"]), Mismatch(
                flow=Flow(args["flow"]), expected=int(args["expected"]), actual=int(args["actual"]))))
    return outcome


# ---------------------------------------------------------------------------------------------- the client


class SettlementClient(AccountClient):
    """Every settlement operation for one signing account (buyer, supplier, carrier, tax platform, arbiter or
    a relayer) of a session."""

    DEPLOYED_AS = "SupplyChainSettlement"

    def __init__(self, session: Session, account_index: int | None = None, *, gas: int | None = None) -> None:
        super().__init__(session, account_index, gas=gas)
        self.contract: Contract = session.contract("SupplyChainSettlement")
        self._tokens: dict[str, Contract] = {}

    @property
    def domain(self) -> dict[str, Any]:
        return settlement_domain(self.session.chain.chain_id, self.contract.address)

    def token(self, address: str) -> Contract:
        key = parse_address(address, what="token")
        if key not in self._tokens:
            self._tokens[key] = self.session.contract("SettlementToken", key)
        return self._tokens[key]

    def decimals(self, token: str) -> int:
        return int(self.tx.call(self.token(token).functions.decimals()))

    def now(self) -> int:
        return self.session.chain.now()

    def _send(self, fn: Any) -> Outcome:
        return _outcome(self.contract, self.tx.transact(fn, gas=self.gas))

    # ------------------------------------------------------------------ contract flow

    def typed_data(self, order: Order) -> dict[str, Any]:
        return order_typed_data(self.domain, order)

    def digest(self, order: Order) -> bytes:
        return order_digest(self.domain, order)

    def sign(self, order: Order, signer: LocalAccount | None = None) -> bytes:
        """This client's (or ``signer``'s) signature of ``order``, over the wallet-visible typed data."""
        return sign_typed(signer or self.tx.account, self.typed_data(order))

    def sign_file(self, document: OrderFile, signer: LocalAccount | None = None,
                  *, role: str | None = None) -> str:
        """Add the signer's signature to an order file after checking it was made for this deployment; returns
        the role it signed as (see :func:`sign_order_file`)."""
        if document.domain != self.domain:
            raise SettlementError(f"the order was made for {document.domain.get('verifyingContract')} on chain "
                                  f"{document.domain.get('chainId')}, not this deployment "
                                  f"({self.contract.address} on chain {self.session.chain.chain_id})")
        return sign_order_file(document, signer or self.tx.account, role=role)

    def create(self, order: Order, buyer_signature: bytes, supplier_signature: bytes, *,
               funding: int = 0) -> tuple[bytes, Outcome]:
        """Submit a doubly signed order, funding ``funding`` of its escrow from this account in the same
        transaction (approving first if the allowance is short); returns its key."""
        if funding < 0:
            raise ConfigError("funding must not be negative")
        if funding:
            self._approve(order.token, funding)
        outcome = self._send(self.contract.functions.createOrder(order.as_tuple(), buyer_signature,
                                                                 supplier_signature, funding))
        return order.key, outcome

    def submit(self, document: OrderFile, *, funding: int = 0) -> tuple[bytes, Outcome]:
        return self.create(document.order, document.signature("buyer"), document.signature("supplier"),
                           funding=funding)

    def void(self, buyer: str, supplier: str, number: bytes) -> Outcome:
        return self._send(self.contract.functions.voidOrder(parse_address(buyer), parse_address(supplier), number))

    # ------------------------------------------------------------------ funds

    def fund(self, key: bytes, amount: int, *, settle_shipment: int = 0, permit: bool = False) -> Outcome:
        """Add ``amount`` to the escrow (approving first if the allowance is short, or by an ERC-2612 permit),
        settling ``settle_shipment`` in the same transaction when its flows then agree."""
        if amount <= 0:
            raise ConfigError("a funding amount must be more than zero")
        token = self.token(self.get(key, events=False).token)
        if permit:
            deadline = self.now() + 3600
            nonce = int(self.tx.call(token.functions.nonces(self.address)))
            typed = permit_typed_data(token, self.address, self.contract.address, amount, nonce, deadline)
            signed = self.tx.account.sign_typed_data(full_message=typed)
            return self._send(self.contract.functions.fundWithPermit(
                key, amount, settle_shipment, deadline, signed.v, signed.r.to_bytes(32, "big"),
                signed.s.to_bytes(32, "big")))
        self._approve(token.address, amount)
        return self._send(self.contract.functions.fund(key, amount, settle_shipment))

    def _approve(self, token_address: str, amount: int) -> None:
        token = self.token(token_address)
        if int(self.tx.call(token.functions.allowance(self.address, self.contract.address))) < amount:
            self.tx.transact(token.functions.approve(self.contract.address, amount), gas=self.gas)

    def refund(self, key: bytes) -> Outcome:
        return self._send(self.contract.functions.refund(key))

    def refundable(self, key: bytes) -> int:
        return int(self.tx.call(self.contract.functions.refundable(key)))

    # ------------------------------------------------------------------ logistics

    @staticmethod
    def _lots(lots: Sequence[bytes]) -> list[bytes]:
        if len(lots) > MAX_LOTS:
            raise ConfigError(f"a shipment lists at most {MAX_LOTS} lots, got {len(lots)}")
        if len(set(lots)) != len(lots):
            raise ConfigError("a shipment lists a lot twice")
        return list(lots)

    def ship(self, key: bytes, quantity: int, lots: Sequence[bytes] = ()) -> tuple[int, Outcome]:
        """As the carrier: goods leave for the buyer. Returns the new shipment's id."""
        outcome = self._send(self.contract.functions.ship(key, quantity, self._lots(lots)))
        return self._shipment_id(outcome), outcome

    def _shipment_id(self, outcome: Outcome) -> int:
        for event in decode_events(self.contract, outcome.receipt):
            if event["event"] == "GoodsShipped":
                return int(event["args"]["shipmentId"])
        raise MillchainError("the transaction shipped nothing")

    def checkpoint(self, key: bytes, shipment_id: int, commitment: bytes) -> Outcome:
        return self._send(self.contract.functions.checkpoint(key, shipment_id, commitment))

    def deliver(self, key: bytes, shipment_id: int, quantity: int) -> Outcome:
        return self._send(self.contract.functions.deliver(key, shipment_id, quantity))

    def carrier_nonce(self, carrier: str) -> int:
        return int(self.tx.call(self.contract.functions.nonces(parse_address(carrier))))

    def sign_carrier_event(self, kind: Literal["Shipment", "Checkpoint", "Delivery"], key: bytes, *,
                           signer: LocalAccount | None = None, carrier: str | None = None, quantity: int = 0,
                           lots: Sequence[bytes] = (), shipment_id: int = 0, commitment: bytes = ZERO32,
                           nonce: int | None = None, deadline: int | None = None) -> CarrierEvent:
        """Sign a logistics event as the carrier (``signer``, default this client's key) for anyone to relay.
        ``carrier`` is the order's carrier address when ``signer`` is a key its contract wallet accepts;
        ``nonce`` defaults to the carrier's next one."""
        account = signer or self.tx.account
        who = parse_address(carrier or account.address, what="carrier")
        event = CarrierEvent(kind=kind, order_key=key, quantity=quantity, lots=tuple(self._lots(lots)),
                             shipment_id=shipment_id, commitment=commitment,
                             nonce=self.carrier_nonce(who) if nonce is None else nonce,
                             deadline=self.now() + DEFAULT_SIGNATURE_TTL if deadline is None else deadline,
                             signature=b"")
        signature = sign_typed(account, carrier_typed_data(self.domain, kind, event.message()))
        return dataclasses.replace(event, signature=signature)

    def relay(self, event: CarrierEvent) -> Outcome:
        """Submit a carrier-signed event (the sender pays the gas)."""
        functions = self.contract.functions
        if event.kind == "Shipment":
            call = functions.shipBySig(event.order_key, event.quantity, list(event.lots), event.nonce,
                                       event.deadline, event.signature)
        elif event.kind == "Checkpoint":
            call = functions.checkpointBySig(event.order_key, event.shipment_id, event.commitment, event.nonce,
                                             event.deadline, event.signature)
        else:
            call = functions.deliverBySig(event.order_key, event.shipment_id, event.quantity, event.nonce,
                                          event.deadline, event.signature)
        return self._send(call)

    def confirm_receipt(self, key: bytes, shipment_id: int, quantity: int) -> Outcome:
        """As the buyer: the quantity received (0 rejects the shipment). Final."""
        return self._send(self.contract.functions.confirmReceipt(key, shipment_id, quantity))

    def confirm_receipt_by_inspection(self, key: bytes, shipment_id: int,
                                      seqs: Sequence[int] | None = None) -> Outcome:
        """Record the delivered quantity as received from QC passes of every lot of the shipment; ``seqs``
        default to each lot's latest current, independent Pass in the quality ledger."""
        lots = self.lots_of(key, shipment_id)
        if seqs is None:
            seqs = [self.passing_attestation(lot) for lot in lots]
        if len(seqs) != len(lots):
            raise ConfigError(f"shipment {shipment_id} has {len(lots)} lots but {len(seqs)} attestations were given")
        return self._send(self.contract.functions.confirmReceiptByInspection(key, shipment_id, lots, list(seqs)))

    def passing_attestation(self, lot: bytes) -> int:
        """The attestation of ``lot`` that counts as receipt: its latest independent record, when that is a Pass.
        An older Pass never counts once a later independent record (a Fail, an alert) exists, which is also the
        contract's rule (confirmReceiptByInspection)."""
        ledger = self.session.contract("QualityLedger", self.tx.call(self.contract.functions.LEDGER()))
        seq = int(self.tx.call(ledger.functions.latestIndependent(lot)))
        if seq == 0:
            raise SettlementError(f"lot {label_of(lot)} has no independent attestation")
        outcome = int(self.tx.call(ledger.functions.attestation(lot, seq))[1])
        if outcome != 1:
            raise SettlementError(f"lot {label_of(lot)}: its latest independent attestation #{seq} is not a Pass "
                                  f"(outcome {outcome}); no receipt by inspection")
        return seq

    # ------------------------------------------------------------------ invoices

    def submit_invoice(self, key: bytes, shipment_id: int, amount: int, tax: int, commitment: bytes) -> Outcome:
        if tax > amount:
            raise ConfigError(f"the tax {tax} exceeds the tax-inclusive amount {amount}")
        return self._send(self.contract.functions.submitInvoice(key, shipment_id, amount, tax, commitment))

    def verify_invoice(self, key: bytes, shipment_id: int) -> Outcome:
        return self._send(self.contract.functions.verifyInvoice(key, shipment_id))

    def reject_invoice(self, key: bytes, shipment_id: int, reason_commitment: bytes = ZERO32) -> Outcome:
        return self._send(self.contract.functions.rejectInvoice(key, shipment_id, reason_commitment))

    # ------------------------------------------------------------------ settlement and retention

    def settle(self, key: bytes, shipment_id: int) -> Outcome:
        return self._send(self.contract.functions.settle(key, shipment_id))

    def release_retention(self, key: bytes) -> Outcome:
        return self._send(self.contract.functions.releaseRetention(key))

    def apply_quality_claim(self, key: bytes, claim_id: int, shipment_id: int | None = None) -> Outcome:
        """Apply a QualityBonds claim to the order's retention (hold, draw or lift). The shipment that carried
        the claimed lot is found from the order's GoodsShipped events when not given."""
        if shipment_id is None:
            bonds = self.session.contract("QualityBonds", self.tx.call(self.contract.functions.BONDS()))
            claimed = bytes(self.tx.call(bonds.functions.claim(claim_id))[0])
            shipped = {sid: lots for sid, _, lots in self._shipped(key)}
            matches = [sid for sid, lots in shipped.items() if claimed in lots]
            if not matches:
                raise SettlementError(f"claim {claim_id} is on lot {label_of(claimed)}, which no shipment of this "
                                      "order carried")
            shipment_id = matches[0]
        lots = self.lots_of(key, shipment_id)
        return self._send(self.contract.functions.applyQualityClaim(key, shipment_id, lots, claim_id))

    def claim_use(self, claim_id: int) -> tuple[bytes, ClaimUse]:
        key, use = self.tx.call(self.contract.functions.claimUse(claim_id))
        return bytes(key), ClaimUse(use)

    # ------------------------------------------------------------------ arbiter

    def arbitrate_shipment(self, key: bytes, shipment_id: int, accepted: int,
                           ruling_commitment: bytes = ZERO32) -> Outcome:
        return self._send(self.contract.functions.arbitrateShipment(key, shipment_id, accepted, ruling_commitment))

    def arbitrate_retention(self, key: bytes, to_buyer: int, ruling_commitment: bytes = ZERO32) -> Outcome:
        return self._send(self.contract.functions.arbitrateRetention(key, to_buyer, ruling_commitment))

    def close_order(self, key: bytes, ruling_commitment: bytes = ZERO32) -> Outcome:
        return self._send(self.contract.functions.closeOrder(key, ruling_commitment))

    # ------------------------------------------------------------------ views

    def status(self, key: bytes) -> OrderStatus:
        return OrderStatus(self.tx.call(self.contract.functions.orderStatus(key)))

    def get(self, key: bytes, *, events: bool = True) -> OrderView:
        """The order's terms and state; with ``events``, also its order id and lines commitment (from its
        OrderCreated event: a log query, which some nodes answer slowly)."""
        (status, buyer, supplier, carrier, token, quantity, unit_price, deadline, qc, retention_bps, warranty,
         tolerance, count, escrow, retention, settled, reserved, release_at, holds) = self.tx.call(
            self.contract.functions.orderState(key))
        created = self._logs("OrderCreated", {"orderKey": key}) if events else []
        number = label_of(bytes(created[0]["args"]["orderId"])) if created else "?"
        lines = _hex(bytes(created[0]["args"]["linesCommitment"])) if created else _hex(ZERO32)
        return OrderView(key=_hex(key), order_id=number, lines_commitment=lines, status=OrderStatus(status),
                         buyer=buyer, supplier=supplier, carrier=carrier, token=token, quantity=quantity,
                         unit_price=unit_price, delivery_deadline=deadline, qc_required=qc,
                         retention_bps=retention_bps, warranty_period=warranty, tolerance_bps=tolerance,
                         shipment_count=count, escrow=escrow, retention=retention, settled=settled,
                         reserved=reserved, release_at=release_at, holds=holds)

    def shipment(self, key: bytes, shipment_id: int) -> ShipmentView:
        return self.shipments(key, only=shipment_id)[0]

    def shipments(self, key: bytes, *, only: int | None = None) -> list[ShipmentView]:
        """Every shipment of the order (or just the one with id ``only``), state and event facts together."""
        shipped = self._shipped(key)
        ids = [only] if only is not None else [sid for sid, _, _ in shipped]
        facts: dict[int, dict[str, Any]] = {i: {"lots": [], "checkpoints": [], "mismatches": []} for i in ids}
        for sid, quantity, lots in shipped:
            if sid in facts:
                facts[sid].update(shipped=quantity, lots=[label_of(lot) for lot in lots])
        for event in self._logs("CheckpointRecorded", {"orderKey": key}):
            if int(event["args"]["shipmentId"]) in facts:
                facts[int(event["args"]["shipmentId"])]["checkpoints"].append(_hex(event["args"]["commitment"]))
        for event in self._logs("InvoiceSubmitted", {"orderKey": key}):
            if int(event["args"]["shipmentId"]) in facts:
                facts[int(event["args"]["shipmentId"])].update(
                    invoice_tax=int(event["args"]["taxAmount"]), invoice_commitment=_hex(event["args"]["commitment"]))
        for event in self._logs("ShipmentSettled", {"orderKey": key}):
            if int(event["args"]["shipmentId"]) in facts:
                facts[int(event["args"]["shipmentId"])].update(paid=int(event["args"]["paid"]),
                                                                retained=int(event["args"]["retained"]))
        for event in self._logs("SettlementMismatched", {"orderKey": key}):
            if int(event["args"]["shipmentId"]) in facts:
                facts[int(event["args"]["shipmentId"])]["mismatches"].append(Mismatch(
                    flow=Flow(event["args"]["flow"]), expected=int(event["args"]["expected"]),
                    actual=int(event["args"]["actual"])))
        views = []
        for sid in ids:
            (status, receipt, invoice, delivered, received, amount) = self.tx.call(
                self.contract.functions.shipment(key, sid))
            views.append(ShipmentView(shipment_id=sid, number=shipment_number(sid), status=ShipmentStatus(status),
                                      receipt=Receipt(receipt), invoice=InvoiceStatus(invoice), delivered=delivered,
                                      received=received, invoice_amount=amount, **facts[sid]))
        return sorted(views, key=lambda v: v.number)

    def shipment_ref(self, key: bytes, text: str | int) -> int:
        """A shipment as users name it: its number in the order (1, 2, …) or its full id (decimal or 0x…)."""
        raw = str(text).strip()
        try:
            value = int(raw, 16) if raw.lower().startswith("0x") else int(raw)
        except ValueError:
            raise ConfigError(f"shipment {text!r} is neither a number (1, 2, …) nor a shipment id") from None
        if value > _DIGEST_MASK:
            return value
        for sid, _, _ in self._shipped(key):
            if shipment_number(sid) == value:
                return sid
        raise SettlementError(f"order {_hex(key)} has no shipment {value}")

    def lots_of(self, key: bytes, shipment: int) -> list[bytes]:
        """The lots a shipment carried, from its GoodsShipped event (checked against its id)."""
        for sid, _, lots in self._shipped(key):
            if sid == shipment:
                if shipment_id(shipment_number(sid), lots) != sid:
                    raise MillchainError(f"shipment {sid:#x}: its GoodsShipped event does not match its id")
                return lots
        raise SettlementError(f"shipment {shipment:#x} of order {_hex(key)} was never shipped")

    def _shipped(self, key: bytes) -> list[tuple[int, int, list[bytes]]]:
        return [(int(e["args"]["shipmentId"]), int(e["args"]["quantity"]), [bytes(x) for x in e["args"]["lotIds"]])
                for e in self._logs("GoodsShipped", {"orderKey": key})]

    def funds(self, key: bytes) -> FundsLedger:
        """Every token movement of the order, from its events."""
        order = self.get(key)
        total = {name: 0 for name in ("funded", "paid", "refunded")}
        for event in self._logs("EscrowFunded", {"orderKey": key}):
            total["funded"] += int(event["args"]["amount"])
        for event in self._logs("ShipmentSettled", {"orderKey": key}):
            total["paid"] += int(event["args"]["paid"])
        for event in self._logs("RetentionReleased", {"orderKey": key}):
            total["paid"] += int(event["args"]["amount"])
        for event in self._logs("EscrowRefunded", {"orderKey": key}):
            total["refunded"] += int(event["args"]["amount"])
        for event in self._logs("RetentionDrawn", {"orderKey": key}):
            total["refunded"] += int(event["args"]["amount"])
        for event in self._logs("RetentionArbitrated", {"orderKey": key}):
            total["refunded"] += int(event["args"]["toBuyer"])
            total["paid"] += int(event["args"]["toSupplier"])
        return FundsLedger(**total, escrow=order.escrow, retention=order.retention)

    def report(self, key: bytes) -> OrderReport:
        """The order and its shipments with the four flows assessed: what ``millchain order show`` prints."""
        order = self.get(key)
        return OrderReport(order=order, shipments=[assess(order, s) for s in self.shipments(key)],
                           funds=self.funds(key), now=self.now())

    def signed_order(self, key: bytes) -> Order:
        """The order as its parties signed it, rebuilt from its state and its OrderCreated event (the contract
        checks it against the documents chain when a disclosure is verified)."""
        view = self.get(key, events=False)
        created = self._logs("OrderCreated", {"orderKey": key})
        if not created:
            raise SettlementError(f"order {_hex(key)} has no OrderCreated event on this chain")
        return Order.build(
            order_id=bytes(created[0]["args"]["orderId"]), buyer=view.buyer, supplier=view.supplier,
            carrier=view.carrier, token=view.token, lines_commitment=bytes(created[0]["args"]["linesCommitment"]),
            quantity=view.quantity, unit_price=view.unit_price, delivery_deadline=view.delivery_deadline,
            qc_required=view.qc_required, retention_bps=view.retention_bps, warranty_period=view.warranty_period,
            tolerance_bps=view.tolerance_bps)

    def invoice_links(self, key: bytes) -> list[InvoiceLink]:
        """Every invoice submitted for the order, in order: the links of its documents chain."""
        return [InvoiceLink(shipment_id=int(e["args"]["shipmentId"]), amount=int(e["args"]["amount"]),
                            tax_amount=int(e["args"]["taxAmount"]), commitment=_hex(e["args"]["commitment"]))
                for e in self._logs("InvoiceSubmitted", {"orderKey": key})]

    def documents(self, key: bytes) -> bytes:
        """The head of the order's documents chain, as the contract stores it."""
        return bytes(self.tx.call(self.contract.functions.documents(key)))

    def verify_disclosure(self, key: bytes, disclosure: Disclosure, *, shipment: int | None = None,
                          order: Order | None = None) -> DocumentCheck:
        """Have the contract check a disclosed field of the order's lines or of one of its invoices against the
        documents chain it stores (verifyDocumentField). The document is the one whose root the disclosure
        names: the order lines, else an invoice (of ``shipment`` when given, the latest such when several
        match). ``order`` is the signed order when the caller has it (its order file); by default it is rebuilt
        from the chain."""
        order = order or self.signed_order(key)
        links = self.invoice_links(key)
        root = HexBytes(disclosure.root)
        invoices = [i for i, link in enumerate(links, 1) if shipment is None or link.shipment_id == shipment]
        if shipment is None and root == HexBytes(order.lines_commitment):
            index = 0
        else:
            matching = [i for i in invoices if HexBytes(links[i - 1].commitment) == root]
            if not (matching or invoices):
                what = f"shipment {shipment_number(shipment)}" if shipment is not None else "the order"
                raise SettlementError(f"no invoice was submitted for {what}: nothing to check "
                                      f"{disclosure.name!r} against")
            index = (matching or invoices)[-1]
        valid, verified_invoice = self.tx.call(self.contract.functions.verifyDocumentField(
            order.as_tuple(), [link.as_tuple() for link in links], index, disclosure.name, disclosure.value_bytes,
            HexBytes(disclosure.salt), [HexBytes(node) for node in disclosure.proof]))
        label = label_of(order.order_id)
        if index == 0:
            what = f"the order lines of {label}"
        else:
            number = shipment_number(links[index - 1].shipment_id)
            replaced = any(link.shipment_id == links[index - 1].shipment_id for link in links[index:])
            # Only the shipment's verified invoice is "the invoice"; say what any other submission is.
            what = (f"the verified invoice for shipment {number} of {label}" if verified_invoice else
                    f"a replaced invoice for shipment {number} of {label} (not its verified invoice)" if replaced
                    else f"the invoice submitted for shipment {number} of {label} (not verified)")
        return DocumentCheck(ok=bool(valid), document=what, index=index, name=disclosure.name,
                             value=disclosure.value_text, verified_invoice=bool(verified_invoice))

    def find(self, number: bytes) -> list[bytes]:
        """Keys of the orders created with order id ``number`` (any parties)."""
        return [bytes(e["args"]["orderKey"]) for e in self._logs("OrderCreated", {"orderId": number})]

    def resolve(self, text: str) -> bytes:
        """An order as users name it: its key (0x + 64 hex), an order file, or its order id when unambiguous."""
        if text.startswith("0x") and len(text) == 66:
            return _bytes32(text, what="order key")
        path = Path(text)
        if text.endswith(".json") or path.is_file():
            return OrderFile.load(path).key
        keys = self.find(order_id(text))
        if len(keys) == 1:
            return keys[0]
        if not keys:
            raise SettlementError(f"no order {text!r} on this chain: give its key (0x…), its order file, or an "
                                  "order id that was created here")
        raise SettlementError(f"{len(keys)} orders have id {text!r}: give the key, one of "
                              + ", ".join(_hex(k) for k in keys))

    def _logs(self, event: str, filters: dict[str, Any]) -> list[EventData]:
        logs = getattr(self.contract.events, event)().get_logs(argument_filters=filters,
                                                               from_block=self.start_block, to_block="latest")
        return sorted(logs, key=lambda e: (int(e["blockNumber"]), int(e["logIndex"])))


def commit_document(fields: Mapping[str, FieldValue], *, save: Path | None = None) -> SaltedDocument:
    """Commit to a document (order lines, an invoice, a checkpoint) with fresh salts; keep the opened document
    in ``save`` (it holds the salts: private to its owner)."""
    document = SaltedDocument.commit(fields)
    if save is not None:
        document.save(save)
    return document
