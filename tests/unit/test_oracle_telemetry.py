"""Telemetry parsing and history checks: every bad input refused with a stable reason, nothing raises else."""

from __future__ import annotations

import json
import subprocess
import sys

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


@pytest.mark.parametrize(
    ("body", "reason"),
    [
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
    ],
)
def test_bad_messages_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidTelemetry) as caught:
        parse_payload(body)
    assert caught.value.reason == reason


@settings(max_examples=2_000, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["counter", "runtime", "timestamp", "signature", "leaseId", "x"]), inner, max_size=6
                )
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_fuzzed_input_either_parses_or_is_refused_with_a_known_reason(body: bytes) -> None:
    try:
        parse_payload(body)
    except InvalidTelemetry as exc:
        assert exc.reason in InvalidTelemetry.REASONS


def check(state: MachineState, rate: int = 3600, **fields: int) -> tuple[int, int]:
    raw = parse_payload(payload(**fields))
    checked = check_against_history(raw, state, now=NOW, max_skew=300, max_rate_per_hour=rate)
    return checked.counter, checked.runtime


def test_history_checks() -> None:
    state = MachineState(last_counter=10, last_runtime=60, last_timestamp=NOW - 10, rate_credit=0)
    assert check(state, counter=20, runtime=70) == (20, 70)
    # 10 s at 1 unit/s, plus one second of sampling slack: 11 units at most.
    for fields, reason in [
        ({"counter": 9}, "counter_backwards"),
        ({"runtime": 59}, "runtime_backwards"),
        ({"counter": 22}, "implausible_jump"),
        ({"timestamp": NOW + 301}, "clock_skew"),
        ({"timestamp": NOW - 301}, "clock_skew"),
    ]:
        with pytest.raises(InvalidTelemetry) as caught:
            check(state, **fields)
        assert caught.value.reason == reason


def test_a_redelivered_or_older_reading_is_a_duplicate_not_a_backwards_counter() -> None:
    state = MachineState(last_counter=1002, last_runtime=60, last_timestamp=NOW)
    for fields in ({"counter": 1001}, {"counter": 1002}, {"counter": 1001, "timestamp": NOW - 1}):
        with pytest.raises(InvalidTelemetry) as caught:
            check(state, **fields)
        assert caught.value.reason == "duplicate"


def test_a_jump_within_one_second_cannot_bypass_the_rate_check() -> None:
    # An attacker publishing on the topic: 1001 at T, then 901001 at the same T. At 36,000/h at most 10 units fit
    # in the second the device clock cannot resolve, plus the burst the bucket holds (60 s: 600 units).
    state = MachineState(last_counter=1001, last_runtime=60, last_timestamp=NOW)
    with pytest.raises(InvalidTelemetry) as caught:
        check(state, rate=36_000, counter=901_001, runtime=60)
    assert caught.value.reason == "implausible_jump"
    assert check(state, rate=36_000, counter=1006, runtime=60) == (1006, 60)  # a genuine same-second update


def test_readings_half_an_hour_apart_may_carry_half_an_hour_of_production() -> None:
    # The demo's shift: a reading every 30 minutes at 5,000 units/h allows 2,500 units, not a minute's worth.
    state = MachineState(last_counter=0, last_runtime=0, last_timestamp=NOW - 1800, rate_credit=0)
    assert check(state, rate=5_000, counter=2_500, runtime=1800) == (2_500, 1800)
    with pytest.raises(InvalidTelemetry) as caught:
        check(state, rate=5_000, counter=2_503, runtime=1800)
    assert caught.value.reason == "implausible_jump"


def test_one_reading_a_second_at_the_rated_rate_is_never_refused() -> None:
    # 600 units/h is one unit every 6 s; readings once a second, units landing at uneven moments (a machine's
    # cycle varies) but never above the rated rate over a minute.
    state = MachineState()
    counter, rejected = 0, 0
    unit_times = {t for k in range(100) for t in [6 * k + (3 if k % 3 else 0)]}
    for second in range(600):
        counter += second in unit_times
        raw = parse_payload(payload(counter=counter, runtime=second, timestamp=NOW - 600 + second))
        try:
            state = check_against_history(raw, state, now=NOW, max_skew=900, max_rate_per_hour=600).state
        except InvalidTelemetry:
            rejected += 1
    assert rejected == 0
    assert state.last_counter == counter


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "payload_too_large"),
        (b"[" * 1_000 + b"]" * 1_000, "too_deeply_nested"),
        (b'{"counter": ' + b"9" * 5_000 + b', "runtime": 1, "timestamp": 1}', "payload_too_large"),
        (b'{"counter": ' + b"9" * 100 + b', "runtime": 1, "timestamp": 1}', "number_too_long"),
        (b'{"counter": 1, "runtime": 1, "timestamp": 1, "x": 1.' + b"5" * 100 + b"}", "number_too_long"),
    ],
)
def test_hostile_payloads_are_refused_by_name_before_parsing(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidTelemetry) as caught:
        parse_payload(body)
    assert caught.value.reason == reason


def test_a_bracket_bomb_cannot_crash_the_process_whatever_the_recursion_limit() -> None:
    # py_ecc raises the recursion limit to 100,000; json's C parser then overflows the C stack (SIGSEGV).
    code = (
        "import sys; sys.setrecursionlimit(100_000)\n"
        "from oracle.telemetry import InvalidTelemetry, parse_payload\n"
        "for n in (1_500, 100_000):\n"
        "    try:\n        parse_payload(b'[' * n + b']' * n)\n"
        "    except InvalidTelemetry as exc:\n        print(exc.reason)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.split() == ["too_deeply_nested", "payload_too_large"]


def test_offsets_continue_counters_after_a_machine_reset() -> None:
    state = MachineState(counter_offset=5_000, runtime_offset=90_000)
    assert check(state, counter=3, runtime=4) == (5_003, 90_004)


def test_a_quarantined_machine_is_refused_until_rebaselined() -> None:
    with pytest.raises(InvalidTelemetry, match="rebaseline"):
        check(MachineState(quarantined="counter went backwards"))
