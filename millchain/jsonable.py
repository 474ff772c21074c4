"""JSON forms of the SDK's models for scripts, webhooks and brokers: enums by name (``"severity": "MAJOR"``, not
``2``). Scripts read names, and a number changes meaning when an enum gains a member. One form everywhere, so
``--json`` output, a webhook's body and an MQTT payload of the same model are equal."""

from __future__ import annotations

import json
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel


def model_json(model: BaseModel) -> dict[str, Any]:
    """``model_dump(mode="json")`` with enums by name (``"status": "ACTIVE"``, not ``1``), nested models too."""
    out: dict[str, Any] = model.model_dump(mode="json")
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Enum):
            out[name] = value.name
        elif hasattr(value, "model_dump"):
            out[name] = model_json(value)
        elif isinstance(value, (list, tuple)) and value and hasattr(value[0], "model_dump"):
            out[name] = [model_json(item) for item in value]
    return out


def model_json_line(model: BaseModel) -> str:
    """:func:`model_json` as one line of compact JSON, text kept as UTF-8 (as pydantic writes it): a webhook's
    body, an MQTT payload, a line of a ``--json`` stream."""
    return json.dumps(model_json(model), ensure_ascii=False, separators=(",", ":"))
