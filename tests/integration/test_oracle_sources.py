"""The oracle's protocol adapters against a real Mosquitto broker and a real asyncua OPC UA server, and the
simulated machines that stand in for the factory floor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from asyncua import ua
from asyncua.client.client import Client
from paho.mqtt.enums import CallbackAPIVersion

from millchain.node import free_port
from millchain.typed_data import (
    DeviceSigner,
    SignedUsageReport,
    UsageReport,
    UsageReportHasher,
    lease_domain,
    recover_signer,
)
from millchain.types import machine_id
from oracle.sources import CommandDeliveryError, CommandRouter, Source, Telemetry
from oracle.sources.mqtt import DEFAULT_PREFIX, MqttCommander, MqttSource, command_topic, telemetry_topic
from oracle.sources.opcua import OpcUaCommander, OpcUaSource
from oracle.sources.simulator import (
    MqttFloor,
    MqttMachine,
    OpcUaMachineServer,
    ReportSigner,
    SimulatedMachine,
    SimulatorCommander,
    SimulatorSource,
)
from tests.oracle_fixtures import MosquittoBroker

pytestmark = pytest.mark.integration


FAST = 36_000  # units per hour: 10 a second, so a few hundred milliseconds show movement


def run(coro: Coroutine[Any, Any, None], timeout: float = 20.0) -> None:
    """Run one async test body (pytest-asyncio is not a dependency)."""
    asyncio.run(asyncio.wait_for(coro, timeout))


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class Collector:
    """An ``emit`` that records what a source hands to the core."""

    def __init__(self) -> None:
        self.items: list[Telemetry] = []

    async def __call__(self, telemetry: Telemetry) -> None:
        self.items.append(telemetry)

    def of(self, machine: str) -> list[dict[str, Any]]:
        return [json.loads(t.payload) for t in self.items if t.machine == machine]


@contextlib.asynccontextmanager
async def running(source: Source, emit: Callable[[Telemetry], Awaitable[None]]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run(emit))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def raw_client(broker: MosquittoBroker) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{free_port()}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def close_raw(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


# --- MQTT source ---------------------------------------------------------------------------------------


def test_mqtt_source_receives_a_machines_telemetry_through_the_broker(mosquitto: MosquittoBroker) -> None:
    machine = SimulatedMachine("press-01", FAST, start_counter=500)

    async def body() -> None:
        source = MqttSource(mosquitto.host, mosquitto.port, machines=["press-01"])
        sink = Collector()
        with MqttMachine(machine, mosquitto.host, mosquitto.port, interval=None) as floor:
            async with running(source, sink):
                await eventually(lambda: source.connected and floor.connected, what="connections")
                await asyncio.sleep(0.1)  # the SUBACK
                floor.publish_now()
                await eventually(lambda: len(sink.items) >= 1, what="telemetry")
        telemetry = sink.items[0]
        assert telemetry.machine == "press-01"
        reading = json.loads(telemetry.payload)
        assert set(reading) == {"counter", "runtime", "timestamp"}
        assert reading["counter"] >= 500
        assert abs(reading["timestamp"] - time.time()) < 5
        assert abs(telemetry.received_at - time.time()) < 5
        assert source.received == 1 and source.dropped == 0

    run(body())


def test_device_signed_reading_arrives_with_a_signature_that_recovers_the_device(
        mosquitto: MosquittoBroker) -> None:
    hasher = UsageReportHasher(lease_domain(31337, "0x" + "11" * 20))
    device = DeviceSigner(bytes.fromhex("42" * 32), hasher)
    signer = ReportSigner(device, lease_id=7, machine_id=machine_id("press-01"))
    machine = SimulatedMachine("press-01", FAST)

    async def body() -> None:
        source = MqttSource(mosquitto.host, mosquitto.port, machines=["press-01"])
        sink = Collector()
        with MqttMachine(machine, mosquitto.host, mosquitto.port, signer=signer, interval=0.1):
            async with running(source, sink):
                await eventually(lambda: len(sink.items) >= 1, what="signed telemetry")
        reading = sink.of("press-01")[0]
        assert reading["leaseId"] == "0x7"
        report = UsageReport(lease_id=7, machine_id=machine_id("press-01"), counter=reading["counter"],
                             runtime_seconds=reading["runtime"], timestamp=reading["timestamp"])
        signed = SignedUsageReport(report, bytes.fromhex(reading["signature"]["r"][2:]),
                                   bytes.fromhex(reading["signature"]["vs"][2:]))
        assert recover_signer(hasher, signed) == device.address

    run(body())


def test_unknown_machine_and_malformed_bytes_are_passed_to_the_core_untouched(mosquitto: MosquittoBroker) -> None:
    garbage = b"\xff\x00{not json"

    async def body() -> None:
        source = MqttSource(mosquitto.host, mosquitto.port, machines=["press-01"])
        sink = Collector()
        async with running(source, sink):
            await eventually(lambda: source.connected, what="connection")
            await asyncio.sleep(0.1)
            client = raw_client(mosquitto)
            try:
                client.publish(telemetry_topic(DEFAULT_PREFIX, "ghost-9"), b'{"counter": 1}', qos=1).wait_for_publish(5)
                client.publish(telemetry_topic(DEFAULT_PREFIX, "press-01"), garbage, qos=1).wait_for_publish(5)
                client.publish(telemetry_topic(DEFAULT_PREFIX, "press-01"), b"", qos=1).wait_for_publish(5)
                await eventually(lambda: len(sink.items) == 3, what="three messages")
            finally:
                close_raw(client)
        assert [(t.machine, t.payload) for t in sink.items] == [
            ("ghost-9", b'{"counter": 1}'), ("press-01", garbage), ("press-01", b"")]

    run(body())


def test_a_flood_beyond_the_queue_bound_is_dropped_and_counted_without_stalling(mosquitto: MosquittoBroker) -> None:
    flood = 3_000

    async def body() -> None:
        source = MqttSource(mosquitto.host, mosquitto.port, machines=["press-01"], queue_size=100)
        sink = Collector()
        release = asyncio.Event()

        async def slow_core(telemetry: Telemetry) -> None:
            await release.wait()  # the core is stuck while the flood arrives
            await sink(telemetry)

        async with running(source, slow_core) as task:
            await eventually(lambda: source.connected, what="connection")
            await asyncio.sleep(0.1)
            client = raw_client(mosquitto)
            try:
                for i in range(flood):
                    client.publish(telemetry_topic(DEFAULT_PREFIX, "press-01"), b'{"n": %d}' % i)
                await eventually(lambda: source.received + source.dropped == flood, timeout=15,
                                 what="the flood to be taken or dropped")
                assert source.dropped > 0
                assert source.received <= 100 + 1  # the bound, plus the one the stuck core holds
                release.set()
                await eventually(lambda: len(sink.items) == source.received, what="the queue to drain")
                client.publish(telemetry_topic(DEFAULT_PREFIX, "press-01"), b"after").wait_for_publish(5)
                await eventually(lambda: sink.items[-1].payload == b"after", what="life after the flood")
            finally:
                close_raw(client)
            assert not task.done()

    run(body(), timeout=40)


def test_a_core_that_raises_does_not_stop_the_source(mosquitto: MosquittoBroker) -> None:
    async def body() -> None:
        source = MqttSource(mosquitto.host, mosquitto.port, machines=["press-01"])
        seen: list[bytes] = []

        async def buggy_core(telemetry: Telemetry) -> None:
            seen.append(telemetry.payload)
            raise RuntimeError("core bug")

        async with running(source, buggy_core) as task:
            await eventually(lambda: source.connected, what="connection")
            await asyncio.sleep(0.1)
            client = raw_client(mosquitto)
            try:
                for payload in (b"1", b"2"):
                    client.publish(telemetry_topic(DEFAULT_PREFIX, "press-01"), payload, qos=1).wait_for_publish(5)
                await eventually(lambda: seen == [b"1", b"2"], what="both messages")
            finally:
                close_raw(client)
            assert not task.done()

    run(body())


def test_source_reconnects_and_resumes_after_the_broker_restarts(mosquitto: MosquittoBroker) -> None:
    machine = SimulatedMachine("press-01", FAST)

    async def body() -> None:
        source = MqttSource(mosquitto.host, mosquitto.port, machines=["press-01"])
        sink = Collector()
        with MqttMachine(machine, mosquitto.host, mosquitto.port, interval=0.1):
            async with running(source, sink):
                await eventually(lambda: len(sink.items) >= 1, what="telemetry before the restart")
                await asyncio.to_thread(mosquitto.restart, 0.3)
                restarted = time.time()
                await eventually(lambda: source.connects >= 2, timeout=10, what="the source to reconnect")
                await eventually(lambda: sink.items[-1].received_at > restarted + 0.2, timeout=10,
                                 what="telemetry after the restart")
        counters = [r["counter"] for r in sink.of("press-01")]
        assert counters == sorted(counters)

    run(body(), timeout=30)


# --- MQTT commander ------------------------------------------------------------------------------------


def test_retained_lock_reaches_a_machine_that_connects_later_and_unlock_resumes_production(
        mosquitto: MosquittoBroker) -> None:
    machine = SimulatedMachine("press-01", FAST)

    async def body() -> None:
        async with MqttCommander(mosquitto.host, mosquitto.port) as commander:
            await commander.send("press-01", "lock", 0x2A, "escrow exhausted")  # the machine is offline
            with MqttMachine(machine, mosquitto.host, mosquitto.port, interval=0.05) as floor:
                await eventually(lambda: machine.locked, what="the retained lock")
                assert floor.commands == [("press-01", "lock", 0x2A, "escrow exhausted")]
                stopped_at = machine.reading()["counter"]
                await asyncio.sleep(0.4)
                assert machine.reading()["counter"] == stopped_at  # no production while locked

                await commander.send("press-01", "unlock", 0x2A, "escrow topped up")
                await commander.send("press-01", "unlock", 0x2A, "escrow topped up")  # idempotent
                await eventually(lambda: not machine.locked, what="the unlock")
                await eventually(lambda: machine.reading()["counter"] > stopped_at, what="production to resume")
                assert [c[1] for c in floor.commands] == ["lock", "unlock", "unlock"]

    run(body())


def test_command_topic_holds_the_latest_command_as_retained_json(mosquitto: MosquittoBroker) -> None:
    async def body() -> None:
        async with MqttCommander(mosquitto.host, mosquitto.port) as commander:
            await commander.send("press-01", "lock", 255, "suspended")
            await commander.send("press-01", "unlock", 256, "resumed")
        received: list[mqtt.MQTTMessage] = []
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="retained-check")
        client.on_message = lambda c, u, m: received.append(m)
        client.connect(mosquitto.host, mosquitto.port)
        client.subscribe(command_topic(DEFAULT_PREFIX, "press-01"), qos=1)
        client.loop_start()
        try:
            await eventually(lambda: len(received) == 1, what="the retained command")
        finally:
            close_raw(client)
        message = received[0]
        assert message.retain
        body_ = json.loads(message.payload)
        assert body_["command"] == "unlock" and body_["leaseId"] == "0x100" and body_["reason"] == "resumed"
        assert abs(body_["issuedAt"] - time.time()) < 5

    run(body())


def test_commander_raises_when_no_broker_acknowledges() -> None:
    async def body() -> None:
        commander = MqttCommander("127.0.0.1", free_port(), timeout=0.5)
        try:
            with pytest.raises(CommandDeliveryError, match="no connection to the broker"):
                await commander.send("press-01", "lock", 1, "test")
        finally:
            await commander.close()

    run(body())


# --- OPC UA --------------------------------------------------------------------------------------------


def ua_client(endpoint: str) -> Client:
    client = Client(endpoint)
    client.session_timeout = 60_000  # what the server grants anyway; asyncua's default hour draws a warning
    return client


async def read_counter(server: OpcUaMachineServer) -> int:
    async with ua_client(server.endpoint) as client:
        value: int = await client.get_node(server.counter_node).read_value()
        return value


@pytest.mark.parametrize("mode", ["subscription", "polling"])
def test_opcua_source_reads_the_machines_counters(opcua_machine: OpcUaMachineServer, mode: str) -> None:
    async def body() -> None:
        source = OpcUaSource(opcua_machine.endpoint, "press-01", opcua_machine.counter_node,
                             opcua_machine.runtime_node, mode=mode, interval=0.1)  # type: ignore[arg-type]
        sink = Collector()
        async with running(source, sink):
            await eventually(lambda: len(sink.items) >= 4, what="four readings")
        readings = sink.of("press-01")
        assert {t.machine for t in sink.items} == {"press-01"}
        counters = [r["counter"] for r in readings]
        assert counters == sorted(counters) and counters[-1] > counters[0] >= 1_000
        assert all(isinstance(r["runtime"], int) for r in readings)
        assert all(abs(r["timestamp"] - time.time()) < 5 for r in readings)  # the server's SourceTimestamp
        assert source.sessions == 1

    run(body())


def test_opcua_source_passes_an_unreadable_node_on_for_the_core_to_reject(
        opcua_machine: OpcUaMachineServer) -> None:
    async def body() -> None:
        source = OpcUaSource(opcua_machine.endpoint, "press-01", "ns=2;s=Machine.NoSuchCounter",
                             opcua_machine.runtime_node, mode="polling", interval=0.1)
        sink = Collector()
        async with running(source, sink):
            await eventually(lambda: len(sink.items) >= 2, what="readings")
        reading = sink.of("press-01")[0]
        assert reading["counter"] is None and isinstance(reading["runtime"], int)

    run(body())


class CuttableLink:
    """A TCP relay between the oracle and a machine whose cable we can pull and plug back in."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task[Any]] = set()

    async def plug(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def pull(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        if self._relays:
            await asyncio.wait(self._relays, timeout=5)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


def test_opcua_source_reconnects_after_the_link_to_the_machine_drops(opcua_machine: OpcUaMachineServer) -> None:
    async def body() -> None:
        link = CuttableLink(opcua_machine.port)
        await link.plug()
        endpoint = f"opc.tcp://127.0.0.1:{link.port}/millchain/machine"
        source = OpcUaSource(endpoint, "press-01", opcua_machine.counter_node, opcua_machine.runtime_node,
                             mode="subscription", interval=0.1, watchdog_interval=0.5, reconnect_delay=(0.2, 1.0))
        sink = Collector()
        try:
            async with running(source, sink) as task:
                await eventually(lambda: len(sink.items) >= 1, what="a reading")
                await link.pull()
                await eventually(lambda: not source.connected, timeout=10, what="the loss to be noticed")
                await asyncio.sleep(0.5)  # a few failed reconnection attempts
                await link.plug()
                replugged = time.time()
                await eventually(lambda: source.sessions >= 2, timeout=10, what="a new session")
                await eventually(lambda: sink.items[-1].received_at > replugged, timeout=10,
                                 what="readings after the reconnection")
                assert not task.done()
        finally:
            await link.pull()
        counters = [r["counter"] for r in sink.of("press-01")]
        assert counters == sorted(counters)

    run(body(), timeout=30)


@pytest.mark.parametrize("via", ["locked_node", "methods"])
def test_opcua_commander_locks_the_machine_and_unlock_resumes_it(opcua_machine: OpcUaMachineServer,
                                                                via: str) -> None:
    server = opcua_machine
    if via == "locked_node":
        commander = OpcUaCommander(server.endpoint, "press-01", locked_node=server.locked_node)
    else:
        commander = OpcUaCommander(server.endpoint, "press-01", object_node=server.object_node,
                                   lock_method=server.lock_method, unlock_method=server.unlock_method)

    async def body() -> None:
        await commander.send("press-01", "lock", 3, "lease suspended")
        await commander.send("press-01", "lock", 3, "lease suspended")  # idempotent
        assert server.machine.locked
        await asyncio.sleep(0.15)  # one refresh to publish the last count
        stopped_at = await read_counter(server)
        await asyncio.sleep(0.4)
        assert await read_counter(server) == stopped_at
        async with ua_client(server.endpoint) as client:
            assert await client.get_node(server.locked_node).read_value() is True

        await commander.send("press-01", "unlock", 3, "lease resumed")
        assert not server.machine.locked
        await asyncio.sleep(0.4)
        assert await read_counter(server) > stopped_at

    run(body())


def test_opcua_commander_refuses_another_machine_and_an_unreachable_server() -> None:
    async def body() -> None:
        commander = OpcUaCommander(f"opc.tcp://127.0.0.1:{free_port()}/", "press-01",
                                   locked_node="ns=2;s=Machine.Locked", timeout=1.0)
        with pytest.raises(CommandDeliveryError, match="drives 'press-01'"):
            await commander.send("press-02", "lock", 1, "x")
        with pytest.raises(CommandDeliveryError, match="press-01"):
            await commander.send("press-01", "lock", 1, "x")
        router = CommandRouter({"press-01": commander})
        with pytest.raises(CommandDeliveryError, match="no commander"):
            await router.send("press-09", "lock", 1, "x")
        await router.close()

    run(body())


def test_locked_written_by_an_opcua_client_stops_the_model_at_once(opcua_machine: OpcUaMachineServer) -> None:
    async def body() -> None:
        async with ua_client(opcua_machine.endpoint) as client:
            await client.get_node(opcua_machine.locked_node).write_value(ua.Variant(True, ua.VariantType.Boolean))
            assert opcua_machine.machine.locked
            await client.get_node(opcua_machine.locked_node).write_value(ua.Variant(False, ua.VariantType.Boolean))
            assert not opcua_machine.machine.locked

    run(body())


# --- simulator -----------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_simulated_counters_are_monotone_and_near_the_rated_speed() -> None:
    clock = FakeClock()
    machine = SimulatedMachine("press-01", rate_per_hour=3_600, jitter=0.3, clock=clock)
    previous = machine.reading()
    for step in [0.1, 0.5, 1.0, 7.3, 0.0, 2.2] * 200:
        clock.now += step
        current = machine.reading()
        assert current["counter"] >= previous["counter"] and current["runtime"] >= previous["runtime"]
        previous = current
    elapsed = clock.now - 1_700_000_000.0
    assert previous["runtime"] == int(elapsed)
    assert 0.85 * elapsed <= previous["counter"] <= 1.15 * elapsed  # 1 unit/s ± jitter, averaged
    assert previous["timestamp"] == int(clock.now)


def test_simulated_machines_are_reproducible_per_name() -> None:
    def run_of(name: str) -> list[int]:
        clock = FakeClock()
        machine = SimulatedMachine(name, rate_per_hour=36_000, jitter=0.5, clock=clock)
        out = []
        for _ in range(50):
            clock.now += 0.37
            out.append(machine.reading()["counter"])
        return out

    assert run_of("press-01") == run_of("press-01")
    assert run_of("press-01") != run_of("press-02")


def test_no_production_or_runtime_while_locked_and_reset_sends_the_counter_to_zero() -> None:
    clock = FakeClock()
    machine = SimulatedMachine("press-01", rate_per_hour=36_000, jitter=0.0, clock=clock)
    clock.now += 10
    assert machine.reading() == {"counter": 100, "runtime": 10, "timestamp": int(clock.now)}
    machine.lock()
    clock.now += 3600
    locked = machine.reading()
    assert (locked["counter"], locked["runtime"]) == (100, 10)
    machine.unlock()
    clock.now += 5
    assert (machine.reading()["counter"], machine.reading()["runtime"]) == (150, 15)
    machine.reset_counter()
    assert machine.reading()["counter"] == 0


def test_simulator_source_emits_a_thousand_machines_in_well_under_a_second_per_tick() -> None:
    machines = [SimulatedMachine(f"m-{i:04d}", rate_per_hour=1_000 + i) for i in range(1_000)]
    source = SimulatorSource(machines, interval=1.0)

    async def body() -> None:
        sink = Collector()
        await source.tick(sink)
        await source.tick(sink)
        assert len(sink.items) == 2_000
        assert len({t.machine for t in sink.items}) == 1_000
        assert source.last_tick_seconds < 0.25, source.last_tick_seconds

    run(body())


def test_simulator_source_ticks_every_interval_and_obeys_its_commander() -> None:
    machines = [SimulatedMachine("press-01", FAST), SimulatedMachine("press-02", FAST)]
    source = SimulatorSource(machines, interval=0.05)
    commander = SimulatorCommander(machines)

    async def body() -> None:
        sink = Collector()
        async with running(source, sink):
            await eventually(lambda: source.ticks >= 4, what="four ticks")
            await commander.send("press-01", "lock", 1, "suspended")
            locked_at = machines[0].counter
            await asyncio.sleep(0.3)
        assert machines[0].locked and machines[0].counter == locked_at
        assert machines[1].counter > locked_at or machines[1].counter > 0
        assert {t.machine for t in sink.items} == {"press-01", "press-02"}
        with pytest.raises(CommandDeliveryError):
            await commander.send("press-09", "lock", 1, "x")

    run(body())


def test_simulator_source_signs_for_machines_that_sign_their_own_reports() -> None:
    hasher = UsageReportHasher(lease_domain(31337, "0x" + "22" * 20))
    device = DeviceSigner(bytes.fromhex("07" * 32), hasher)
    machines = [SimulatedMachine("press-01", FAST), SimulatedMachine("press-02", FAST)]
    source = SimulatorSource(machines, signer_factory=lambda m: ReportSigner(device, 5, machine_id(m.name))
                             if m.name == "press-01" else None)

    async def body() -> None:
        sink = Collector()
        await source.tick(sink)
        signed, plain = sink.of("press-01")[0], sink.of("press-02")[0]
        assert signed["leaseId"] == "0x5" and set(signed["signature"]) == {"r", "vs"}
        assert set(plain) == {"counter", "runtime", "timestamp"}

    run(body())


def test_mqtt_floor_serves_many_machines_on_one_connection(mosquitto: MosquittoBroker) -> None:
    machines = [SimulatedMachine(f"cell-{i:03d}", FAST) for i in range(200)]

    async def body() -> None:
        source = MqttSource(mosquitto.host, mosquitto.port, machines=[m.name for m in machines])
        sink = Collector()
        with MqttFloor(machines, mosquitto.host, mosquitto.port, interval=None) as floor:
            async with running(source, sink):
                await eventually(lambda: source.connected and floor.connected, what="connections")
                await asyncio.sleep(0.1)
                assert floor.publish_now() == 200
                await eventually(lambda: len(sink.items) == 200, what="200 readings")
                async with MqttCommander(mosquitto.host, mosquitto.port) as commander:
                    await commander.send("cell-042", "lock", 9, "suspended")
                await eventually(lambda: machines[42].locked, what="cell-042 to lock")
        assert {t.machine for t in sink.items} == {m.name for m in machines}
        assert [m.name for m in machines if m.locked] == ["cell-042"]

    run(body())
