"""Settlement constants, the package's error and the contract's enums."""

from __future__ import annotations

from enum import IntEnum

from millchain.errors import MillchainError

DOMAIN_NAME = "SupplyChainSettlement"
DOMAIN_VERSION = "1"
MAX_LOTS = 32
BPS = 10_000
ZERO32 = b"\0" * 32
ORDER_FILE_VERSION = 1
DEFAULT_SIGNATURE_TTL = 24 * 3600


class SettlementError(MillchainError):
    """An order file, signature or settlement state is not what an operation needs."""


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
