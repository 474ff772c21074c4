"""Views of orders and shipments as the contract keeps them, and the documents chain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from eth_abi import encode
from eth_utils import keccak
from hexbytes import HexBytes
from pydantic import BaseModel, ConfigDict, Field

from millchain.settlement.enums import Flow, InvoiceStatus, OrderStatus, Receipt, ShipmentStatus
from millchain.settlement.order import Order


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
        head = keccak(
            encode(
                ["uint160", "uint256", "uint96", "uint96", "bytes32"], [int.from_bytes(head, "big"), *link.as_tuple()]
            )
        )[-20:]
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
