from __future__ import annotations

import pytest

from millchain.errors import ConfigError, MillchainError
from millchain.leasing import decode_lease_id, parse_lease_id
from millchain.units import format_amount, parse_amount, parse_duration


@pytest.mark.parametrize(("text", "base"), [("12.5", 12_500_000), ("0", 0), ("1_000", 1_000_000_000),
                                            ("0.000001", 1),
                                            # 31 digits: more than Decimal's default precision keeps
                                            ("1000000000000000000000000.000001", 10**30 + 1)])
def test_amounts_parse_to_exact_base_units(text: str, base: int) -> None:
    assert parse_amount(text, 6) == base


@pytest.mark.parametrize(("text", "reason"), [("-1", "non-negative"), ("abc", "not a number"),
                                              ("0.0000001", "more than 6 decimal places"), ("inf", "non-negative"),
                                              ("1000000000000000000000000.0000001", "more than 6 decimal places")])
def test_bad_amounts_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        parse_amount(text, 6, what="--deposit")


def test_amounts_format_without_floats() -> None:
    assert format_amount(12_500_000, 6) == "12.5"
    assert format_amount(1_234_567_000_000, 6) == "1,234,567"
    assert format_amount(-1, 6) == "-0.000001"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("8h", 28_800), ("30d", 2_592_000),
                                               ("2w", 1_209_600), ("45", 45)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_names_the_option() -> None:
    with pytest.raises(ConfigError, match="--heartbeat '1y'"):
        parse_duration("1y", what="--heartbeat")


def test_lease_ids_decode_the_terms_they_pack() -> None:
    lease_id = 250_000 << 160 | 2_000_000 << 64 | 600 << 32 | 7
    assert decode_lease_id(lease_id) == {"price_per_unit": 250_000, "price_per_hour": 2_000_000,
                                         "max_rate_per_hour": 600, "sequence": 7}
    assert parse_lease_id(hex(lease_id)) == lease_id == parse_lease_id(str(lease_id))
    with pytest.raises(MillchainError, match="neither hex"):
        parse_lease_id("seven")
