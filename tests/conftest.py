"""Shared fixtures: the compiled project, an embedded chain with the suite deployed (isolated per test by
snapshots), and real anvil nodes on free ports for integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from millchain.chain import connect
from millchain.compiler import compile_project
from millchain.node import AnvilNode
from millchain.project import Project, find_project
from millchain.session import Session
from tests.oracle_fixtures import mosquitto, opcua_machine  # noqa: F401 - fixtures shared by oracle tests

ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile once before any test runs. Under pytest-xdist this runs in the controller only, so the workers
    find a warm cache instead of racing to write the same build/ files."""
    if not hasattr(session.config, "workerinput"):
        compile_project(find_project(ROOT))


@pytest.fixture(scope="session")
def project() -> Project:
    return find_project(ROOT)


@pytest.fixture(scope="session")
def compiled(project: Project) -> Project:
    compile_project(project)
    return project


@pytest.fixture(scope="session")
def _deployed_local(compiled: Project) -> Session:
    session = Session(connect("local"), project=compiled)
    session.deploy()
    return session


@pytest.fixture
def local(_deployed_local: Session) -> Iterator[Session]:
    """The embedded chain with the suite deployed; every change a test makes is rolled back after it."""
    tester = _deployed_local.chain.tester
    # A fresh block first: the snapshot's clock starts at the wall clock, so tests that move time relative to
    # the latest block never ask eth-tester to travel behind its pending block (which follows the wall clock).
    tester.mine_blocks(1)
    snapshot = tester.take_snapshot()
    yield _deployed_local
    tester.revert_to_snapshot(snapshot)


@pytest.fixture
def anvil(project: Project, tmp_path: Path) -> Iterator[AnvilNode]:
    """A fresh anvil on a free port, stopped after the test."""
    node = AnvilNode(project, state=tmp_path / "anvil-state.json").start()
    yield node
    node.stop()


@pytest.fixture
def anvil_session(compiled: Project, anvil: AnvilNode, tmp_path: Path) -> Session:
    """A session on that anvil, recording deployments under the test's tmp dir."""
    return Session(connect("anvil", rpc_url=anvil.url), project=compiled, deployments_dir=tmp_path / "deployments")
