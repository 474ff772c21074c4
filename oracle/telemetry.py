"""From raw machine messages to validated readings: every bad input rejected with a reason, never a crash.

Parsing is pure (no I/O) so it can be fuzzed. Per-machine state (last accepted counters, the re-baseline
offsets after a machine reset) lives in the outbox and is passed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from millchain.errors import MillchainError

MAX_UINT64 = 2**64 - 1
MAX_UINT32 = 2**32 - 1
MAX_PAYLOAD_BYTES = 4096
"""A reading is ~100 bytes (~250 with a signature): anything much larger is refused before it is parsed."""
MAX_CONTAINERS = 8
"""Objects and arrays in one message (a reading has two): bounds nesting depth before the parser sees it, so
no message can exhaust the C stack whatever recursion limit an import set (py_ecc raises it to 100,000)."""
MAX_NUMBER_DIGITS = 40
"""Digits of one JSON number; 2**64 has 20. Longer ones are refused while parsing, before int() runs."""
RATE_BURST_S = 60
"""Seconds of production at the rated rate a machine may deliver in one burst (the rate check's bucket)."""


class InvalidTelemetry(MillchainError, ValueError):
    """A message refused; ``reason`` is a short stable code (a metrics label), ``detail`` says what was wrong."""

    REASONS = (
        "malformed_json",
        "missing_field",
        "bad_type",
        "out_of_range",
        "unknown_machine",
        "clock_skew",
        "counter_backwards",
        "runtime_backwards",
        "implausible_jump",
        "bad_signature",
        "no_lease",
        "machine_quarantined",
        "wrong_lease",
        "stale_timestamp",
        "duplicate",
        "payload_too_large",
        "too_deeply_nested",
        "number_too_long",
    )

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in self.REASONS, reason
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class RawReading:
    """A message's fields after parsing, before any check against history."""

    counter: int
    runtime: int
    timestamp: int
    signature: tuple[bytes, bytes] | None
    lease_id: int | None
    p256: bool = False
    """The signature is P-256 ``(r, s)`` (sent as ``{r, s}``), not secp256k1 ``(r, vs)``."""


@dataclass(frozen=True)
class MachineState:
    """What the oracle already accepted from one machine (device counters, before offsets)."""

    last_counter: int | None = None
    last_runtime: int | None = None
    last_timestamp: int | None = None
    counter_offset: int = 0
    runtime_offset: int = 0
    quarantined: str | None = None
    rate_credit: int | None = None
    """The rate check's bucket, in unit-seconds (units x 3600) available at ``last_timestamp``; None: full."""
    rebaseline: bool = False
    """Set by `oracle rebaseline`: the next reading decides whether the machine was really reset."""


@dataclass(frozen=True)
class Checked:
    """A reading that passed every check: its counters as reported on chain, and the machine's state after it."""

    counter: int
    runtime: int
    state: MachineState


def _integer(payload: dict[str, Any], name: str, maximum: int) -> int:
    if name not in payload:
        raise InvalidTelemetry("missing_field", f"field {name!r} is missing")
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTelemetry("bad_type", f"field {name!r} must be an integer, got {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise InvalidTelemetry("out_of_range", f"field {name!r} = {value} is outside 0..{maximum}")
    return value


def _bytes32(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise InvalidTelemetry("bad_type", f"{name} must be 0x + 64 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise InvalidTelemetry("bad_type", f"{name} is not hex") from exc


def _bounded_number(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise InvalidTelemetry("number_too_long", f"a number of {len(text)} digits (at most {MAX_NUMBER_DIGITS})")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise InvalidTelemetry("number_too_long", f"a number of {len(text)} characters (at most {MAX_NUMBER_DIGITS})")
    return float(text)


def parse_payload(payload: bytes) -> RawReading:
    """JSON ``{"counter", "runtime", "timestamp"[, "signature": {"r", "vs"} | {"r", "s"}, "leaseId"]}`` ->
    RawReading; ``{r, vs}`` is a secp256k1 (EIP-2098) signature, ``{r, s}`` a P-256 one.

    Size, nesting and number length are bounded before or while parsing: no message can take the process down."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidTelemetry("payload_too_large", f"{len(payload)} bytes (at most {MAX_PAYLOAD_BYTES})")
    containers = payload.count(b"[") + payload.count(b"{")
    if containers > MAX_CONTAINERS:
        raise InvalidTelemetry("too_deeply_nested", f"{containers} '[' or '{{' (at most {MAX_CONTAINERS})")
    try:
        data = json.loads(payload, parse_int=_bounded_number, parse_float=_bounded_float)
    except InvalidTelemetry:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidTelemetry("malformed_json", f"not JSON: {str(exc)[:120]}") from exc
    if not isinstance(data, dict):
        raise InvalidTelemetry("malformed_json", f"expected a JSON object, got {type(data).__name__}")
    counter = _integer(data, "counter", MAX_UINT64)
    runtime = _integer(data, "runtime", MAX_UINT32)
    timestamp = _integer(data, "timestamp", 2**40 - 1)
    signature, p256 = None, False
    if "signature" in data:
        sig = data["signature"]
        if not isinstance(sig, dict):
            raise InvalidTelemetry("bad_type", "signature must be an object {r, vs} or {r, s}")
        p256 = "s" in sig
        if p256 and "vs" in sig:
            raise InvalidTelemetry("bad_type", "signature has both s (P-256) and vs (secp256k1)")
        second = "s" if p256 else "vs"
        signature = (_bytes32(sig.get("r"), "signature.r"), _bytes32(sig.get(second), f"signature.{second}"))
    lease_id = None
    if "leaseId" in data:
        raw = data["leaseId"]
        if not isinstance(raw, str) or not raw.startswith("0x"):
            raise InvalidTelemetry("bad_type", "leaseId must be a 0x-hex string")
        try:
            lease_id = int(raw, 16)
        except ValueError as exc:
            raise InvalidTelemetry("bad_type", "leaseId is not hex") from exc
    return RawReading(counter, runtime, timestamp, signature, lease_id, p256)


def check_against_history(
    raw: RawReading, state: MachineState, *, now: float, max_skew: int, max_rate_per_hour: int | None
) -> Checked:
    """The counters to report on chain (device counters plus re-baseline offsets) and the machine's state once
    the reading is accepted, or InvalidTelemetry."""
    if state.quarantined:
        raise InvalidTelemetry(
            "machine_quarantined",
            f"machine is quarantined ({state.quarantined}); re-baseline it with `millchain oracle rebaseline`",
        )
    if abs(raw.timestamp - now) > max_skew:
        raise InvalidTelemetry(
            "clock_skew",
            f"device time {raw.timestamp} is {raw.timestamp - now:+.0f} s "
            f"from the oracle's clock (allowed ±{max_skew} s)",
        )
    last_c, last_r, last_t = state.last_counter, state.last_runtime, state.last_timestamp
    if last_c is not None and last_t is not None and last_r is not None:
        # An MQTT QoS 1 redelivery, or a machine repeating itself: nothing newer than what was accepted.
        if raw.timestamp <= last_t and raw.counter <= last_c and raw.runtime <= last_r:
            raise InvalidTelemetry(
                "duplicate",
                f"counter {raw.counter} at {raw.timestamp} is not newer than the accepted {last_c} at {last_t}",
            )
        # Device time has one-second resolution: a reading within the same second is a newer update (it
        # supersedes the pending one); only a reading from an earlier second is stale.
        if raw.timestamp < last_t:
            raise InvalidTelemetry(
                "stale_timestamp", f"device time {raw.timestamp} is before the last accepted reading's {last_t}"
            )
        if raw.counter < last_c or raw.runtime < last_r:
            if state.rebaseline:
                return _reset(raw, state)
            if raw.counter < last_c:
                raise InvalidTelemetry(
                    "counter_backwards",
                    f"counter went from {last_c} to {raw.counter}: the "
                    "machine restarted its counters or someone published a false reading",
                )
            raise InvalidTelemetry(
                "runtime_backwards",
                f"runtime went from {last_r} to {raw.runtime}: the "
                "machine restarted its counters or someone published a false reading",
            )
    credit = state.rate_credit
    if max_rate_per_hour is not None and last_c is not None and last_t is not None:
        credit = _rate_check(raw, last_c, last_t, state.rate_credit, max_rate_per_hour)
    accepted = replace(
        state,
        last_counter=raw.counter,
        last_runtime=raw.runtime,
        last_timestamp=raw.timestamp,
        rate_credit=credit,
        rebaseline=False,
    )
    return Checked(raw.counter + state.counter_offset, raw.runtime + state.runtime_offset, accepted)


def _rate_check(raw: RawReading, last_counter: int, last_timestamp: int, credit: int | None, rate: int) -> int:
    """A token bucket over device time. The time since the last reading allows its units at the rated rate; on
    top, capacity a machine left unused before that reading is banked, up to RATE_BURST_S seconds of production
    (a machine's cycle is uneven). Judged over the history, not reading to reading, so rounding at one reading
    a second never refuses a machine within its rate, and a jump within one second (no elapsed time) gets no
    more than the bank. One second of slack: both ends of an interval are sampled in whole seconds."""
    cap = rate * RATE_BURST_S
    banked = cap if credit is None else min(credit, cap)
    available = banked + rate * (raw.timestamp - last_timestamp)
    needed = (raw.counter - last_counter) * 3600
    if needed > available + rate:
        raise InvalidTelemetry(
            "implausible_jump",
            f"{raw.counter - last_counter} units since the reading at {last_timestamp} exceed "
            f"the rated {rate}/h (at most {(available + rate) // 3600} now)",
        )
    return min(available - needed, cap)


def _reset(raw: RawReading, state: MachineState) -> Checked:
    """After `oracle rebaseline`, a reading below the last one: the machine restarted its counters. The chain's
    counters continue from the last ones seen, the device's new counts on top."""
    assert state.last_counter is not None and state.last_runtime is not None
    counter_offset = state.counter_offset + state.last_counter
    runtime_offset = state.runtime_offset + state.last_runtime
    accepted = replace(
        state,
        last_counter=raw.counter,
        last_runtime=raw.runtime,
        last_timestamp=raw.timestamp,
        counter_offset=counter_offset,
        runtime_offset=runtime_offset,
        rate_credit=None,
        rebaseline=False,
    )
    return Checked(raw.counter + counter_offset, raw.runtime + runtime_offset, accepted)
