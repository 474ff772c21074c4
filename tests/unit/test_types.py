from __future__ import annotations

import pytest

from millchain.errors import ConfigError
from millchain.types import label_of, machine_id, to_bytes32


def test_short_labels_stay_readable_and_round_trip() -> None:
    raw = machine_id("press-07")
    assert raw == b"press-07" + b"\0" * 24
    assert label_of(raw) == "press-07"


def test_full_hex_ids_are_taken_as_is() -> None:
    value = "0x" + "ab" * 32
    assert to_bytes32(value) == bytes.fromhex("ab" * 32)
    assert label_of(bytes.fromhex("ab" * 32)) == value


@pytest.mark.parametrize(
    ("label", "reason"),
    [("", "must not be empty"), ("x" * 33, "33 bytes"), ("0x" + "zz" * 32, "not valid hex")],
)
def test_bad_ids_are_refused_with_the_reason(label: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        machine_id(label)
