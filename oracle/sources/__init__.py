"""Protocol adapters: where machine telemetry comes from and where lock commands go.

A :class:`Source` hands every message to the core exactly as received (bytes, even malformed ones):
parsing and validation are the core's job, so one bad machine can never stall or crash an adapter.
A :class:`Commander` delivers lock / unlock to a machine and raises when it cannot, so the core retries.

Adapters: :mod:`oracle.sources.mqtt` (MQTT broker), :mod:`oracle.sources.opcua` (a machine's OPC UA
server), :mod:`oracle.sources.simulator` (simulated machines for demos, load tests and the test floor).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from millchain.errors import MillchainError

__all__ = [
    "Command",
    "CommandDeliveryError",
    "CommandRouter",
    "Commander",
    "Emit",
    "LogThrottle",
    "Source",
    "Telemetry",
]


@dataclass(frozen=True)
class Telemetry:
    """One message from one machine, exactly as received: parsing and validation happen in the core."""

    machine: str  # the machine's name in the oracle config (e.g. "press-01")
    payload: bytes  # JSON body, see below
    received_at: float  # time.time() when the oracle received it
    ack: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    """Called by the core once the message is committed to the outbox (or refused for good): a source with a
    persistent session acknowledges it to the broker only then."""


Emit = Callable[[Telemetry], Awaitable[None]]


class Source(Protocol):
    # runs until cancelled (asyncio.CancelledError); reconnects by itself; never raises on a bad message
    async def run(self, emit: Emit) -> None: ...


Command = Literal["lock", "unlock"]


class Commander(Protocol):
    # idempotent; raises on delivery failure so the core retries
    async def send(self, machine: str, command: Command, lease_id: int, reason: str) -> None: ...


class CommandDeliveryError(MillchainError):
    """A lock / unlock command could not be delivered (no connection, no acknowledgement in time,
    refused by the broker or the machine). The command may or may not have arrived; sending it again
    is harmless, so the core retries."""

    def __init__(self, machine: str, command: str, reason: str) -> None:
        self.machine = machine
        self.command = command
        self.reason = reason
        super().__init__(f"{command} for machine {machine!r} not delivered: {reason}")


class LogThrottle:
    """Logs a recurring condition at most once per ``interval`` seconds per key, with the number of
    occurrences suppressed in between, so a broker outage or a machine spamming garbage cannot flood
    the log. Thread-safe enough for its purpose (a lost count under a race only skews a log line)."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self._clock = clock
        self._last: OrderedDict[str, float] = OrderedDict()
        """Keys by last logging, oldest first; at most ``max_keys`` (the oldest are forgotten: a flood of new
        keys costs bounded memory, and a forgotten key's next occurrence is simply logged)."""
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: Any, exc_info: bool = False) -> bool:
        """Log ``msg % args`` unless ``key`` was logged less than ``interval`` ago; True if it was logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > self.max_keys:
            old, _ = self._last.popitem(last=False)
            self._suppressed.pop(old, None)
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            msg += " (%d similar suppressed)"
            args = (*args, suppressed)
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def reset(self, key: str) -> None:
        """Forget ``key`` (the condition cleared), so its next occurrence is logged at once."""
        self._last.pop(key, None)
        self._suppressed.pop(key, None)


class CommandRouter:
    """A :class:`Commander` over several: each machine's commands go to the commander that reaches it
    (the MQTT commander for MQTT machines, one OPC UA commander per OPC UA machine, …)."""

    def __init__(self, routes: Mapping[str, Commander]) -> None:
        self.routes = dict(routes)

    async def send(self, machine: str, command: Command, lease_id: int, reason: str) -> None:
        commander = self.routes.get(machine)
        if commander is None:
            raise CommandDeliveryError(machine, command, "no commander is configured for this machine")
        await commander.send(machine, command, lease_id, reason)

    async def close(self) -> None:
        """Close every distinct commander that holds a connection (those with an async ``close()``)."""
        seen: set[int] = set()
        for commander in self.routes.values():
            close = getattr(commander, "close", None)
            if close is not None and id(commander) not in seen:
                seen.add(id(commander))
                await close()
