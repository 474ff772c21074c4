"""Fixtures for the contract tests. EquipmentLease: the lease is deployed once per session on top of the suite, a
snapshot is taken, and each test runs inside the ``local`` fixture's snapshot. Quality (``q``) and settlement
(``w``): each cast is built once on a chain of its own and every test's changes are rolled back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from millchain.project import Project
from millchain.session import Session
from tests.contracts.lease_helpers import DAY, LeaseHarness, LeaseSuite, deploy_lease_suite
from tests.contracts.test_quality_scenario import World as QualityWorld
from tests.contracts.test_quality_scenario import shared_world as quality_world
from tests.contracts.test_settlement_scenario import World as SettlementWorld
from tests.contracts.test_settlement_scenario import shared_world as settlement_world
from tests.shared_chain import isolated


@pytest.fixture(scope="session")
def _lease_suite(_deployed_local: Session) -> LeaseSuite:
    # Session-scoped fixtures are set up before any test's function-scoped ``local`` snapshot, so this
    # deployment is part of the state every later test starts from.
    suite = deploy_lease_suite(_deployed_local)
    tester = _deployed_local.chain.tester
    assert tester is not None
    suite.snapshot = tester.take_snapshot()
    return suite


@pytest.fixture(scope="module")
def _fresh_head_after_module(_lease_suite: LeaseSuite) -> Iterator[None]:
    """Used by every lease test module. Its tests revert, again and again, to the head mined when the lease
    suite was deployed, and they run for minutes; tests elsewhere stamp blocks relative to the head's time
    (``latest + 50``), which must not be behind the wall clock by more than that. Leave a fresh empty block."""
    yield
    tester = _lease_suite.session.chain.tester
    assert tester is not None
    tester.mine_blocks()


@pytest.fixture
def h(_lease_suite: LeaseSuite, local: Session) -> LeaseHarness:
    """The lease suite on the embedded chain, rolled back after the test."""
    assert local is _lease_suite.session
    harness = LeaseHarness(_lease_suite)
    # Run ahead of the wall clock, so every block is its parent + 1 s and ``at=`` never lands in the past.
    harness.next_block_at(harness.now() + DAY)
    return harness


@pytest.fixture
def q(compiled: Project) -> Iterator[QualityWorld]:
    """The quality cast (organisations, inspectors, a bond) on its shared chain, rolled back after the test."""
    with isolated(quality_world(compiled)) as world:
        yield world


@pytest.fixture
def w(compiled: Project) -> Iterator[SettlementWorld]:
    """The settlement cast (buyer, supplier, carrier, tax platform) on its shared chain, rolled back after."""
    with isolated(settlement_world(compiled)) as world:
        yield world
