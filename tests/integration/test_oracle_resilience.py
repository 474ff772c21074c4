"""The oracle against failing parts, each a real process: a node that is down at start or hangs (SIGSTOP), a
broker that goes away, readings published while the oracle is down, a flood of bad signatures."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from millchain.chain import connect
from millchain.node import AnvilNode
from millchain.project import Project
from millchain.session import Session
from oracle.config import OracleSettings
from oracle.outbox import Outbox
from oracle.service import OracleService
from oracle.sources import Emit, Telemetry
from oracle.sources.mqtt import telemetry_topic
from oracle.status import collect
from oracle.wiring import build_adapters
from tests.integration.test_oracle_core_anvil import msg, run_service, settled
from tests.oracle_fixtures import MosquittoBroker
from tests.oracle_floor import DEVICE_PASSWORD, RELAYER, Floor, build_floor

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def device_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORACLE_DEVICE_PASSWORD", DEVICE_PASSWORD)


class QueueSource:
    """A source the test feeds while the service runs."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Telemetry] = asyncio.Queue()

    async def run(self, emit: Emit) -> None:
        while True:
            await emit(await self.queue.get())


class Running:
    """The service on its own event loop in a thread, so the test can stop processes under it."""

    def __init__(self, settings: OracleSettings, *, real_adapters: bool = False) -> None:
        self.settings = settings
        self.source = QueueSource()
        self.real_adapters = real_adapters
        self.loop = asyncio.new_event_loop()
        self.service: OracleService | None = None
        self.error: BaseException | None = None

    def __enter__(self) -> Running:
        import threading

        async def main() -> None:
            if self.real_adapters:
                sources, commanders = build_adapters(self.settings)
                self.service = OracleService(self.settings, sources=sources, commanders=commanders)
            else:
                self.service = OracleService(self.settings, sources=[self.source])
            await self.service.run()

        def target() -> None:
            try:
                self.loop.run_until_complete(main())
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        wait_for(lambda: self.service is not None or self.error is not None, 30, "the oracle to start")
        assert self.error is None, self.error
        return self

    def feed(self, *items: Telemetry) -> None:
        for item in items:
            self.loop.call_soon_threadsafe(self.source.queue.put_nowait, item)

    def health(self) -> dict[str, object]:
        assert self.service is not None
        return self.service.metrics.health()

    def __exit__(self, *exc: object) -> None:
        if self.service is not None:
            self.loop.call_soon_threadsafe(self.service.stop)
        self.thread.join(60)
        self.loop.close()
        assert self.error is None, self.error


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took; fails the test after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def own_node(compiled: Project, tmp_path: Path) -> Iterator[AnvilNode]:
    """An anvil this test may stop and start again on the same port, keeping its state."""
    node = AnvilNode(compiled, state=tmp_path / "anvil-state.json").start()
    try:
        yield node
    finally:
        node.stop()


def test_the_oracle_starts_while_the_node_is_down_and_settles_when_it_returns(
    compiled: Project, own_node: AnvilNode, tmp_path: Path
) -> None:
    # Defect 9: it used to exit 1 with a hint to run `millchain node`.
    session = Session(
        connect("anvil", rpc_url=own_node.url), project=compiled, deployments_dir=tmp_path / "deployments"
    )
    floor = build_floor(session, tmp_path, 2)
    settings = floor.settings(tmp_path, own_node.url)
    t0 = max(int(floor.lease_state(n).last_timestamp) for n in floor.leases) + 1
    run_service(settings, [msg(n, 100, 10, t0) for n in floor.leases], settled(floor, dict.fromkeys(floor.leases, 100)))
    time.sleep(1.5)  # anvil dumps its state every second: the anchors are in it
    own_node.stop()
    with Running(settings) as oracle:
        oracle.feed(*[msg(n, 120, 12, t0 + 2) for n in floor.leases])
        wait_for(lambda: Outbox(settings.outbox).depth() == 2, 10, "the readings to be ingested with the node down")
        health = oracle.health()
        assert (health["status"], health["chain_reachable"]) == ("degraded", False)
        revived = AnvilNode(compiled, port=own_node.port, state=own_node.state).start()
        try:
            wait_for(
                lambda: all(floor.lease_state(n).last_counter == 120 for n in floor.leases),
                30,
                "settlement once the node is back",
            )
            wait_for(lambda: oracle.health()["chain_reachable"] is True, 5, "chain_reachable again")
        finally:
            revived.stop()


