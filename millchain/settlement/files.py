"""Order files: the signed order with its opened lines, passed between the parties."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from millchain.disclosure import FieldValue, SaltedDocument
from millchain.errors import ConfigError
from millchain.settlement.enums import DOMAIN_NAME, DOMAIN_VERSION, ORDER_FILE_VERSION, SettlementError
from millchain.settlement.order import Order
from millchain.settlement.parsing import as_bytes32, readable_validation, to_hex
from millchain.settlement.typed_data import ORDER_TYPE, order_typed_data, sign_typed
from millchain.types import label_of


def _document_root(document: SaltedDocument) -> bytes:
    """The root an opened document's values and salts really commit to (not the root it claims)."""
    values = {name: bytes.fromhex(opened.value[2:]) for name, opened in document.fields.items()}
    salts = {name: bytes.fromhex(opened.salt[2:]) for name, opened in document.fields.items()}
    return as_bytes32(SaltedDocument.commit(values, salts=salts).root, what="lines root")


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
            raise ConfigError(
                f"the file's domain is {domain.get('name')!r} v{domain.get('version')}, "
                f"not {DOMAIN_NAME} v{DOMAIN_VERSION}"
            )
        if self.lines is not None and _document_root(self.lines) != self.order.lines_commitment:
            raise ConfigError("the order lines in the file do not match its linesCommitment")

    def signature(self, role: str) -> bytes:
        if role not in self.signatures:
            have = ", ".join(sorted(self.signatures)) or "none"
            raise SettlementError(
                f"the order has no {role} signature yet (signatures: {have}); run `millchain order sign` as the {role}"
            )
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
            raise readable_validation(exc, f"order file {path}") from None
        loaded.check_shape()
        return loaded


def sign_order_file(document: OrderFile, account: LocalAccount, *, role: str | None = None) -> str:
    """Add ``account``'s signature to an order file, offline; returns the role it signed as. ``role`` names it
    when ``account`` is the owner key of a contract wallet that is the party (a plain signature of the typed
    data; wallets that want their own envelope sign with their own tools)."""
    order = document.order
    who = role or order.party(account.address)
    if who not in ("buyer", "supplier"):
        raise SettlementError(
            f"{account.address} is neither the buyer ({order.buyer}) nor the supplier "
            f"({order.supplier}) of order {label_of(order.order_id)}"
        )
    document.signatures[who] = to_hex(sign_typed(account, document.typed_data))
    return who


def commit_document(fields: Mapping[str, FieldValue], *, save: Path | None = None) -> SaltedDocument:
    """Commit to a document (order lines, an invoice, a checkpoint) with fresh salts; keep the opened document
    in ``save`` (it holds the salts: private to its owner)."""
    document = SaltedDocument.commit(fields)
    if save is not None:
        document.save(save)
    return document
