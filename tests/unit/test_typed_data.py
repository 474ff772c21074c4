"""The fast UsageReport digest and signer agree with eth-account's EIP-712 implementation."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from millchain.errors import ConfigError
from millchain.typed_data import (
    DeviceSigner,
    SignedUsageReport,
    UsageReport,
    UsageReportHasher,
    lease_domain,
    recover_signer,
    usage_report_typed_data,
)

DOMAIN = lease_domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
HASHER = UsageReportHasher(DOMAIN)
DEVICE = Account.from_key(b"\x07" * 32)

reports = st.builds(
    UsageReport,
    lease_id=st.integers(0, 2**256 - 1),
    machine_id=st.binary(min_size=32, max_size=32),
    counter=st.integers(0, 2**64 - 1),
    runtime_seconds=st.integers(0, 2**32 - 1),
    timestamp=st.integers(0, 2**40 - 1),
)


@settings(max_examples=50, deadline=None)
@given(reports)
def test_fast_digest_equals_eth_account_typed_data_hash(report: UsageReport) -> None:
    wallet_view = encode_typed_data(full_message=usage_report_typed_data(DOMAIN, report))
    assert HASHER.digest(report) == _hash_eip191_message(wallet_view)


@settings(max_examples=25, deadline=None)
@given(reports)
def test_device_signature_recovers_to_the_device_in_eth_account_and_here(report: UsageReport) -> None:
    signed = DeviceSigner(bytes(DEVICE.key), HASHER).sign(report)
    assert Account._recover_hash(HASHER.digest(report), signature=signed.signature65()) == DEVICE.address
    assert recover_signer(HASHER, signed) == DEVICE.address


def test_signature_over_another_domain_recovers_someone_else() -> None:
    report = UsageReport(lease_id=1, machine_id=b"\x01" * 32, counter=5, runtime_seconds=60, timestamp=1_800_000_000)
    other_chain = UsageReportHasher(lease_domain(1, DOMAIN["verifyingContract"]))
    signed = DeviceSigner(bytes(DEVICE.key), other_chain).sign(report)
    assert recover_signer(HASHER, signed) != DEVICE.address


def test_high_s_signatures_are_refused() -> None:
    """EIP-2098 leaves 255 bits for s, so the only high-s values it can carry lie in (n/2, 2^255)."""
    report = UsageReport(lease_id=1, machine_id=b"\x01" * 32, counter=5, runtime_seconds=60, timestamp=1_800_000_000)
    signed = DeviceSigner(bytes(DEVICE.key), HASHER).sign(report)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    forged = SignedUsageReport(report=report, r=signed.r, vs=(n // 2 + 1).to_bytes(32, "big"))
    with pytest.raises(ConfigError, match="high s"):
        recover_signer(HASHER, forged)


@pytest.mark.parametrize("field, value", [("counter", -1), ("counter", 2**64), ("timestamp", 2**40),
                                          ("machine_id", b"short")])
def test_out_of_range_reports_are_refused(field: str, value: object) -> None:
    fields = {"lease_id": 1, "machine_id": b"\x01" * 32, "counter": 1, "runtime_seconds": 1, "timestamp": 1}
    with pytest.raises(ValidationError, match=field):
        UsageReport(**{**fields, field: value})
