"""Fixtures for the EquipmentLease tests: the lease is deployed once per session on top of the suite, a snapshot
is taken, and each test runs inside the ``local`` fixture's snapshot so everything it does is rolled back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from millchain.session import Session
from tests.contracts.lease_helpers import DAY, LeaseHarness, LeaseSuite, deploy_lease_suite


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
