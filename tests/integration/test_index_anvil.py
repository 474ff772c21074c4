"""The event index on a real anvil, on SQLite and on PostgreSQL: reorgs (on restart and while following) and
hard kills leave it equal to an index rebuilt from scratch."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from millchain.chain import connect
from millchain.index.indexer import Indexer, RangeDone, Reorg, open_indexer
from millchain.index.queries import fleet, statement, status
from millchain.index.store import open_store
from millchain.leasing import LeaseClient
from millchain.node import AnvilNode
from millchain.project import Project
from millchain.session import Session
from tests.integration.index_support import PostgresServer, ReportingFleet, dump, postgres_server, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    yield from postgres_server()


@pytest.fixture(params=["sqlite", "postgres"])
def index_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """``make()``: a new empty index on the backend under test (a file, or a database of its own)."""

    def make() -> str:
        if request.param == "sqlite":
            return str(tmp_path / f"index-{uuid.uuid4().hex[:8]}.sqlite")
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.create_database(f"idx_{uuid.uuid4().hex[:12]}")

    yield make


@pytest.fixture
def reporting(compiled: Project, anvil: AnvilNode, tmp_path: Path) -> ReportingFleet:
    session = Session(connect("anvil", rpc_url=anvil.url), project=compiled, deployments_dir=tmp_path / "deployments")
    session.deploy()
    fleet_ = ReportingFleet.lease(session, 3)
    for _ in range(3):
        fleet_.report()
    return fleet_


def rebuilt(session: Session, target: str) -> dict[str, Any]:
    with open_store(target) as store:
        open_indexer(session, store).backfill()
        return dump(store)


def rpc(session: Session, method: str, *params: Any) -> Any:
    answer = session.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def test_backfill_stores_every_report_with_its_block_hash_and_statement_matches_the_chain(
    reporting: ReportingFleet, index_db: Any
) -> None:
    session = reporting.session
    with open_store(index_db()) as store:
        written = open_indexer(session, store).backfill()
        assert written > 0
        client = LeaseClient(session)
        for machine in reporting.machines:
            from_chain = client.statement(machine.lease_id)
            from_index = statement(store, client.get(machine.lease_id))
            assert from_index == from_chain
            assert from_index.total_units == reporting.counters[machine.name] - 7  # the first report anchors
        for block_number, block_hash in store.query("SELECT block_number, block_hash FROM usage"):
            assert bytes(block_hash) == bytes(session.chain.w3.eth.get_block(int(block_number))["hash"])
        rows = fleet(store, day_start=0)
        assert sorted(r.last_counter or 0 for r in rows) == sorted(reporting.counters.values())
        assert all(not r.closed and not r.suspended for r in rows)
        # Every report is "today" from the epoch on: units counted from each lease's first (anchoring) report.
        assert sorted(r.units_today for r in rows) == sorted(c - 7 for c in reporting.counters.values())
        later = fleet(store, day_start=2**40)  # a day with no report yet: nothing counted
        assert [r.units_today for r in later] == [0, 0, 0]


def test_reorg_seen_on_restart_is_rolled_back_to_the_common_ancestor_and_equals_a_rebuild(
    reporting: ReportingFleet, index_db: Any
) -> None:
    session = reporting.session
    target = index_db()
    fork = rpc(session, "evm_snapshot")
    ancestor = session.chain.w3.eth.block_number
    reporting.report(units=11)  # branch A: indexed, then abandoned
    reporting.report(units=11)
    with open_store(target) as store:
        open_indexer(session, store).backfill()
        branch_a = dump(store)
    assert rpc(session, "evm_revert", fork) is True
    reporting.counters = {name: value - 22 for name, value in reporting.counters.items()}
    reporting.last_time += 1
    for _ in range(3):  # branch B: other reports, a longer chain
        reporting.report(units=5)
    with open_store(target) as store:  # a new process finds the index on the abandoned branch
        indexer = open_indexer(session, store)
        reorgs: list[Reorg] = []
        indexer.on_reorg = reorgs.append
        indexer.backfill()
        assert [(r.ancestor <= ancestor, r.old_cursor) for r in reorgs] == [(True, int(branch_a["cursor"][0]))]
        assert status(store).reorgs == 1
        after = dump(store)
    assert after != branch_a
    assert after == rebuilt(session, index_db())


def test_reorg_while_following_and_a_shorter_chain_end_equal_to_a_rebuild(
    reporting: ReportingFleet, index_db: Any
) -> None:
    session = reporting.session
    target = index_db()
    with open_store(target) as store:
        indexer = open_indexer(session, store)
        stop = threading.Event()
        follower = threading.Thread(target=indexer.follow, args=(stop,), kwargs={"poll_seconds": 0.05})
        seen: list[Reorg] = []
        indexer.on_reorg = seen.append
        # The follower owns its own connection: SQLite and psycopg connections are not shared across threads.
        follower_store = open_store(target)
        indexer.store = follower_store
        follower.start()
        try:

            def caught_up() -> bool:
                return int(store.meta("cursor_number") or -1) == session.chain.w3.eth.block_number

            wait_until(caught_up, 20, "the follower to reach the head")
            fork = rpc(session, "evm_snapshot")
            reporting.report(units=9)
            reporting.report(units=9)
            wait_until(caught_up, 20, "the follower to index branch A")
            assert rpc(session, "evm_revert", fork) is True  # the chain is now shorter than the index
            wait_until(lambda: len(seen) == 1, 20, "the follower to roll back the shorter chain")
            reporting.counters = {name: value - 18 for name, value in reporting.counters.items()}
            reporting.last_time += 1
            reporting.report(units=4)
            wait_until(caught_up, 20, "the follower to index branch B")
            fork_b = rpc(session, "evm_snapshot")
            reporting.report(units=6)
            wait_until(caught_up, 20, "the follower to index one more block")
            # anvil_reorg: the last block replaced by one with no transactions, same height
            rpc(session, "evm_revert", fork_b)
            rpc(session, "evm_mine")
            wait_until(lambda: len(seen) == 2 and caught_up(), 20, "the follower to see a same-height reorg")
        finally:
            stop.set()
            follower.join(10)
            follower_store.close()
        assert dump(store) == rebuilt(session, index_db())


def test_kill_9_at_random_moments_resumes_without_gaps_or_duplicates(
    reporting: ReportingFleet, index_db: Any, tmp_path: Path
) -> None:
    session = reporting.session
    target = index_db()
    env = {
        **os.environ,
        "MILLCHAIN_DEPLOYMENTS_DIR": str(session.store.folder.parent if session.store.folder else tmp_path),
    }
    url = session.chain.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    command = [
        sys.executable,
        "-m",
        "millchain",
        "index",
        "follow",
        "--db",
        target,
        "--poll",
        "0.05",
        "-q",
        "--network",
        "anvil",
        "--rpc",
        url,
    ]
    chooser = random.Random(15)
    enough = threading.Event()
    rounds: list[int] = []

    def generate() -> None:  # reports keep arriving until the last kill
        while not enough.is_set():
            reporting.report(units=chooser.randint(1, 50))
            rounds.append(1)
            time.sleep(0.1)

    traffic = threading.Thread(target=generate)
    traffic.start()
    kills = 0
    cursors: list[int] = []

    def cursor_now() -> int:
        with open_store(target, migrate=False) as peek:
            return int(peek.meta("cursor_number") or -1) if "meta" in peek.tables() else -1

    def progressed(before: int) -> bool:
        return cursor_now() > before

    try:
        while kills < 5:
            before = cursor_now()
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                # Once this process has written something (start-up takes seconds on a busy machine), the kill lands
                # at a random instant of its following: between ranges or inside one.
                wait_until(partial(progressed, before), 60, "the index process to make progress")
                if process.poll() is not None:
                    pytest.fail(f"the index process exited on its own: {process.stderr and process.stderr.read()!r}")
                time.sleep(chooser.uniform(0.0, 0.3))
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
                cursors.append(cursor_now())
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                if process.stderr:
                    process.stderr.close()
    finally:
        enough.set()
        traffic.join(60)
    with open_store(target) as store:
        indexer = open_indexer(session, store)
        indexer.backfill()
        resumed = dump(store)
    assert kills == 5
    # Killed while it was working, not only before it started: the cursor had moved at several of the kills.
    assert sum(1 for before, after in zip([-1, *cursors], cursors, strict=False) if after > before) >= 2, cursors
    assert resumed == rebuilt(session, index_db())
    assert len(resumed["usage"]) == 3 * (3 + len(rounds))


def test_an_index_of_another_chain_is_refused_unless_rebuilt(
    reporting: ReportingFleet, tmp_path: Path, project: Project
) -> None:
    target = str(tmp_path / "index.sqlite")
    with open_store(target) as store:
        open_indexer(reporting.session, store).backfill()
    # Another dev chain: same accounts and contract addresses, another chain id.
    with AnvilNode(project, extra=["--chain-id", "31338"]) as other:
        session = Session(
            connect("anvil", rpc_url=other.url), project=project, deployments_dir=tmp_path / "other-deployments"
        )
        session.deploy()
        with open_store(target) as store:
            with pytest.raises(Exception, match="another chain or other deployments"):
                open_indexer(session, store)
            indexer: Indexer = open_indexer(session, store, rebuild=True)
            assert isinstance(indexer.step(), RangeDone)
            assert dump(store)["usage"] == []


def test_cli_statement_reads_the_index_when_configured_and_says_when_it_reads_the_chain(
    reporting: ReportingFleet, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli_runner import run_cli

    session = reporting.session
    target = str(tmp_path / "index.sqlite")
    with open_store(target) as store:
        open_indexer(session, store).backfill()
    assert session.store.folder is not None
    monkeypatch.setenv("MILLCHAIN_DEPLOYMENTS_DIR", str(session.store.folder.parent))
    url = session.chain.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    lease = hex(reporting.machines[0].lease_id)
    command = ["lease", "statement", lease, "--json", "--network", "anvil", "--rpc", url]

    monkeypatch.setenv("MILLCHAIN_INDEX", target)
    code, from_index, note = run_cli(capsys, monkeypatch, *command)
    assert code == 0 and f"statement read from the index at {target}" in note
    monkeypatch.setenv("MILLCHAIN_INDEX", str(tmp_path / "other.sqlite"))
    open_store(str(tmp_path / "other.sqlite")).close()  # an index of nothing yet
    code, from_chain, note = run_cli(capsys, monkeypatch, *command)
    assert code == 0 and "statement read from the chain's logs (the index at" in note
    assert from_index == from_chain
    assert len(__import__("json").loads(from_index)["lines"]) == 3


def test_a_node_whose_next_block_never_descends_from_the_cursor_is_an_error_not_an_endless_rollback(
    reporting: ReportingFleet, tmp_path: Path
) -> None:
    from millchain.errors import ChainError
    from millchain.index.source import Header

    session = reporting.session
    with open_store(str(tmp_path / "index.sqlite")) as store:
        indexer = open_indexer(session, store)
        real = indexer.source.headers

        def lying(numbers: Any) -> dict[int, Header | None]:
            # Every block names a parent nobody has: the chain the node reports does not hang together.
            return {n: h and Header(h.number, h.hash, b"\x66" * 32, h.timestamp) for n, h in real(numbers).items()}

        indexer.source.headers = lying  # type: ignore[method-assign]
        with pytest.raises(ChainError, match="three times running"):
            indexer.backfill()
        assert status(store).reorgs == 2  # two empty rollbacks, then the error
