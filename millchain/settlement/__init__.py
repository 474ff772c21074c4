"""Supply-chain settlement (四流合一): typed client for SupplyChainSettlement, the EIP-712 order both parties
sign (built apart from signing it), order files passed between buyer and supplier, the carrier's signed
logistics events, and the four-flow assessment ``millchain order show`` prints.

Spec: docs/contracts/supply-chain-settlement.md. Orders are addressed by their key (``order_key``: the
buyer's address, then the low 96 bits of ``keccak256(abi.encode(buyer, supplier, orderId))``); ``orderId`` is
the parties' own number (a bytes32 label such as ``PO-2025-0042``). Disclosed fields of the order lines and of
invoices are checked by the contract against the order's documents chain (``verify_disclosure``). Amounts are
token base units; quantities whole units.

One job per module: ``enums`` (constants, the error, the contract's enums), ``parsing`` (order and lot ids,
basis points as typed; addresses: :func:`millchain.types.parse_address`), ``order`` (the order, its key,
shipment ids), ``typed_data`` (EIP-712 messages), ``files`` (order files), ``models`` (views), ``flows`` (the
four-flow assessment), ``client`` (SettlementClient).
"""

from __future__ import annotations

from millchain.settlement.client import Outcome, SettlementClient
from millchain.settlement.enums import (
    BPS,
    DEFAULT_SIGNATURE_TTL,
    DOMAIN_NAME,
    DOMAIN_VERSION,
    MAX_LOTS,
    ORDER_FILE_VERSION,
    ZERO32,
    ClaimUse,
    Flow,
    InvoiceStatus,
    OrderStatus,
    Receipt,
    SettlementError,
    ShipmentStatus,
)
from millchain.settlement.files import OrderFile, commit_document, sign_order_file
from millchain.settlement.flows import assess
from millchain.settlement.models import (
    DocumentCheck,
    FlowCheck,
    FlowState,
    FundsLedger,
    InvoiceLink,
    Mismatch,
    OrderReport,
    OrderView,
    ShipmentAssessment,
    ShipmentView,
    documents_head,
)
from millchain.settlement.order import SEQUENCE_SHIFT, Order, order_key, shipment_id, shipment_number
from millchain.settlement.parsing import format_bps, lot_id, order_id, parse_bps
from millchain.settlement.typed_data import (
    CHECKPOINT_TYPE,
    DELIVERY_TYPE,
    ORDER_TYPE,
    ORDER_TYPEHASH,
    SHIPMENT_TYPE,
    CarrierEvent,
    carrier_typed_data,
    order_digest,
    order_typed_data,
    recover_typed,
    settlement_domain,
    sign_typed,
)
from millchain.typed_data import permit_typed_data
from millchain.types import parse_address

__all__ = [
    "BPS",
    "CHECKPOINT_TYPE",
    "DEFAULT_SIGNATURE_TTL",
    "DELIVERY_TYPE",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "MAX_LOTS",
    "ORDER_FILE_VERSION",
    "ORDER_TYPE",
    "ORDER_TYPEHASH",
    "SEQUENCE_SHIFT",
    "SHIPMENT_TYPE",
    "ZERO32",
    "CarrierEvent",
    "ClaimUse",
    "DocumentCheck",
    "Flow",
    "FlowCheck",
    "FlowState",
    "FundsLedger",
    "InvoiceLink",
    "InvoiceStatus",
    "Mismatch",
    "Order",
    "OrderFile",
    "OrderReport",
    "OrderStatus",
    "OrderView",
    "Outcome",
    "Receipt",
    "SettlementClient",
    "SettlementError",
    "ShipmentAssessment",
    "ShipmentStatus",
    "ShipmentView",
    "assess",
    "carrier_typed_data",
    "commit_document",
    "documents_head",
    "format_bps",
    "lot_id",
    "order_digest",
    "order_id",
    "order_key",
    "order_typed_data",
    "parse_address",
    "parse_bps",
    "permit_typed_data",
    "recover_typed",
    "settlement_domain",
    "shipment_id",
    "shipment_number",
    "sign_order_file",
    "sign_typed",
]
