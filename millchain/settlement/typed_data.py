"""EIP-712: the order both parties sign and the carrier's shipment, checkpoint and delivery messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from millchain.errors import ConfigError
from millchain.settlement.enums import DOMAIN_NAME, DOMAIN_VERSION, ZERO32
from millchain.settlement.parsing import to_hex
from millchain.typed_data import EIP712_DOMAIN_TYPE, domain_separator

if TYPE_CHECKING:
    from millchain.settlement.order import Order

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
    "Shipment": SHIPMENT_TYPE,
    "Checkpoint": CHECKPOINT_TYPE,
    "Delivery": DELIVERY_TYPE,
}


def _type_string(name: str, members: Sequence[Mapping[str, str]]) -> str:
    return f"{name}(" + ",".join(f"{m['type']} {m['name']}" for m in members) + ")"


ORDER_TYPEHASH = keccak(_type_string("Order", ORDER_TYPE).encode())


def settlement_domain(chain_id: int, contract: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(contract),
    }


_JSON_SAFE_BITS = 53
"""JavaScript numbers hold integers up to 2**53 exactly; ethers rejects wider ones given as JSON numbers."""
_WIDE_ORDER_FIELDS = frozenset(
    f["name"] for f in ORDER_TYPE if f["type"].startswith("uint") and int(f["type"][4:]) > _JSON_SAFE_BITS
)


def order_typed_data(domain: Mapping[str, Any], order: Order) -> dict[str, Any]:
    """The full EIP-712 message (eth_signTypedData_v4 JSON) a wallet displays and the parties sign. Integers wider
    than 53 bits (unitPrice, total) are decimal strings, as wallets take them; eth-account reads them too."""
    message = {k: str(v) if k in _WIDE_ORDER_FIELDS else v for k, v in order.message().items()}
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "Order": ORDER_TYPE},
        "primaryType": "Order",
        "domain": dict(domain),
        "message": message,
    }


def order_digest(domain: Mapping[str, Any], order: Order) -> bytes:
    """The digest both parties sign, computed directly (equal to the contract's orderDigest)."""
    return keccak(b"\x19\x01" + domain_separator(dict(domain)) + order.struct_hash())


def sign_typed(account: LocalAccount, typed_data: Mapping[str, Any]) -> bytes:
    """65-byte r ‖ s ‖ v signature of ``typed_data`` by ``account`` (eth-account)."""
    return bytes(account.sign_typed_data(full_message=dict(typed_data)).signature)


def recover_typed(typed_data: Mapping[str, Any], signature: bytes) -> str:
    """The EOA that signed ``typed_data`` (a contract wallet's signature recovers to something else)."""
    return str(Account.recover_message(encode_typed_data(full_message=dict(typed_data)), signature=signature))


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
        base: dict[str, Any] = {"orderKey": to_hex(self.order_key)}
        if self.kind == "Shipment":
            base.update(quantity=self.quantity, lotIds=[to_hex(lot) for lot in self.lots])
        elif self.kind == "Checkpoint":
            base.update(shipmentId=self.shipment_id, commitment=to_hex(self.commitment))
        else:
            base.update(shipmentId=self.shipment_id, quantity=self.quantity)
        base.update(nonce=self.nonce, deadline=self.deadline)
        return base


def carrier_typed_data(domain: Mapping[str, Any], kind: str, message: Mapping[str, Any]) -> dict[str, Any]:
    """The EIP-712 message of a carrier's Shipment, Checkpoint or Delivery."""
    if kind not in _CARRIER_TYPES:
        raise ConfigError(f"carrier event kind {kind!r} is not one of {', '.join(_CARRIER_TYPES)}")
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, kind: _CARRIER_TYPES[kind]},
        "primaryType": kind,
        "domain": dict(domain),
        "message": dict(message),
    }
