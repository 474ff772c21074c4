"""Helpers the qc commands share: the client, receipts, models as tables or JSON, committed documents."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hexbytes import HexBytes

from millchain.cli.common import console, emit_json, model_json, table
from millchain.disclosure import SaltedDocument
from millchain.errors import ConfigError
from millchain.quality import (
    ZERO32,
    QualityClient,
)
from millchain.session import Session
from millchain.types import to_bytes32


def quality_client(session: Session) -> QualityClient:
    return QualityClient(session)


def receipt_line(receipt: Any, as_json: bool) -> None:
    if not as_json:
        tx = HexBytes(receipt["transactionHash"]).to_0x_hex()
        console.print(f"tx {tx} in block {receipt['blockNumber']}, gas {receipt['gasUsed']}", highlight=False)


def show_model(title: str, model: Any, as_json: bool, *, extra: dict[str, Any] | None = None) -> None:
    data = model_json(model)
    data.update(extra or {})
    if as_json:
        emit_json(data)
        return
    rows = []
    for key, value in model.model_dump().items():
        rows.append((key, value.name if hasattr(value, "name") else value))
    rows += list((extra or {}).items())
    table(title, ["field", "value"], rows)


def document_fields(pairs: Sequence[str], report: Path | None) -> dict[str, str | int]:
    """Document fields from ``--field NAME=VALUE`` options and/or a JSON object file."""
    fields: dict[str, str | int] = {}
    if report is not None:
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read report fields from {report}: {exc}") from exc
        if not isinstance(data, dict) or not all(
            isinstance(v, (str, int)) and not isinstance(v, bool) for v in data.values()
        ):
            raise ConfigError(f"{report} must hold one JSON object of field name -> text or integer")
        fields.update(data)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--field {pair!r} is not NAME=VALUE")
        fields[name.strip()] = value
    return fields


def commit_fields(fields: dict[str, str | int], save: Path | None, commitment: str | None) -> bytes:
    """The commitment to put on-chain: of the given fields (kept, with their salts, in ``save``) or as given."""
    if fields and commitment:
        raise ConfigError("give document fields or --commitment, not both")
    if fields:
        if save is None:
            raise ConfigError(
                "fields are committed with fresh random salts: pass --save FILE to keep the opened "
                "document, without it no field could ever be disclosed"
            )
        if save.exists():
            raise ConfigError(f"{save} already exists; refusing to overwrite an opened document")
        document = SaltedDocument.commit(fields)
        document.save(save)
        return bytes(HexBytes(document.root))
    if commitment:
        if not (commitment.startswith("0x") and len(commitment) == 66):
            raise ConfigError(f"commitment {commitment!r} must be 0x + 64 hex digits")
        return to_bytes32(commitment, what="commitment")
    return ZERO32


def maybe_commitment(text: str | None) -> bytes:
    return ZERO32 if not text else commit_fields({}, None, text)
