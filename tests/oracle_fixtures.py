"""Fixtures for the oracle's protocol adapters: a real Mosquitto broker and a real OPC UA machine server,
each on a free port on 127.0.0.1, stopped after use. Import the fixtures into a conftest
(``from tests.oracle_fixtures import mosquitto, opcua_machine  # noqa: F401``), or build others on
:func:`running_mosquitto` / :func:`shared_opcua_machine`.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from millchain.localserver import LocalServer
from millchain.node import free_port
from oracle.sources.simulator import OpcUaMachineServer, SimulatedMachine

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_CANDIDATES if Path(p).is_file()), None)


class MosquittoBroker(LocalServer):
    """A mosquitto process on ``host:port``, configured from a file in ``workdir`` (no persistence,
    anonymous access, loopback only). :meth:`restart` keeps the port, for reconnection tests."""

    name = "mosquitto"
    start_timeout = 10.0

    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        super().__init__(port or free_port())
        self.binary = binary
        self.workdir = workdir
        self.host = "127.0.0.1"

    @property
    def config(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log(self) -> Path:
        return self.workdir / "mosquitto.log"

    def command(self) -> list[str]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence false\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            # A flood test publishes thousands of QoS 1 messages at once: don't let the broker be the limit.
            "max_queued_messages 100000\n"
        )
        return [self.binary, "-c", str(self.config)]

    def diagnostics(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def restart(self, downtime: float = 0.0) -> None:
        self.stop()
        time.sleep(downtime)
        self.start()


@contextlib.contextmanager
def running_mosquitto(workdir: Path) -> Iterator[MosquittoBroker]:
    """A started broker, stopped on exit. A missing mosquitto fails the test: `scripts/dev test` installs it,
    and a skipped end-to-end test would hide the missing step."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("mosquitto is not installed (Debian package `mosquitto`; `scripts/dev test` installs it)")
    broker = MosquittoBroker(binary, workdir).start()
    try:
        yield broker
    finally:
        broker.stop()


_OPCUA_SERVER = pytest.StashKey[OpcUaMachineServer]()


@contextlib.contextmanager
def shared_opcua_machine(config: pytest.Config) -> Iterator[OpcUaMachineServer]:
    """The session's OPC UA machine server (started on first use, stopped when pytest ends), with the
    machine unlocked before and after the caller uses it.

    Building an asyncua address space takes seconds, so one server serves the whole session.
    """
    server = config.stash.get(_OPCUA_SERVER, None)
    if server is None or not server.serving_in_background:
        machine = SimulatedMachine("press-01", rate_per_hour=36_000, jitter=0.1, start_counter=1_000)
        server = OpcUaMachineServer(machine, free_port(), interval=0.05).start_background()
        config.stash[_OPCUA_SERVER] = server
        config.add_cleanup(server.stop_background)
    _unlock(server)
    try:
        yield server
    finally:
        _unlock(server)


def _unlock(server: OpcUaMachineServer) -> None:
    server.machine.unlock()
    server.run_in_background(server.refresh())  # the Locked node follows the model before the test reads it


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A real Mosquitto broker on a free port (``.host``, ``.port``), stopped after the test."""
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture
def opcua_machine(request: pytest.FixtureRequest) -> Iterator[OpcUaMachineServer]:
    """A simulated machine ("press-01", ~10 units/s, unlocked) behind a real asyncua OPC UA server on a
    free port, served from its own thread: ``.machine`` is the model; ``.endpoint``, ``.counter_node``,
    ``.runtime_node``, ``.locked_node``, ``.object_node``, ``.lock_method``, ``.unlock_method`` say where
    to connect. Shared by the session (see :func:`shared_opcua_machine`)."""
    with shared_opcua_machine(request.config) as server:
        yield server
