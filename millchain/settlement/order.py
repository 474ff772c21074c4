"""The order buyer and supplier sign, its key, and shipment ids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from eth_abi import encode
from eth_utils import keccak
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from millchain.errors import ConfigError
from millchain.settlement.enums import BPS, ZERO32
from millchain.settlement.parsing import as_bytes32, readable_validation, to_hex
from millchain.settlement.typed_data import ORDER_TYPE, ORDER_TYPEHASH
from millchain.types import parse_address


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
        if (
            "total" not in fields
            and isinstance(fields.get("quantity"), int)
            and isinstance(fields.get("unit_price"), int)
        ):
            fields["total"] = fields["quantity"] * fields["unit_price"]
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise readable_validation(exc, "order") from None

    @property
    def key(self) -> bytes:
        return order_key(self.buyer, self.supplier, self.order_id)

    def message(self) -> dict[str, Any]:
        """The ``message`` of the typed data: JSON values, as a wallet shows them."""
        return {
            "orderId": to_hex(self.order_id),
            "buyer": self.buyer,
            "supplier": self.supplier,
            "carrier": self.carrier,
            "token": self.token,
            "linesCommitment": to_hex(self.lines_commitment),
            "quantity": self.quantity,
            "unitPrice": self.unit_price,
            "total": self.total,
            "deliveryDeadline": self.delivery_deadline,
            "qcRequired": self.qc_required,
            "retentionBps": self.retention_bps,
            "warrantyPeriod": self.warranty_period,
            "toleranceBps": self.tolerance_bps,
        }

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Order:
        expected = {m["name"] for m in ORDER_TYPE}
        if set(message) != expected:
            missing, extra = sorted(expected - set(message)), sorted(set(message) - expected)
            raise ConfigError(f"order message fields differ from Order: missing {missing}, unexpected {extra}")
        return cls.build(
            order_id=as_bytes32(message["orderId"], what="orderId"),
            buyer=message["buyer"],
            supplier=message["supplier"],
            carrier=message["carrier"],
            token=message["token"],
            lines_commitment=as_bytes32(message["linesCommitment"], what="linesCommitment"),
            quantity=message["quantity"],
            unit_price=message["unitPrice"],
            total=message["total"],
            delivery_deadline=message["deliveryDeadline"],
            qc_required=message["qcRequired"],
            retention_bps=message["retentionBps"],
            warranty_period=message["warrantyPeriod"],
            tolerance_bps=message["toleranceBps"],
        )

    def as_tuple(self) -> tuple[Any, ...]:
        """The ABI shape of ISupplyChainSettlement.Order."""
        return (
            self.order_id,
            self.buyer,
            self.supplier,
            self.carrier,
            self.token,
            self.lines_commitment,
            self.quantity,
            self.unit_price,
            self.total,
            self.delivery_deadline,
            self.qc_required,
            self.retention_bps,
            self.warranty_period,
            self.tolerance_bps,
        )

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
DIGEST_MASK = (1 << SEQUENCE_SHIFT) - 1


def shipment_id(number: int, lots: Sequence[bytes]) -> int:
    """A shipment's id: its number in the order in the top 16 bits, the low 240 bits of the digest of its lots
    below (so the id proves which lots it carried)."""
    if not 1 <= number < 2**16:
        raise ConfigError(f"shipment number {number} is outside 1..65535")
    digest = int.from_bytes(bytes(keccak(b"".join(lots))), "big")
    return (number << SEQUENCE_SHIFT) | (digest & DIGEST_MASK)


def shipment_number(shipment: int) -> int:
    """The number (1, 2, …) of a shipment in its order, from its id."""
    return shipment >> SEQUENCE_SHIFT
