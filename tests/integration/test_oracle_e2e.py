"""End to end with real parts: simulated machines -> Mosquitto (or an OPC UA server) -> oracle -> anvil ->
lease balances, lock published when escrow runs out, unlock after a top-up; the oracle killed with SIGKILL
20+ times while machines keep counting; anvil stopped for 30 s. Billing must come out exact every time."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from millchain.chain import connect
from millchain.leasing import LeaseClient, LeaseStatus
from millchain.node import AnvilNode
from millchain.project import Project
from millchain.session import Session
from oracle.config import OpcUaSettings, OracleSettings
from oracle.service import OracleService
from oracle.sources.simulator import MqttFloor, OpcUaMachineServer, SimulatedMachine
from oracle.wiring import build_adapters
from tests.oracle_fixtures import MosquittoBroker
from tests.oracle_floor import DEVICE_PASSWORD, Floor, build_floor

pytestmark = pytest.mark.integration

PRICE = 10_000  # 0.01 mUSD per unit


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def end_shift(machines: list[SimulatedMachine]) -> dict[str, int]:
    """The machines stop producing but keep reporting: their counters are final."""
    for machine in machines:
        machine.rate_per_hour = 0
    time.sleep(0.5)  # what was produced up to now is in the counters now
    return {m.name: m.reading()["counter"] for m in machines}


def billed_units(floor: Floor, name: str) -> int:
    statement = LeaseClient(floor.session).statement(floor.leases[name])
    return statement.total_units


def anchor_counter(floor: Floor, name: str) -> int:
    return LeaseClient(floor.session).statement(floor.leases[name]).lines[0].counter


class BackgroundOracle:
    """The oracle service with its real adapters, on an event loop in a thread of the test process."""

    def __init__(self, settings: OracleSettings) -> None:
        self.settings = settings
        self.service: OracleService | None = None
        self.loop = asyncio.new_event_loop()
        self.result: int | None = None
        self.error: BaseException | None = None

    async def _main(self) -> None:
        sources, commanders = build_adapters(self.settings)
        self.service = OracleService(self.settings, sources=sources, commanders=commanders)
        self.result = await self.service.run()

    def __enter__(self) -> BackgroundOracle:
        def target() -> None:
            try:
                self.loop.run_until_complete(self._main())
            except BaseException as exc:  # surfaced by the test thread
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        wait_for(lambda: self.service is not None or self.error is not None, 30, "the oracle to start")
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc: object) -> None:
        if self.service is not None:
            self.loop.call_soon_threadsafe(self.service.stop)
        self.thread.join(60)
        self.loop.close()
        assert self.error is None, self.error
        assert self.result == 0


@pytest.fixture
def device_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORACLE_DEVICE_PASSWORD", DEVICE_PASSWORD)


def test_mqtt_machines_are_billed_locked_when_dry_and_unlocked_after_top_up(
    anvil_session: Session, anvil: AnvilNode, mosquitto: MosquittoBroker, tmp_path: Path,
    device_password: None,
) -> None:
    floor = build_floor(anvil_session, tmp_path, 2, escrow=60 * PRICE, max_rate_per_hour=400_000, price_per_unit=PRICE)
    machines = [SimulatedMachine(name, rate_per_hour=72_000, jitter=0.1, seed=i) for i, name in enumerate(floor.leases)]
    dry, other = list(floor.leases)
    floor.top_up(other, 10_000 * PRICE)  # only `dry` runs out
    settings = floor.settings(tmp_path, anvil.url, mqtt={"host": mosquitto.host, "port": mosquitto.port})
    with MqttFloor(machines, mosquitto.host, mosquitto.port, interval=0.2) as shop, BackgroundOracle(settings):
        wait_for(lambda: floor.lease_state(dry).status is LeaseStatus.SUSPENDED, 60, "the dry lease to suspend")
        wait_for(lambda: machines[0].locked, 30, "the lock command to reach the machine")
        assert ("lock" in [c[1] for c in shop.commands if c[0] == dry])
        assert not machines[1].locked
        locked_at = machines[0].counter
        time.sleep(1.0)
        assert machines[0].counter == locked_at  # a locked machine produces nothing

        floor.top_up(dry, 10_000 * PRICE)
        wait_for(lambda: not machines[0].locked, 30, "the unlock command after the top-up")
        wait_for(lambda: machines[0].counter > locked_at + 20, 30, "production to resume")

        finals = end_shift(machines)
        wait_for(lambda: all(floor.lease_state(n).last_counter == c for n, c in finals.items()), 60,
                 "the final counters to settle")
    for name, final in finals.items():
        assert billed_units(floor, name) == final - anchor_counter(floor, name)
        lease = floor.lease_state(name)
        assert (lease.earnings, lease.debt) == (billed_units(floor, name) * PRICE, 0)


def test_opcua_machine_is_billed_and_locked_through_its_server(
    anvil_session: Session, anvil: AnvilNode, opcua_machine: OpcUaMachineServer, tmp_path: Path,
    device_password: None,
) -> None:
    session = anvil_session
    floor = build_floor(session, tmp_path, 1, escrow=80 * PRICE, max_rate_per_hour=400_000, price_per_unit=PRICE)
    [name] = floor.leases
    # The fixture's machine is called press-01; the floor's lease is for `name`: map the server to it.
    opc = OpcUaSettings(endpoint=opcua_machine.endpoint, counter_node=opcua_machine.counter_node,
                        runtime_node=opcua_machine.runtime_node, locked_node=opcua_machine.locked_node,
                        mode="polling", interval_s=0.2)
    settings = floor.settings(tmp_path, anvil.url, machine_fields={name: {"source": "opcua", "opcua": opc}})
    with BackgroundOracle(settings):
        wait_for(lambda: floor.lease_state(name).status is LeaseStatus.SUSPENDED, 60, "escrow to run out")
        wait_for(lambda: opcua_machine.machine.locked, 30, "the OPC UA machine to be locked")
        locked_at = opcua_machine.machine.counter
        time.sleep(1.0)
        assert opcua_machine.machine.counter == locked_at
        floor.top_up(name, 10_000 * PRICE)
        wait_for(lambda: not opcua_machine.machine.locked, 30, "the unlock after the top-up")
        wait_for(lambda: floor.lease_state(name).last_counter > locked_at, 30, "billing to resume")


def _start_oracle(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ORACLE_DEVICE_PASSWORD": DEVICE_PASSWORD}
    with open(log, "ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "oracle", "--config", str(config), "--log-level", "WARNING"],
                                env=env, stdout=handle, stderr=handle)


def test_sigkill_at_random_moments_loses_nothing_and_bills_nothing_twice(
    compiled: Project, anvil_session: Session, anvil: AnvilNode, mosquitto: MosquittoBroker,
    tmp_path: Path,
) -> None:
    floor = build_floor(anvil_session, tmp_path, 3, max_rate_per_hour=400_000)
    machines = [SimulatedMachine(name, rate_per_hour=36_000, jitter=0.2, seed=i) for i, name in enumerate(floor.leases)]
    config = floor.write_config(tmp_path / "oracle.toml", anvil.url, mqtt_port=mosquitto.port)
    log = tmp_path / "oracle.log"
    rng = random.Random(20261129)
    kills = 0
    with MqttFloor(machines, mosquitto.host, mosquitto.port, interval=0.1):
        process = _start_oracle(config, log)
        while kills < 22:
            time.sleep(rng.uniform(0.2, 2.5))  # the oracle may be starting, intaking, mid-batch or waiting
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            process = _start_oracle(config, log)
        finals = end_shift(machines)
        try:
            wait_for(lambda: all(floor.lease_state(n).last_counter == c for n, c in finals.items()), 90,
                     "the final counters to settle after the last restart")
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, log.read_text()[-3000:]
    assert kills >= 20
    for name, final in finals.items():
        assert billed_units(floor, name) == final - anchor_counter(floor, name), name
        assert floor.lease_state(name).earnings == (final - anchor_counter(floor, name)) * floor_price(floor, name)


def floor_price(floor: Floor, name: str) -> int:
    return floor.lease_state(name).terms.price_per_unit


def test_chain_outage_of_30_seconds_is_caught_up_without_loss(
    compiled: Project, mosquitto: MosquittoBroker, tmp_path: Path, device_password: None,
) -> None:
    state = tmp_path / "anvil-state.json"
    node = AnvilNode(compiled, state=state).start()
    port = node.port
    try:
        session = Session(connect("anvil", rpc_url=node.url), project=compiled,
                          deployments_dir=tmp_path / "deployments")
        floor = build_floor(session, tmp_path, 2, max_rate_per_hour=400_000)
        machines = [SimulatedMachine(name, rate_per_hour=36_000, seed=i) for i, name in enumerate(floor.leases)]
        settings = floor.settings(tmp_path, node.url, mqtt={"host": mosquitto.host, "port": mosquitto.port},
                                  max_clock_skew_s=600)
        with MqttFloor(machines, mosquitto.host, mosquitto.port, interval=0.2), BackgroundOracle(settings):
            wait_for(lambda: all(floor.lease_state(n).last_counter > 0 for n in floor.leases), 60, "first settlements")
            time.sleep(1.5)  # let anvil's interval dump include the latest blocks
            node.stop()
            outage_started = {m.name: m.counter for m in machines}
            time.sleep(30)
            node = AnvilNode(compiled, port=port, state=state).start()
            assert all(m.counter > outage_started[m.name] for m in machines)  # the machines kept counting
            finals = end_shift(machines)
            wait_for(lambda: all(floor.lease_state(n).last_counter == c for n, c in finals.items()), 90,
                     "the oracle to catch up after the outage")
        for name, final in finals.items():
            assert billed_units(floor, name) == final - anchor_counter(floor, name)
    finally:
        node.stop()
