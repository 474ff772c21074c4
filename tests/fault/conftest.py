"""Fixtures of the fault-injection suite: a factory floor on a real anvil and a real Mosquitto (the shared
``anvil``, ``anvil_session`` and ``mosquitto`` fixtures of tests/conftest.py), an oracle.toml an operator would
write for it, the oracle as a child process and the machines as MQTT publishers the test controls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from millchain.node import AnvilNode, free_port
from millchain.session import Session
from tests.fault.harness import Devices, OracleProcess, write_oracle_config
from tests.oracle_fixtures import MosquittoBroker
from tests.oracle_floor import Floor, build_floor

pytestmark = pytest.mark.integration

FLOOR_MAX_RATE = 400_000
"""Each lease's rated maximum, units per hour (111/s): far above what the test machines make (≤ 30/s)."""


@dataclass
class Rig:
    """Everything one fault test acts on."""

    floor: Floor
    node: AnvilNode
    broker: MosquittoBroker
    oracle: OracleProcess
    devices: Devices
    workdir: Path

    @property
    def names(self) -> list[str]:
        return list(self.floor.leases)


def make_rig(
    session: Session,
    node: AnvilNode,
    broker: MosquittoBroker,
    workdir: Path,
    machines: int,
    *,
    device_signed: tuple[str, ...] = (),
    extra: dict[str, object] | None = None,
) -> Rig:
    floor = build_floor(session, workdir, machines, max_rate_per_hour=FLOOR_MAX_RATE)
    metrics_port = free_port()
    config = write_oracle_config(
        floor,
        workdir / "oracle.toml",
        rpc_url=node.url,
        mqtt_port=broker.port,
        metrics_port=metrics_port,
        device_signed=device_signed,
        extra=extra,
    )
    oracle = OracleProcess(config=config, log=workdir / "oracle.log", metrics_port=metrics_port)
    return Rig(floor=floor, node=node, broker=broker, oracle=oracle, devices=Devices(broker.port), workdir=workdir)


@pytest.fixture
def rig_factory(
    anvil_session: Session, anvil: AnvilNode, mosquitto: MosquittoBroker, tmp_path: Path
) -> Iterator[object]:
    """``rig_factory(machines, device_signed=(), extra={})`` -> a Rig (oracle not started yet); everything it
    started is stopped after the test, the oracle with SIGTERM (its exit code is the test's business)."""
    made: list[Rig] = []

    def factory(machines: int, **kwargs: object) -> Rig:
        rig = make_rig(anvil_session, anvil, mosquitto, tmp_path, machines, **kwargs)  # type: ignore[arg-type]
        made.append(rig)
        return rig

    yield factory
    for rig in made:
        if rig.oracle.alive():
            rig.oracle.terminate(15)
        rig.devices.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "anvil_args(*args): extra command-line arguments for this test's anvil")


@pytest.fixture
def anvil(compiled: object, project: object, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AnvilNode]:
    """The shared ``anvil`` fixture, with the test's ``anvil_args`` marker (e.g. ``--block-time 1`` so a batch
    stays in the mempool long enough to kill the oracle while it is in flight). Dumps its state every second
    (``--state``), so a restart on the same port restores the chain."""
    marker = request.node.get_closest_marker("anvil_args")
    node = AnvilNode(
        project,
        state=tmp_path / "anvil-state.json",  # type: ignore[arg-type]
        extra=list(marker.args) if marker else [],
    ).start()
    yield node
    node.stop()
