"""Telemetry parsing and history checks: every bad input refused with a stable reason, nothing raises else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.telemetry import InvalidTelemetry, MachineState, check_against_history, parse_payload

NOW = 1_800_000_000


def payload(**fields: object) -> bytes:
    return json.dumps({"counter": 10, "runtime": 60, "timestamp": NOW, **fields}).encode()


def test_a_good_message_parses() -> None:
    raw = parse_payload(payload(signature={"r": "0x" + "11" * 32, "vs": "0x" + "22" * 32}, leaseId="0x2a"))
    assert (raw.counter, raw.runtime, raw.timestamp, raw.lease_id) == (10, 60, NOW, 42)
    assert raw.signature == (b"\x11" * 32, b"\x22" * 32)


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "malformed_json"),
    (b"\xff\xfe", "malformed_json"),
    (b"[1, 2]", "malformed_json"),
    (json.dumps({"runtime": 1, "timestamp": NOW}).encode(), "missing_field"),
    (payload(counter="12"), "bad_type"),
    (payload(counter=1.5), "bad_type"),
    (payload(counter=True), "bad_type"),
    (payload(counter=-1), "out_of_range"),
    (payload(counter=2**64), "out_of_range"),
    (payload(runtime=2**32), "out_of_range"),
    (payload(signature="0xabc"), "bad_type"),
    (payload(signature={"r": "0x11", "vs": "0x22"}), "bad_type"),
    (payload(leaseId=7), "bad_type"),
])
def test_bad_messages_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidTelemetry) as caught:
        parse_payload(body)
    assert caught.value.reason == reason


@settings(max_examples=2_000, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                              lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                                  st.sampled_from(["counter", "runtime", "timestamp", "signature", "leaseId", "x"]),
                                  inner, max_size=6), max_leaves=12).map(lambda v: json.dumps(v).encode())))
def test_fuzzed_input_either_parses_or_is_refused_with_a_known_reason(body: bytes) -> None:
    try:
        parse_payload(body)
    except InvalidTelemetry as exc:
        assert exc.reason in InvalidTelemetry.REASONS


def check(state: MachineState, **fields: int) -> tuple[int, int]:
    raw = parse_payload(payload(**fields))
    return check_against_history(raw, state, now=NOW, max_skew=300, max_rate_per_hour=3600)


def test_history_checks() -> None:
    state = MachineState(last_counter=10, last_runtime=60, last_timestamp=NOW - 10)
    assert check(state, counter=20, runtime=70) == (20, 70)
    for fields, reason in [({"counter": 9}, "counter_backwards"), ({"runtime": 59}, "runtime_backwards"),
                           ({"counter": 21}, "implausible_jump"), ({"timestamp": NOW + 301}, "clock_skew"),
                           ({"timestamp": NOW - 301}, "clock_skew")]:
        with pytest.raises(InvalidTelemetry) as caught:
            check(state, **fields)
        assert caught.value.reason == reason


def test_offsets_continue_counters_after_a_machine_reset() -> None:
    state = MachineState(counter_offset=5_000, runtime_offset=90_000)
    assert check(state, counter=3, runtime=4) == (5_003, 90_004)


def test_a_quarantined_machine_is_refused_until_rebaselined() -> None:
    with pytest.raises(InvalidTelemetry, match="rebaseline"):
        check(MachineState(quarantined="counter went backwards"))