def test_a_hung_node_shows_within_seconds_and_bad_signatures_never_stall_the_intake(
    floor3: Floor, anvil: AnvilNode, tmp_path: Path
) -> None:
    # Defects 10 and 5: SIGSTOP on the node was invisible for ~30 s, and one bad signature froze intake for every
    # machine behind a blocking registry lookup.
    gateway, device, _ = floor3.leases
    settings = floor3.settings(tmp_path, anvil.url, machine_fields={device: {"signing": "device"}})
    t0 = max(int(floor3.lease_state(n).last_timestamp) for n in floor3.leases) + 1
    assert anvil.process is not None
    with Running(settings) as oracle:
        oracle.feed(msg(gateway, 100, 10, t0))
        wait_for(lambda: floor3.lease_state(gateway).last_counter == 100, 20, "the first settlement")
        anvil.process.send_signal(signal.SIGSTOP)
        try:
            took = wait_for(lambda: oracle.health()["chain_reachable"] is False, 8, "the hung node to show")
            assert took < 6
            bad = json.dumps(
                {
                    "counter": 5,
                    "runtime": 1,
                    "timestamp": t0 + 1,
                    "signature": {"r": "0x" + "11" * 32, "vs": "0x" + "22" * 32},
                }
            ).encode()
            oracle.feed(*[Telemetry(device, bad, time.time()) for _ in range(500)])
            oracle.feed(msg(gateway, 110, 11, t0 + 1))
            box = Outbox(settings.outbox)
            took = wait_for(
                lambda: box.machine_state(gateway).last_counter == 110,
                5,
                "the good reading to reach the outbox with the node hung",
            )
            assert took < 2
        finally:
            anvil.process.send_signal(signal.SIGCONT)
        wait_for(lambda: floor3.lease_state(gateway).last_counter == 110, 30, "settlement after SIGCONT")
        assert oracle.service is not None
        rejected = {
            s.labels["reason"]: s.value
            for s in oracle.service.metrics.rejected.collect()[0].samples
            if s.name.endswith("_total")
        }
        assert rejected.get("bad_signature") == 500


@pytest.fixture
def floor3(anvil_session: Session, tmp_path: Path) -> Floor:
    return build_floor(anvil_session, tmp_path, 3)


