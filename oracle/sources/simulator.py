"""Simulated machines: the factory floor for demos, load tests and end-to-end tests.

:class:`SimulatedMachine` is the model: a cumulative unit counter and a runtime clock that advance with
(seeded, reproducible) jitter while the machine runs and stand still while it is locked. Around it:

- :class:`SimulatorSource` — a :class:`~oracle.sources.Source` reading N machines in process each interval
  (1,000 machines at 1 Hz cost a few milliseconds per tick); :class:`SimulatorCommander` locks them.
- :class:`MqttFloor` / :class:`MqttMachine` — machines that publish telemetry to a real broker and obey the
  lock / unlock commands on their command topics, like machine firmware would.
- :class:`OpcUaMachineServer` — one machine behind a real OPC UA server (asyncua) with Counter,
  RuntimeSeconds, a writable Locked flag and Lock / Unlock methods.

A machine may sign its own reports (:class:`ReportSigner`, the "device-signed" mode); otherwise the oracle
signs for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import zlib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from millchain.typed_data import DeviceSigner, UsageReport
from oracle.sources import Command, CommandDeliveryError, Emit, LogThrottle, Telemetry
from oracle.sources.mqtt import (
    DEFAULT_PREFIX,
    _check_prefix,
    _check_segment,
    _default_client_id,
    command_topic,
    make_client,
    parse_command,
    telemetry_topic,
)

if TYPE_CHECKING:  # asyncua costs a third of a second to import: only the OPC UA server needs it, at start
    from asyncua import ua
    from asyncua.server.address_space import NodeData
    from asyncua.server.server import Server
    from asyncua.ua.attribute_ids import AttributeIds

__all__ = [
    "MqttFloor",
    "MqttMachine",
    "OpcUaMachineServer",
    "ReportSigner",
    "SimulatedMachine",
    "SimulatorCommander",
    "SimulatorSource",
]

logger = logging.getLogger("oracle.sources.simulator")

_T = TypeVar("_T")

_MASK64 = (1 << 64) - 1


class SimulatedMachine:
    """A machine producing about ``rate_per_hour`` units per hour of running time.

    Production per step varies by up to ``±jitter`` (a fraction, 0 to 1) from a generator seeded by the
    machine's name (or ``seed``), so a run is reproducible. Whole units only: fractions carry over, so
    the counter is exactly monotone. While locked neither the counter nor the runtime advances.
    ``clock`` is the machine's own clock (it stamps readings); tests pass a fake one.

    Thread-safe: MQTT command callbacks, OPC UA writes and readers may touch one machine concurrently.
    """

    def __init__(
        self,
        name: str,
        rate_per_hour: float,
        jitter: float = 0.1,
        start_counter: int = 0,
        clock: Callable[[], float] = time.time,
        *,
        seed: int | None = None,
        start_runtime: int = 0,
    ) -> None:
        if rate_per_hour < 0:
            raise ValueError("rate_per_hour must be >= 0")
        if not 0 <= jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")
        if start_counter < 0 or start_runtime < 0:
            raise ValueError("start_counter and start_runtime must be >= 0")
        self.name = name
        self.rate_per_hour = rate_per_hour
        self.jitter = jitter
        self.clock = clock
        self._rng = (zlib.crc32(name.encode()) if seed is None else seed) & _MASK64
        self._counter = start_counter
        self._runtime = float(start_runtime)
        self._fraction = 0.0
        self._locked = False
        self._last = clock()
        self._mutex = threading.Lock()

    def _uniform(self) -> float:
        # splitmix64: a few integer operations and 8 bytes of state per machine (random.Random costs
        # ~5 KB each, which adds up at thousands of machines).
        self._rng = (self._rng + 0x9E3779B97F4A7C15) & _MASK64
        z = self._rng
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return ((z ^ (z >> 31)) >> 11) / float(1 << 53)

    def _advance(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed <= 0:  # a clock stepping backwards produces nothing (and never un-produces)
            return
        self._last = now
        if self._locked:
            return
        self._runtime += elapsed
        factor = 1.0 + self.jitter * (2.0 * self._uniform() - 1.0)
        self._fraction += self.rate_per_hour * elapsed / 3600.0 * factor
        whole = int(self._fraction)
        self._counter += whole
        self._fraction -= whole

    def reading(self, now: float | None = None) -> dict[str, int]:
        """Advance to ``now`` (default: the machine's clock) and report ``{counter, runtime, timestamp}``."""
        with self._mutex:
            when = self.clock() if now is None else now
            self._advance(when)
            return {"counter": self._counter, "runtime": int(self._runtime), "timestamp": int(when)}

    def lock(self, now: float | None = None) -> None:
        """Stop production (what was produced up to ``now`` still counts). Idempotent."""
        with self._mutex:
            self._advance(self.clock() if now is None else now)
            self._locked = True

    def unlock(self, now: float | None = None) -> None:
        """Resume production from ``now``; the locked time produces nothing. Idempotent."""
        with self._mutex:
            self._advance(self.clock() if now is None else now)  # no-op for output, moves the time base
            self._locked = False

    def reset_counter(self) -> None:
        """Simulate a controller reset: the counter starts again at 0 (the oracle must quarantine it)."""
        with self._mutex:
            self._counter = 0
            self._fraction = 0.0

    @property
    def locked(self) -> bool:
        return self._locked

    @property
    def counter(self) -> int:
        return self._counter

    @property
    def runtime(self) -> int:
        return int(self._runtime)

    def __repr__(self) -> str:
        state = "locked" if self._locked else "running"
        return f"SimulatedMachine({self.name!r}, counter={self._counter}, {state})"


class ReportSigner:
    """Signs a machine's readings with its device key, as firmware in the device-signed mode does: adds
    ``leaseId`` and ``signature: {r, vs}`` (EIP-2098) over the EIP-712 UsageReport."""

    def __init__(self, signer: DeviceSigner, lease_id: int, machine_id: bytes) -> None:
        if len(machine_id) != 32:
            raise ValueError("machine_id is 32 bytes (millchain.types.machine_id)")
        self.signer = signer
        self.lease_id = lease_id  # settable: a machine moves to its next lease
        self.machine_id = machine_id

    def sign(self, reading: Mapping[str, int]) -> dict[str, Any]:
        report = UsageReport(
            lease_id=self.lease_id,
            machine_id=self.machine_id,
            counter=reading["counter"],
            runtime_seconds=reading["runtime"],
            timestamp=reading["timestamp"],
        )
        signed = self.signer.sign(report)
        return {
            **reading,
            "leaseId": f"0x{self.lease_id:x}",
            "signature": {"r": "0x" + signed.r.hex(), "vs": "0x" + signed.vs.hex()},
        }


def _encode(reading: Mapping[str, Any]) -> bytes:
    return json.dumps(reading, separators=(",", ":")).encode()


class SimulatorSource:
    """Emits every machine's reading each ``interval`` seconds, in process (no network).

    Ticks are scheduled on a fixed grid (no drift); when the core is too slow to take a whole tick before
    the next one is due, missed ticks are skipped rather than bunched (:attr:`late_ticks` counts them).
    ``signer_factory`` returns a :class:`ReportSigner` for machines that sign their own reports (or None).
    """

    def __init__(
        self,
        machines: Sequence[SimulatedMachine],
        interval: float = 1.0,
        signer_factory: Callable[[SimulatedMachine], ReportSigner | None] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        names = [m.name for m in machines]
        if len(set(names)) != len(names):
            raise ValueError("machine names must be unique")
        self.machines = list(machines)
        self.interval = interval
        self.signers = {m.name: signer_factory(m) for m in machines} if signer_factory else {}
        self.ticks = 0
        self.late_ticks = 0
        self.emitted = 0
        self.last_tick_seconds = 0.0
        self._throttle = LogThrottle(logger)

    async def tick(self, emit: Emit) -> None:
        """Read and emit every machine once."""
        started = time.perf_counter()
        for i, machine in enumerate(self.machines):
            reading: Mapping[str, Any] = machine.reading()
            signer = self.signers.get(machine.name)
            if signer is not None:
                reading = signer.sign(reading)
            try:
                await emit(Telemetry(machine.name, _encode(reading), time.time()))
                self.emitted += 1
            except Exception:
                self._throttle.log(
                    logging.ERROR, "emit", "the core failed to take telemetry from %s", machine.name, exc_info=True
                )
            if i % 256 == 255:
                await asyncio.sleep(0)  # stay fair to the rest of the service during a large tick
        self.ticks += 1
        self.last_tick_seconds = time.perf_counter() - started

    async def run(self, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            await self.tick(emit)
            due += self.interval
            now = loop.time()
            if due < now:
                skipped = int((now - due) // self.interval) + 1
                self.late_ticks += skipped
                due += skipped * self.interval
                self._throttle.log(
                    logging.WARNING,
                    "late",
                    "simulator tick took %.3f s (interval %.3f s): skipping %d tick(s)",
                    self.last_tick_seconds,
                    self.interval,
                    skipped,
                )
            await asyncio.sleep(due - now)


class SimulatorCommander:
    """Locks and unlocks in-process simulated machines (the :class:`SimulatorSource` counterpart)."""

    def __init__(self, machines: Sequence[SimulatedMachine]) -> None:
        self.machines = {m.name: m for m in machines}
        self.log: list[tuple[str, Command, int, str]] = []

    async def send(self, machine: str, command: Command, lease_id: int, reason: str) -> None:
        target = self.machines.get(machine)
        if target is None:
            raise CommandDeliveryError(machine, command, "no such simulated machine")
        if command == "lock":
            target.lock()
        elif command == "unlock":
            target.unlock()
        else:
            raise ValueError(f"unknown command {command!r}")
        self.log.append((machine, command, lease_id, reason))

    async def close(self) -> None:
        """Nothing to release; here so all commanders close alike."""


class MqttFloor:
    """Simulated machines on an MQTT broker: each publishes its reading to ``{prefix}/{name}/telemetry``
    every ``interval`` seconds (QoS 1) and obeys lock / unlock on ``{prefix}/{name}/command``, including
    the retained command waiting for it when it connects. One MQTT connection serves the whole floor, so a
    thousand machines cost one socket and two threads.

    Synchronous API (:meth:`start` / :meth:`stop`, or ``with``): usable from plain tests and from async
    code alike. ``interval=None`` publishes only on :meth:`publish_now`.
    """

    def __init__(
        self,
        machines: Sequence[SimulatedMachine],
        host: str,
        port: int = 1883,
        prefix: str = DEFAULT_PREFIX,
        *,
        interval: float | None = 1.0,
        signers: Mapping[str, ReportSigner] | None = None,
        client_id: str | None = None,
        qos: int = 1,
    ) -> None:
        self.machines = {_check_segment(m.name, "machine name"): m for m in machines}
        if len(self.machines) != len(machines):
            raise ValueError("machine names must be unique")
        self.host = host
        self.port = port
        self.prefix = _check_prefix(prefix)
        self.interval = interval
        self.signers = dict(signers or {})
        self.qos = qos
        self.client_id = client_id or _default_client_id("floor")
        self.commands: list[tuple[str, Command, int, str]] = []
        """Every command obeyed, in order: (machine, command, lease id, reason)."""
        self.published = 0
        self.on_command: Callable[[str, Command, int, str], None] | None = None
        self._last_issued: dict[str, int] = {}
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._client: mqtt.Client | None = None
        self._publisher: threading.Thread | None = None
        self._throttle = LogThrottle(logger)

    def start(self) -> MqttFloor:
        if self._client is not None:
            return self
        client = make_client(self.client_id)
        client.max_inflight_messages_set(max(20, len(self.machines)))
        # Firmware keeps a small buffer while the broker is away; older readings are superseded anyway.
        client.max_queued_messages_set(10 * len(self.machines) + 100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.connect_async(self.host, self.port, keepalive=30)
        client.loop_start()
        self._client = client
        self._stop.clear()
        if self.interval is not None:
            self._publisher = threading.Thread(target=self._publish_loop, name=f"floor-{self.client_id}", daemon=True)
            self._publisher.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._publisher is not None:
            self._publisher.join()
            self._publisher = None
        client, self._client = self._client, None
        if client is not None:
            self._connected.clear()
            client.disconnect()
            client.loop_stop()

    def __enter__(self) -> MqttFloor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    def publish_now(self, names: Sequence[str] | None = None) -> int:
        """Publish the current reading of ``names`` (default: every machine) at once; returns how many
        were handed to the client."""
        client = self._client
        if client is None:
            raise RuntimeError("start() the floor first")
        count = 0
        for name in names if names is not None else self.machines:
            machine = self.machines[name]
            reading: Mapping[str, Any] = machine.reading()
            signer = self.signers.get(name)
            if signer is not None:
                reading = signer.sign(reading)
            info = client.publish(telemetry_topic(self.prefix, name), _encode(reading), qos=self.qos)
            if info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                count += 1  # NO_CONN: queued by paho, sent on reconnect
        self.published += count
        return count

    def _publish_loop(self) -> None:
        assert self.interval is not None
        due = time.monotonic()
        while not self._stop.is_set():
            try:
                self.publish_now()
            except Exception:
                self._throttle.log(logging.ERROR, "publish", "floor failed to publish", exc_info=True)
            due += self.interval
            now = time.monotonic()
            if due < now:
                due = now + self.interval
            self._stop.wait(due - now)

    # --- paho thread ---------------------------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._throttle.log(logging.WARNING, "connect", "broker refused the floor: %s", reason)
            return
        if len(self.machines) > 32:
            client.subscribe(command_topic(self.prefix, "+"), qos=1)
        else:
            client.subscribe([(command_topic(self.prefix, name), 1) for name in self.machines])
        self._connected.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            name = message.topic[len(self.prefix) + 1 : -len("/command")]
            machine = self.machines.get(name)
            parsed = parse_command(bytes(message.payload))
            if machine is None or parsed is None:
                return
            command, lease_id, reason, issued_at = parsed
            # QoS 1 may deliver twice and a reconnect replays the retained command: obey only news.
            if issued_at < self._last_issued.get(name, 0):
                return
            self._last_issued[name] = issued_at
            if command == "lock":
                machine.lock()
            else:
                machine.unlock()
            self.commands.append((name, command, lease_id, reason))
            if self.on_command is not None:
                self.on_command(name, command, lease_id, reason)
        except Exception:
            self._throttle.log(logging.ERROR, "command", "floor failed to handle a command", exc_info=True)


class MqttMachine(MqttFloor):
    """One simulated machine on an MQTT broker (see :class:`MqttFloor`)."""

    def __init__(
        self,
        machine: SimulatedMachine,
        host: str,
        port: int = 1883,
        prefix: str = DEFAULT_PREFIX,
        signer: ReportSigner | None = None,
        *,
        interval: float | None = 1.0,
        client_id: str | None = None,
        qos: int = 1,
    ) -> None:
        super().__init__(
            [machine],
            host,
            port,
            prefix,
            interval=interval,
            signers={machine.name: signer} if signer is not None else None,
            client_id=client_id or f"millchain-machine-{machine.name}",
            qos=qos,
        )
        self.machine = machine


class OpcUaMachineServer:
    """One simulated machine behind an OPC UA server bound to ``host`` (127.0.0.1 by default).

    Address space (namespace ``urn:millchain:machine``, index 2): ``Objects/Machine`` (``ns=2;s=Machine``)
    with ``Counter`` (UInt64), ``RuntimeSeconds`` (UInt32), ``Locked`` (Boolean, writable by clients) and
    methods ``Lock`` / ``Unlock``; node ids ``ns=2;s=Machine.<Name>``. Every ``interval`` seconds the
    values are refreshed from the :class:`SimulatedMachine`, stamped with its clock (SourceTimestamp).
    Writing ``Locked`` or calling a method locks / unlocks the machine at once.

    Run it inside a loop (``async with`` / :meth:`start` / :meth:`stop`) or in a thread of its own
    (:meth:`start_background` / :meth:`stop_background`) for synchronous tests.
    """

    NAMESPACE = "urn:millchain:machine"

    def __init__(self, machine: SimulatedMachine, port: int, host: str = "127.0.0.1", *, interval: float = 0.1) -> None:
        self.machine = machine
        self.host = host
        self.port = port
        self.interval = interval
        self.namespace_index = 2
        self._server: Server | None = None
        self._nodes: dict[str, Any] = {}
        self._last = (-1, -1)
        self._node_locked = machine.locked
        self._updater: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._bg_loop: asyncio.AbstractEventLoop | None = None
        self._bg_stop: asyncio.Event | None = None
        self._bg_error: BaseException | None = None
        self._throttle = LogThrottle(logger)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/millchain/machine"

    def node_id(self, name: str) -> str:
        """``ns=2;s=Machine.Counter`` for ``"Counter"``; ``"Machine"`` itself is ``ns=2;s=Machine``."""
        suffix = "Machine" if name == "Machine" else f"Machine.{name}"
        return f"ns={self.namespace_index};s={suffix}"

    @property
    def counter_node(self) -> str:
        return self.node_id("Counter")

    @property
    def runtime_node(self) -> str:
        return self.node_id("RuntimeSeconds")

    @property
    def locked_node(self) -> str:
        return self.node_id("Locked")

    @property
    def object_node(self) -> str:
        return self.node_id("Machine")

    @property
    def lock_method(self) -> str:
        return self.node_id("Lock")

    @property
    def unlock_method(self) -> str:
        return self.node_id("Unlock")

    async def start(self) -> None:
        from asyncua import ua
        from asyncua.server.server import Server

        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"millchain simulated machine {self.machine.name}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(self.NAMESPACE)
        self.namespace_index = idx

        def nid(name: str) -> ua.NodeId:
            return ua.NodeId.from_string(self.node_id(name))

        obj = await server.nodes.objects.add_object(nid("Machine"), ua.QualifiedName("Machine", idx))
        reading = self.machine.reading()
        counter = await obj.add_variable(
            nid("Counter"), ua.QualifiedName("Counter", idx), ua.Variant(reading["counter"], ua.VariantType.UInt64)
        )
        runtime = await obj.add_variable(
            nid("RuntimeSeconds"),
            ua.QualifiedName("RuntimeSeconds", idx),
            ua.Variant(reading["runtime"], ua.VariantType.UInt32),
        )
        locked = await obj.add_variable(
            nid("Locked"), ua.QualifiedName("Locked", idx), ua.Variant(self.machine.locked, ua.VariantType.Boolean)
        )
        await locked.set_writable()
        await obj.add_method(nid("Lock"), ua.QualifiedName("Lock", idx), self._lock_method, [], [])
        await obj.add_method(nid("Unlock"), ua.QualifiedName("Unlock", idx), self._unlock_method, [], [])
        self._node_locked = self.machine.locked
        # Every write to Locked (a client's Write, a method, our own sync) passes through here, so the
        # machine obeys at the moment of the write rather than at the next refresh.
        server.set_attribute_value_setter(locked.nodeid, self._locked_setter)
        self._nodes = {"counter": counter, "runtime": runtime, "locked": locked}
        self._last = (reading["counter"], reading["runtime"])
        self._server = server
        await server.start()
        self._updater = asyncio.create_task(self._update_loop(), name=f"opcua-machine-{self.machine.name}")
        logger.info("OPC UA machine %s serving at %s", self.machine.name, self.endpoint)

    async def stop(self) -> None:
        updater, self._updater = self._updater, None
        if updater is not None:
            updater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await updater
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def __aenter__(self) -> OpcUaMachineServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _locked_setter(self, node: NodeData, attr: AttributeIds, value: ua.DataValue) -> None:
        node.attributes[attr].value = value  # a setter replaces the store, so store as asyncua would
        node.attributes[attr].value_callback = None
        locked = bool(value.Value is not None and value.Value.Value)
        self._node_locked = locked
        if locked:
            self.machine.lock()
        else:
            self.machine.unlock()

    async def _set_locked(self, locked: bool) -> None:
        from asyncua import ua

        await self._nodes["locked"].write_value(ua.Variant(locked, ua.VariantType.Boolean))

    async def _lock_method(self, parent: ua.NodeId) -> list[ua.Variant]:
        await self._set_locked(True)
        return []

    async def _unlock_method(self, parent: ua.NodeId) -> list[ua.Variant]:
        await self._set_locked(False)
        return []

    async def refresh(self) -> None:
        """Publish the machine's current reading (done every ``interval`` by the server itself)."""
        from asyncua import ua

        if self.machine.locked != self._node_locked:  # locked / unlocked directly on the model
            await self._set_locked(self.machine.locked)
        now = self.machine.clock()
        reading = self.machine.reading(now)
        stamp = ua.DateTime.fromtimestamp(now, UTC)
        if reading["counter"] != self._last[0]:
            await self._nodes["counter"].write_value(
                ua.DataValue(ua.Variant(reading["counter"], ua.VariantType.UInt64), SourceTimestamp=stamp)
            )
        if reading["runtime"] != self._last[1]:
            await self._nodes["runtime"].write_value(
                ua.DataValue(ua.Variant(reading["runtime"], ua.VariantType.UInt32), SourceTimestamp=stamp)
            )
        self._last = (reading["counter"], reading["runtime"])

    async def _update_loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                self._throttle.log(
                    logging.ERROR, "refresh", "OPC UA machine %s failed to refresh", self.machine.name, exc_info=True
                )
            await asyncio.sleep(self.interval)

    # --- a server in a thread of its own, for synchronous tests ----------------------------------------

    def start_background(self, timeout: float = 60.0) -> OpcUaMachineServer:
        """Serve from a daemon thread with its own event loop; returns once the server listens."""
        if self._thread is not None:
            raise RuntimeError("already serving in the background")
        ready = threading.Event()
        self._bg_error = None
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._serve_background(ready)),
            name=f"opcua-machine-{self.machine.name}",
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"OPC UA machine server did not start within {timeout} s")
        if self._bg_error is not None:
            self._thread.join()
            self._thread = None
            raise self._bg_error
        return self

    @property
    def serving_in_background(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_in_background(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        """Run ``coro`` on the background server's loop (the only loop that may touch its nodes)."""
        if self._bg_loop is None:
            coro.close()
            raise RuntimeError("not serving in the background")
        return asyncio.run_coroutine_threadsafe(coro, self._bg_loop).result(timeout)

    def stop_background(self, timeout: float = 15.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._bg_loop is not None and self._bg_stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already gone
                self._bg_loop.call_soon_threadsafe(self._bg_stop.set)
        thread.join(timeout)

    async def _serve_background(self, ready: threading.Event) -> None:
        self._bg_loop = asyncio.get_running_loop()
        self._bg_stop = asyncio.Event()
        try:
            await self.start()
        except BaseException as exc:
            self._bg_error = exc
            ready.set()
            return
        ready.set()
        try:
            await self._bg_stop.wait()
        finally:
            await self.stop()
            self._bg_loop = None
