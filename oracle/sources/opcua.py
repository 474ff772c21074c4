"""OPC UA: the oracle reads a machine's counter and runtime nodes from the machine's own OPC UA server
(asyncua client) and locks it by writing its Locked node or calling its Lock / Unlock methods.

One :class:`OpcUaSource` per machine (each machine is its own server). The source owns its reconnection:
every session ends on any failure (transport lost, watchdog timeout, subscription status going bad) and a
fresh one is opened with exponential backoff, so there is exactly one code path for "connected".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif

from oracle.sources import Command, CommandDeliveryError, Emit, LogThrottle, Telemetry

__all__ = ["OpcUaCommander", "OpcUaSource"]

logger = logging.getLogger("oracle.sources.opcua")


def _plain(value: Any) -> Any:
    """A JSON-safe rendering of an OPC UA value; anything exotic becomes a string the core will reject."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _seconds(stamp: datetime | None) -> float | None:
    if stamp is None:
        return None
    if stamp.tzinfo is None:  # OPC UA times are UTC
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def build_payload(counter: ua.DataValue | None, runtime: ua.DataValue | None, now: float) -> bytes:
    """The telemetry JSON for one reading: timestamp = the newer SourceTimestamp (device clock, whole
    seconds), else ``now`` (the oracle's clock) when the server does not stamp its values."""
    stamps = [s for s in (_seconds(dv.SourceTimestamp) for dv in (counter, runtime) if dv is not None)
              if s is not None]
    body = {
        "counter": _plain(counter.Value.Value if counter is not None and counter.Value is not None else None),
        "runtime": _plain(runtime.Value.Value if runtime is not None and runtime.Value is not None else None),
        "timestamp": int(max(stamps) if stamps else now),
    }
    return json.dumps(body, separators=(",", ":")).encode()


SESSION_TIMEOUT_MS = 60_000
"""How long a server keeps our session after we vanish (asyncua asks for an hour; servers cap it lower)."""


def _client(endpoint: str, timeout: float, watchdog_interval: float = 1.0) -> Client:
    client = Client(endpoint, timeout=timeout, watchdog_intervall=watchdog_interval)
    client.session_timeout = SESSION_TIMEOUT_MS
    return client


async def _close(client: Client, established: bool, timeout: float) -> None:
    """Tear a client down without letting a dead server stall us or raise. A connect that failed has
    already closed its socket; one that was cancelled half-way has not."""
    if not established:
        client.disconnect_socket()
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), timeout)


class _Latest:
    """Subscription handler: remembers the newest DataValue per node and wakes the session loop."""

    def __init__(self, counter: ua.NodeId, runtime: ua.NodeId, wake: asyncio.Event) -> None:
        self.counter_id = counter
        self.runtime_id = runtime
        self.counter: ua.DataValue | None = None
        self.runtime: ua.DataValue | None = None
        self.bad_status: ua.StatusCode | None = None
        self._wake = wake

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        if node.nodeid == self.counter_id:
            self.counter = data.monitored_item.Value
        elif node.nodeid == self.runtime_id:
            self.runtime = data.monitored_item.Value
        self._wake.set()

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        if not status.Status.is_good():
            self.bad_status = status.Status
            self._wake.set()