def test_a_broker_outage_is_visible_and_the_oracle_reconnects_within_3_seconds(
    floor3: Floor, anvil: AnvilNode, mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    # Defect 10: a broker outage showed nowhere (/healthz 200, no metric) and reconnecting took 16-18 s.
    settings = floor3.settings(tmp_path, anvil.url, mqtt={"host": mosquitto.host, "port": mosquitto.port})
    with Running(settings, real_adapters=True) as oracle:
        assert oracle.service is not None
        source = oracle.service.sources[0]
        wait_for(lambda: oracle.health()["broker_connected"] is True, 10, "the broker connection")
        mosquitto.stop()
        wait_for(lambda: oracle.health()["broker_connected"] is False, 5, "the outage to show in /healthz")
        assert oracle.health()["status"] == "degraded"
        assert oracle.service.metrics.registry.get_sample_value("oracle_broker_connected") == 0
        time.sleep(5)  # long enough for a backoff to grow
        mosquitto.start()
        took = wait_for(lambda: bool(source.connected), 10, "the source to reconnect")  # type: ignore[attr-defined]
        assert took <= 3.0


def test_readings_published_while_the_oracle_is_down_are_settled_after_it_restarts(
    floor3: Floor, anvil: AnvilNode, mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    # Defect 8: a clean session with a random client id lost everything published during a restart.
    name = next(iter(floor3.leases))
    settings = floor3.settings(tmp_path, anvil.url, mqtt={"host": mosquitto.host, "port": mosquitto.port})
    t0 = int(floor3.lease_state(name).last_timestamp) + 1
    topic = telemetry_topic(settings.mqtt.topic_prefix, name)

    def send(counter: int, timestamp: int) -> None:
        body = json.dumps({"counter": counter, "runtime": timestamp - t0, "timestamp": timestamp})
        publish.single(topic, body, qos=1, hostname=mosquitto.host, port=mosquitto.port)

    def connected(oracle: Running) -> bool:
        return oracle.service is not None and bool(oracle.service.sources[0].connected)  # type: ignore[attr-defined]

    with Running(settings, real_adapters=True) as oracle:
        wait_for(lambda: connected(oracle), 10, "the broker connection")
        send(1000, t0)
        wait_for(lambda: floor3.lease_state(name).last_counter == 1000, 20, "the first settlement")
    send(1010, t0 + 1)  # the oracle is down: the broker keeps these for its session
    send(1020, t0 + 2)
    with Running(settings, real_adapters=True):
        wait_for(lambda: floor3.lease_state(name).last_counter == 1020, 20, "the readings sent while it was down")


def test_a_flood_of_unknown_machine_names_costs_one_log_line_and_bounded_memory(
    floor3: Floor, anvil: AnvilNode, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Defect 6: 20,000 unique 1 kB names wrote a warning each and kept a throttle entry each, for ever.
    service = OracleService(floor3.settings(tmp_path, anvil.url), sources=[])
    try:
        with caplog.at_level(logging.WARNING, logger="oracle.intake"):
            for chunk in range(20):
                service.ingest([Telemetry(f"{'n' * 1000}-{chunk}-{i}", b"{}", time.time()) for i in range(1000)])
        assert len([r for r in caplog.records if r.name == "oracle.intake"]) == 1
        assert len(service._throttle._last) <= service._throttle.max_keys
        assert (
            service.metrics.registry.get_sample_value("oracle_readings_rejected_total", {"reason": "unknown_machine"})
            == 20_000
        )
    finally:
        service.outbox.close()


def test_preflight_says_loudly_a_wrong_device_key_and_an_unfunded_relayer(
    floor3: Floor, anvil: AnvilNode, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Defect 12: both used to be logged at info level only, nowhere else.
    first, second, _ = floor3.leases
    settings = floor3.settings(tmp_path, anvil.url)
    machines = [
        m.model_copy(update={"device_keystore": floor3.keystores[second]}) if m.name == first else m
        for m in settings.machines
    ]  # first holds second's key: not its registered signer
    settings = settings.model_copy(update={"machines": machines})
    relayer = floor3.session.chain.account(RELAYER).address
    floor3.session.chain.w3.provider.make_request("anvil_setBalance", [relayer, "0x0"])  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="oracle.preflight"), Running(settings) as oracle:
        wait_for(lambda: bool(oracle.service and oracle.service.preflight), 15, "the preflight")
        checks = {f.check: f for f in oracle.service.preflight}  # type: ignore[union-attr]
        health = oracle.health()
    assert set(checks) >= {"device_key", "relayer_balance"}
    assert first in checks["device_key"].message and checks["device_key"].level == "error"
    assert checks["relayer_balance"].level == "error"
    assert health["status"] == "degraded" and any("device_key" in p for p in health["problems"])  # type: ignore[union-attr]
    assert {r.levelname for r in caplog.records if r.name == "oracle.preflight"} == {"ERROR"}
    stored = {f["check"] for f in collect(settings)["preflight"]}
    assert stored >= {"device_key", "relayer_balance"}


def test_hostile_payloads_on_a_machines_topic_are_refused_by_name_and_billing_goes_on(
    floor3: Floor, anvil: AnvilNode, mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    # Defects 1 and 11: a retained bracket bomb made the process exit with SIGSEGV on every start; a 5,000-digit
    # counter gave internal_error with a traceback.
    name = next(iter(floor3.leases))
    settings = floor3.settings(tmp_path, anvil.url, mqtt={"host": mosquitto.host, "port": mosquitto.port})
    topic = telemetry_topic(settings.mqtt.topic_prefix, name)
    t0 = int(floor3.lease_state(name).last_timestamp) + 1
    bomb = b"[" * 100_000 + b"]" * 100_000
    publish.single(topic, bomb, qos=1, retain=True, hostname=mosquitto.host, port=mosquitto.port)
    with Running(settings, real_adapters=True) as oracle:
        assert oracle.service is not None
        metrics = oracle.service.metrics.registry
        wait_for(lambda: oracle.health()["broker_connected"] is True, 10, "the subscription")
        for body in (
            b"[" * 500 + b"]" * 500,
            b'{"counter": ' + b"9" * 5_000 + b', "runtime": 1, "timestamp": 1}',
            b'{"counter": ' + b"9" * 100 + b', "runtime": 1, "timestamp": 1}',
            json.dumps({"counter": 1000, "runtime": 10, "timestamp": t0}).encode(),
        ):
            publish.single(topic, body, qos=1, hostname=mosquitto.host, port=mosquitto.port)
        wait_for(lambda: floor3.lease_state(name).last_counter == 1000, 20, "the good reading to settle")
        rejected = {
            s.labels["reason"]: s.value
            for s in oracle.service.metrics.rejected.collect()[0].samples
            if s.name.endswith("_total")
        }
        assert rejected == {"payload_too_large": 2, "too_deeply_nested": 1, "number_too_long": 1}
        assert metrics.get_sample_value("oracle_readings_rejected_total", {"reason": "internal_error"}) is None
