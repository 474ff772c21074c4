"""From raw machine messages to validated readings: every bad input rejected with a reason, never a crash.

Parsing is pure (no I/O) so it can be fuzzed. Per-machine state (last accepted counters, the re-baseline
offsets after a machine reset) lives in the outbox and is passed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from millchain.errors import MillchainError

MAX_UINT64 = 2**64 - 1
MAX_UINT32 = 2**32 - 1


class InvalidTelemetry(MillchainError, ValueError):
    """A message refused; ``reason`` is a short stable code (a metrics label), ``detail`` says what was wrong."""

    REASONS = (
        "malformed_json", "missing_field", "bad_type", "out_of_range", "unknown_machine", "clock_skew",
        "counter_backwards", "runtime_backwards", "implausible_jump", "bad_signature", "no_lease",
        "machine_quarantined", "wrong_lease", "stale_timestamp",
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


@dataclass(frozen=True)
class MachineState:
    """What the oracle already accepted from one machine (device counters, before offsets)."""

    last_counter: int | None = None
    last_runtime: int | None = None
    last_timestamp: int | None = None
    counter_offset: int = 0
    runtime_offset: int = 0
    quarantined: str | None = None


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


def parse_payload(payload: bytes) -> RawReading:
    """JSON ``{"counter", "runtime", "timestamp"[, "signature": {"r", "vs"}, "leaseId"]}`` -> RawReading."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidTelemetry("malformed_json", f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidTelemetry("malformed_json", f"expected a JSON object, got {type(data).__name__}")
    counter = _integer(data, "counter", MAX_UINT64)
    runtime = _integer(data, "runtime", MAX_UINT32)
    timestamp = _integer(data, "timestamp", 2**40 - 1)
    signature = None
    if "signature" in data:
        sig = data["signature"]
        if not isinstance(sig, dict):
            raise InvalidTelemetry("bad_type", "signature must be an object {r, vs}")
        signature = (_bytes32(sig.get("r"), "signature.r"), _bytes32(sig.get("vs"), "signature.vs"))
    lease_id = None
    if "leaseId" in data:
        raw = data["leaseId"]
        if not isinstance(raw, str) or not raw.startswith("0x"):
            raise InvalidTelemetry("bad_type", "leaseId must be a 0x-hex string")
        try:
            lease_id = int(raw, 16)
        except ValueError as exc:
            raise InvalidTelemetry("bad_type", "leaseId is not hex") from exc
    return RawReading(counter, runtime, timestamp, signature, lease_id)


def check_against_history(raw: RawReading, state: MachineState, *, now: float, max_skew: int,
                          max_rate_per_hour: int | None) -> tuple[int, int]:
    """The counters to report on chain (device counters plus re-baseline offsets), or InvalidTelemetry."""
    if state.quarantined:
        raise InvalidTelemetry("machine_quarantined", f"machine is quarantined ({state.quarantined}); "
                               "re-baseline it with `millchain oracle rebaseline`")
    if abs(raw.timestamp - now) > max_skew:
        raise InvalidTelemetry("clock_skew", f"device time {raw.timestamp} is {raw.timestamp - now:+.0f} s "
                               f"from the oracle's clock (allowed ±{max_skew} s)")
    # Device time has one-second resolution: a second reading within the same second is a newer update (it
    # supersedes the pending one); only a reading from an earlier second is stale.
    if state.last_timestamp is not None and raw.timestamp < state.last_timestamp:
        raise InvalidTelemetry("stale_timestamp", f"device time {raw.timestamp} is before the last accepted "
                               f"reading's {state.last_timestamp}")
    if state.last_counter is not None and raw.counter < state.last_counter:
        raise InvalidTelemetry("counter_backwards", f"counter {raw.counter} < last accepted {state.last_counter}")
    if state.last_runtime is not None and raw.runtime < state.last_runtime:
        raise InvalidTelemetry("runtime_backwards", f"runtime {raw.runtime} < last accepted {state.last_runtime}")
    if (max_rate_per_hour is not None and state.last_counter is not None and state.last_timestamp is not None
            and raw.timestamp > state.last_timestamp):
        # A same-second update has no elapsed time to judge by: the contract checks it against the reading it
        # settles after, with the exact time between them.
        elapsed = raw.timestamp - state.last_timestamp
        allowed = max_rate_per_hour * elapsed // 3600
        if raw.counter - state.last_counter > allowed:
            raise InvalidTelemetry(
                "implausible_jump", f"{raw.counter - state.last_counter} units in {elapsed} s exceeds the rated "
                f"{max_rate_per_hour}/h (at most {allowed})")
    return raw.counter + state.counter_offset, raw.runtime + state.runtime_offset