class OpcUaSource:
    """Telemetry for one machine from its OPC UA server.

    ``mode="subscription"``: the server pushes counter / runtime changes (publishing interval
    ``interval``); a reading is emitted whenever either changed. ``mode="polling"``: both nodes are read in
    one request every ``interval`` seconds and every read is emitted (a heartbeat even when idle).
    Node ids are OPC UA strings (``ns=2;s=Machine.Counter``).
    """

    def __init__(self, endpoint: str, machine: str, counter_node: str, runtime_node: str,
                 mode: Literal["subscription", "polling"] = "subscription", interval: float = 1.0, *,
                 timeout: float = 4.0, watchdog_interval: float = 1.0,
                 reconnect_delay: tuple[float, float] = (0.5, 30.0),
                 clock: Callable[[], float] = time.time, signed_reading_node: str | None = None) -> None:
        if mode not in ("subscription", "polling"):
            raise ValueError(f"mode must be 'subscription' or 'polling', got {mode!r}")
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self.endpoint = endpoint
        self.machine = machine
        self.counter_node = ua.NodeId.from_string(counter_node)
        self.runtime_node = ua.NodeId.from_string(runtime_node)
        self.signed_reading_node = ua.NodeId.from_string(signed_reading_node) if signed_reading_node else None
        """A device-signed machine's String node holding its whole signed reading (the MQTT payload, with
        ``signature`` and ``leaseId``); when set, counter and runtime are not read."""
        self.mode = mode
        self.interval = interval
        self.timeout = timeout
        self.watchdog_interval = watchdog_interval
        self.reconnect_delay = reconnect_delay
        self._clock = clock
        self._throttle = LogThrottle(logger)
        self.connected = False
        self.sessions = 0
        """Sessions opened so far (1 + the number of reconnections)."""
        self.emitted = 0

    async def run(self, emit: Emit) -> None:
        delay = self.reconnect_delay[0]
        while True:
            sessions = self.sessions
            try:
                await self._session(emit)
            except Exception as exc:
                self._throttle.log(logging.WARNING, "session", "OPC UA machine %s at %s: %s; reconnecting",
                                   self.machine, self.endpoint, _describe(exc))
            if self.sessions > sessions:  # we were connected: start the backoff over
                delay = self.reconnect_delay[0]
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_delay[1])

    async def _session(self, emit: Emit) -> None:
        client = _client(self.endpoint, self.timeout, self.watchdog_interval)
        wake = asyncio.Event()
        lost: list[Exception] = []

        async def connection_lost(exc: Exception) -> None:
            lost.append(exc)
            wake.set()

        client.connection_lost_callback = connection_lost
        established = False
        try:
            await client.connect()
            established = self.connected = True
            self.sessions += 1
            self._throttle.reset("session")
            logger.info("OPC UA machine %s connected at %s (%s)", self.machine, self.endpoint, self.mode)
            counter, runtime = client.get_node(self.counter_node), client.get_node(self.runtime_node)
            if self.signed_reading_node is not None:
                await self._poll_signed(client, client.get_node(self.signed_reading_node), emit, wake, lost)
            elif self.mode == "polling":
                await self._poll(client, counter, runtime, emit, wake, lost)
            else:
                await self._subscribe(client, counter, runtime, emit, wake, lost)
        finally:
            self.connected = False
            await _close(client, established, self.timeout)

    async def _poll(self, client: Client, counter: Node, runtime: Node, emit: Emit, wake: asyncio.Event,
                    lost: list[Exception]) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            counter_dv, runtime_dv = await client.read_attributes([counter, runtime])
            for node, dv in ((counter, counter_dv), (runtime, runtime_dv)):
                if dv.StatusCode is not None and not dv.StatusCode.is_good():
                    self._throttle.log(logging.WARNING, f"status-{node.nodeid}", "OPC UA machine %s: node %s "
                                       "reads %s", self.machine, node.nodeid.to_string(), dv.StatusCode.name)
            await self._emit(emit, counter_dv, runtime_dv)
            due += self.interval
            now = loop.time()
            if due < now:
                due = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), due - now)
            if lost:
                raise ConnectionError(f"connection lost: {_describe(lost[0])}")

    async def _subscribe(self, client: Client, counter: Node, runtime: Node, emit: Emit,
                         wake: asyncio.Event, lost: list[Exception]) -> None:
        latest = _Latest(counter.nodeid, runtime.nodeid, wake)
        subscription = await client.create_subscription(self.interval * 1000, latest)
        handles = await subscription.subscribe_data_change([counter, runtime], queuesize=1)
        failed = [f"{node.nodeid.to_string()}: {h.name}" for node, h in zip((counter, runtime), handles, strict=True)
                  if isinstance(h, ua.StatusCode)]
        if failed:
            raise ConnectionError(f"cannot monitor {', '.join(failed)}")
        emitted: tuple[Any, Any] | None = None
        while True:
            await wake.wait()
            wake.clear()
            if lost:
                raise ConnectionError(f"connection lost: {_describe(lost[0])}")
            if latest.bad_status is not None:
                raise ConnectionError(f"subscription status {latest.bad_status.name}")
            # Notifications of one publish are dispatched as separate tasks; let them all land first so
            # a counter and runtime change make one reading, not two.
            await asyncio.sleep(0)
            if latest.counter is None or latest.runtime is None:
                continue
            current = (latest.counter, latest.runtime)
            if current == emitted:
                continue
            emitted = current
            await self._emit(emit, latest.counter, latest.runtime)

    async def _poll_signed(self, client: Client, node: Node, emit: Emit, wake: asyncio.Event,
                           lost: list[Exception]) -> None:  # fmt: skip
        """Device-signed readings over OPC UA: the machine's signed reading node is read every ``interval``
        (in either mode: one node, so a read costs what a notification does) and each new value is one reading,
        verified by the core like an MQTT payload (P-256 ``{r, s}`` or secp256k1 ``{r, vs}``)."""
        emitted: str | None = None
        while True:
            [dv] = await client.read_attributes([node])
            value = dv.Value.Value if dv.Value is not None else None
            if dv.StatusCode is not None and not dv.StatusCode.is_good():
                self._throttle.log(logging.WARNING, f"status-{node.nodeid}", "OPC UA machine %s: node %s reads %s",
                                   self.machine, node.nodeid.to_string(), dv.StatusCode.name)  # fmt: skip
            elif isinstance(value, str) and value and value != emitted:
                emitted = value
                await self._emit_payload(emit, value.encode())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.interval)
            if lost:
                raise ConnectionError(f"connection lost: {_describe(lost[0])}")

    async def _emit(self, emit: Emit, counter: ua.DataValue | None, runtime: ua.DataValue | None) -> None:
        await self._emit_payload(emit, build_payload(counter, runtime, self._clock()))

    async def _emit_payload(self, emit: Emit, payload: bytes) -> None:
        now = self._clock()
        telemetry = Telemetry(self.machine, payload, now)
        try:
            await emit(telemetry)
            self.emitted += 1
        except Exception:
            self._throttle.log(logging.ERROR, "emit", "the core failed to take telemetry from %s", self.machine,
                               exc_info=True)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class OpcUaCommander:
    """Locks / unlocks one machine through its OPC UA server: by writing its ``locked_node`` (Boolean), or
    by calling ``lock_method`` / ``unlock_method`` on ``object_node``.

    Each command opens a short session of its own (commands are rare; a cached session would only add a
    stale-connection failure mode). Both ways are idempotent. Any failure raises
    :class:`CommandDeliveryError` with the cause, and the core retries.
    """

    def __init__(self, endpoint: str, machine: str, *, locked_node: str | None = None,
                 object_node: str | None = None, lock_method: str | None = None, unlock_method: str | None = None,
                 timeout: float = 5.0) -> None:
        methods = (object_node, lock_method, unlock_method)
        if (locked_node is None) == all(m is None for m in methods) or (locked_node is None and None in methods):
            raise ValueError("give either locked_node, or object_node with lock_method and unlock_method")
        self.endpoint = endpoint
        self.machine = machine
        self.timeout = timeout
        self.locked_node = ua.NodeId.from_string(locked_node) if locked_node else None
        self.object_node = ua.NodeId.from_string(object_node) if object_node else None
        self.methods = {"lock": ua.NodeId.from_string(lock_method) if lock_method else None,
                        "unlock": ua.NodeId.from_string(unlock_method) if unlock_method else None}
        self.sent = 0

    async def send(self, machine: str, command: Command, lease_id: int, reason: str) -> None:
        if machine != self.machine:
            raise CommandDeliveryError(machine, command, f"this OPC UA commander drives {self.machine!r}")
        if command not in ("lock", "unlock"):
            raise ValueError(f"unknown command {command!r}")
        client = _client(self.endpoint, self.timeout)
        established = False
        try:
            await asyncio.wait_for(client.connect(), self.timeout)
            established = True
            if self.locked_node is not None:
                await client.get_node(self.locked_node).write_value(
                    ua.Variant(command == "lock", ua.VariantType.Boolean))
            else:
                assert self.object_node is not None
                method = self.methods[command]
                assert method is not None
                await client.get_node(self.object_node).call_method(method)
        except Exception as exc:
            raise CommandDeliveryError(machine, command, f"{self.endpoint}: {_describe(exc)}") from exc
        finally:
            await _close(client, established, self.timeout)
        self.sent += 1
        logger.info("sent %s to %s (lease 0x%x): %s", command, machine, lease_id, reason)

    async def close(self) -> None:
        """Nothing to release (every command has its own session); here so all commanders close alike."""
