"""`lease statement`, `qc lot trace`, `qc alerts` and `order show` read the event index when one is configured: on
a real anvil where the demo's quality and settlement stories played (and a leased machine reported), each gives
exactly the chain's answer (table and --json) from SQLite and from PostgreSQL; each says on stderr when and why it
reads the chain instead, and how far behind the head the index is."""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from millchain.chain import connect
from millchain.demo.quality import STORY_ACCOUNTS, play_quality_story
from millchain.demo.settlement import play_settlement_story
from millchain.index import queries
from millchain.index import store as store_module
from millchain.index.indexer import open_indexer
from millchain.index.logs import IndexedQualityClient, IndexedSettlementClient, IndexLogs
from millchain.index.queries import cursor
from millchain.index.store import open_store
from millchain.node import AnvilNode
from millchain.project import Project
from millchain.quality import AlertRef, Finding, Outcome, QualityClient, Severity, lot_id, org_id
from millchain.session import Session
from millchain.settlement import SettlementClient
from tests.cli_runner import run_cli
from tests.integration.index_support import ReportingFleet, postgres_server

pytestmark = pytest.mark.integration

ORGS = ("axle-supply", "mill-plant", "tractor-oem", "tuv-lab", "regulator")


@dataclass
class Played:
    session: Session
    url: str
    lots: list[str]
    order_id: str
    order_key: str
    lease: str
    sqlite: str
    postgres: str


@pytest.fixture(scope="module")
def played(compiled: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    """The demo's quality and settlement stories on one anvil, then more alerts (one corrected, one pending),
    indexed into SQLite and PostgreSQL up to the head."""
    folder = tmp_path_factory.mktemp("readers")
    with AnvilNode(compiled, state=folder / "anvil-state.json") as node:
        session = Session(connect("anvil", rpc_url=node.url), project=compiled, deployments_dir=folder / "deployments")
        session.deploy()
        quality = play_quality_story(session, lambda *_: None)
        story = play_settlement_story(session, lambda *_: None, tag="-idx")
        lots = quality["lots"]
        inspector = QualityClient(session, STORY_ACCOUNTS["inspector"])
        # housings: a minor alert, then its correction (a pass superseding it); gearboxes: a critical alert that
        # only the plant acknowledges, pending for the OEM, the supplier and the regulator.
        inspector.attest(
            Finding(
                lot=lot_id(lots["housings"]),
                outcome=Outcome.CONDITIONAL,
                severity=Severity.MINOR,
                sample_size=50,
                defects=2,
                uri="https://lab.example/h1",
            )
        )
        inspector.attest(Finding(lot=lot_id(lots["housings"]), outcome=Outcome.PASS, sample_size=50, supersedes=1))
        ref, _ = inspector.attest(
            Finding(
                lot=lot_id(lots["gearboxes"]),
                outcome=Outcome.FAIL,
                severity=Severity.CRITICAL,
                sample_size=20,
                defects=3,
            )
        )
        QualityClient(session, STORY_ACCOUNTS["plant"]).acknowledge(ref)
        key = SettlementClient(session).resolve(story.order_id)
        fleet = ReportingFleet.lease(session, 1, prefix="readers")
        for _ in range(3):
            fleet.report()
        sqlite = str(folder / "index.sqlite")
        with open_store(sqlite) as store:
            open_indexer(session, store).backfill()
        for server in postgres_server():
            dsn = server.create_database(f"idx_{uuid.uuid4().hex[:12]}")
            with open_store(dsn) as store:
                open_indexer(session, store).backfill()
            lease = hex(fleet.machines[0].lease_id)
            yield Played(session, node.url, list(lots.values()), story.order_id, "0x" + key.hex(), lease, sqlite, dsn)


@pytest.fixture
def cli(played: Played, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``cli(index, *args)``: the console script on the played chain with $MILLCHAIN_INDEX = ``index`` (None:
    unset, and no default index file either); returns (stdout, stderr)."""
    assert played.session.store.folder is not None
    monkeypatch.setenv("MILLCHAIN_DEPLOYMENTS_DIR", str(played.session.store.folder.parent))
    monkeypatch.setattr(store_module, "DEFAULT_INDEX", Path("no-such-folder") / "index.sqlite")

    def run(index: str | None, *args: str) -> tuple[str, str]:
        if index is None:
            monkeypatch.delenv("MILLCHAIN_INDEX", raising=False)
        else:
            monkeypatch.setenv("MILLCHAIN_INDEX", index)
        code, out, err = run_cli(capsys, monkeypatch, *args, "--network", "anvil", "--rpc", played.url)
        assert code == 0, err
        return out, err

    return run


def _commands(played: Played) -> list[list[str]]:
    commands = [["qc", "lot", "trace", lot] for lot in played.lots]
    commands += [["qc", "alerts"], ["qc", "alerts", "--pending"], ["qc", "alerts", "--active"]]
    commands += [["qc", "alerts", "--org", org, *flags] for org in ORGS for flags in ([], ["--pending"])]
    commands += [["order", "show", played.order_key], ["order", "show", played.order_id]]
    return [*commands, ["lease", "statement", played.lease], ["lease", "statement", played.lease, "--csv"]]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_trace_alerts_and_order_show_from_the_index_equal_the_chain_table_and_json(
    played: Played, cli: Any, backend: str
) -> None:
    index = played.sqlite if backend == "sqlite" else played.postgres
    where = index if backend == "sqlite" else index.rsplit("@", 1)[-1]
    head = played.session.chain.w3.eth.block_number
    for command in _commands(played):
        what = next(w for w in ("statement", "trace", "alerts", "order") if w in command)
        for as_json in (["--json"], []):
            from_chain, chain_note = cli(None, *command, *as_json)
            from_index, index_note = cli(index, *command, *as_json)
            assert f"{what} read from the chain's logs (no index configured)" in chain_note
            assert f"{what} read from the index at " in index_note and where in index_note
            assert f"(to block {head})" in index_note  # caught up: no "behind" clause
            if as_json:
                assert json.loads(from_index) == json.loads(from_chain), command
            else:
                assert from_index == from_chain, command


def test_the_compared_answers_hold_what_the_stories_did(played: Played, cli: Any) -> None:
    """The equality above is not of empty answers: lineage both ways, alerts with their states, the order's
    shipment with a mismatch then a settlement."""
    bearings, housings, gearboxes, tractors = played.lots
    trace = json.loads(cli(played.sqlite, "qc", "lot", "trace", gearboxes, "--json")[0])
    assert {n["lot_id"] for n in trace["upstream"]} == {bearings, housings}
    assert [n["lot_id"] for n in trace["downstream"]] == [tractors]
    assert trace["lot"]["alerts"] == [f"{gearboxes}#1"]
    alerts = json.loads(cli(played.sqlite, "qc", "alerts", "--json")[0])
    assert [a["ref"] for a in alerts] == [f"{bearings}#1", f"{housings}#1", f"{gearboxes}#1"]
    assert alerts[1]["superseded_by"] == 2 and alerts[1]["defects"] == 2 and alerts[1]["uri"].endswith("/h1")
    assert alerts[2]["acknowledged"].keys() == {"mill-plant"} and "tractor-oem" in alerts[2]["pending"]
    pending_oem = json.loads(cli(played.sqlite, "qc", "alerts", "--org", "tractor-oem", "--pending", "--json")[0])
    assert [a["ref"] for a in pending_oem] == [f"{housings}#1", f"{gearboxes}#1"]
    order = json.loads(cli(played.sqlite, "order", "show", played.order_id, "--json")[0])
    (shipment,) = order["shipments"]
    assert shipment["shipment"]["mismatches"] and shipment["shipment"]["paid"] > 0
    assert shipment["shipment"]["checkpoints"] and order["funds"]["funded"] > 0


def test_sdk_objects_from_the_index_equal_the_chains_field_by_field(played: Played) -> None:
    session = played.session
    with open_store(played.sqlite, migrate=False) as store:
        logs = IndexLogs(store, cursor(store))
        quality, indexed_quality = QualityClient(session), IndexedQualityClient(session, logs)
        for lot in played.lots:
            assert indexed_quality.trace(lot_id(lot)) == quality.trace(lot_id(lot))
            assert indexed_quality.lot_event(lot_id(lot)) == quality.lot_event(lot_id(lot))
            assert indexed_quality.attestations(lot_id(lot)) == quality.attestations(lot_id(lot))
        assert indexed_quality.alerts() == quality.alerts()
        for org in ORGS:
            assert indexed_quality.members(org_id(org)) == quality.members(org_id(org))
        settlement, indexed_settlement = SettlementClient(session), IndexedSettlementClient(session, logs)
        key = bytes.fromhex(played.order_key[2:])
        assert indexed_settlement.report(key) == settlement.report(key)
        assert indexed_settlement.invoice_links(key) == settlement.invoice_links(key)
        assert indexed_settlement.signed_order(key) == settlement.signed_order(key)


@pytest.fixture
def rolled_back(played: Played) -> Iterator[None]:
    """What a test adds to the played chain is taken back after it (the shared indexes stay caught up)."""
    provider = played.session.chain.w3.provider
    snapshot = provider.make_request("evm_snapshot", [])  # type: ignore[arg-type]
    yield
    assert provider.make_request("evm_revert", [snapshot["result"]])["result"] is True  # type: ignore[arg-type]


def _copy(played: Played, tmp_path: Path) -> str:
    copy = str(tmp_path / "copy.sqlite")
    with sqlite3.connect(played.sqlite) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    return copy


def _reader_args(played: Played, what: str) -> list[str]:
    return {
        "statement": ["lease", "statement", played.lease],
        "trace": ["qc", "lot", "trace", played.lots[0]],
        "alerts": ["qc", "alerts"],
        "order": ["order", "show", played.order_key],
    }[what]


@pytest.mark.parametrize("what", ["statement", "trace", "alerts", "order"])
def test_each_reader_says_why_it_falls_back_to_the_chain_and_answers_the_same(
    played: Played, cli: Any, tmp_path: Path, what: str
) -> None:
    args = _reader_args(played, what)
    truth, note = cli(None, *args, "--json")
    assert note.strip() == f"{what} read from the chain's logs (no index configured)"

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database, just bytes" * 100)
    missing = tmp_path / "missing.sqlite"
    empty = str(tmp_path / "empty.sqlite")
    open_store(empty).close()  # migrated, never indexed
    other_chain = _copy(played, tmp_path)
    with sqlite3.connect(other_chain) as db:  # the same ids and addresses on a chain whose history differs
        identity = json.loads(db.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()[0])
        identity["base"] = "ab" * 32
        db.execute("UPDATE meta SET value = ? WHERE key = 'identity'", (json.dumps(identity),))
    other_id = tmp_path / "other-id.sqlite"
    shutil.copy(other_chain, other_id)
    with sqlite3.connect(other_id) as db:
        identity["chain_id"] = 1
        db.execute("UPDATE meta SET value = ? WHERE key = 'identity'", (json.dumps(identity),))
    cases = {
        str(garbage): "(index unusable: file is not a database)",
        str(missing): f"(index unusable: no index file at {missing})",
        empty: f"(the index at {empty} has indexed nothing yet: run `millchain index backfill`)",
        other_chain: f"(the index at {other_chain} follows another chain (its block ",
        str(other_id): f"(the index at {other_id} follows another chain (chainId 1, not 31337)",
        "postgresql://nobody@127.0.0.1:1/none": "(index unusable: cannot connect to PostgreSQL (postgresql://nobody@",
    }
    for index, reason in cases.items():
        answer, note = cli(index, *args, "--json")
        assert f"{what} read from the chain's logs {reason}" in note, note
        assert answer == truth
    assert not missing.exists()  # a reader never creates an index


def test_an_index_of_another_deployment_on_the_same_chain_is_not_read(
    played: Played, cli: Any, tmp_path: Path, rolled_back: None
) -> None:
    session = Session(
        connect("anvil", rpc_url=played.url), project=played.session.project, deployments_dir=tmp_path / "deployments"
    )
    session.deploy()
    index = str(tmp_path / "other-deployment.sqlite")
    with open_store(index) as store:
        open_indexer(session, store).backfill()
    for args, what, contract in (
        (["qc", "alerts"], "alerts", "QualityLedger"),
        (["order", "show", played.order_key], "order", "SupplyChainSettlement"),
    ):
        answer, note = cli(index, *args, "--json")
        assert (
            f"{what} read from the chain's logs (the index at {index} follows another contract: {contract} at" in note
        )
        assert answer == cli(None, *args, "--json")[0]


def test_an_index_behind_the_head_says_so_and_answers_as_of_its_block(
    played: Played, cli: Any, tmp_path: Path, rolled_back: None
) -> None:
    index = _copy(played, tmp_path)
    _, housings, gearboxes, _ = played.lots
    pending = ["qc", "alerts", "--org", "tractor-oem", "--pending", "--json"]
    before = cli(index, *pending)[0]
    oem = QualityClient(played.session, STORY_ACCOUNTS["oem"])
    oem.acknowledge(AlertRef.parse(f"{gearboxes}#1"))
    head = played.session.chain.w3.eth.block_number
    stale, note = cli(index, *pending)
    assert f"alerts read from the index at {index} (to block {head - 1}, 1 block(s) behind the head)" in note
    assert stale == before  # the acknowledgement is past the index's block
    now = json.loads(cli(None, *pending)[0])
    assert [a["ref"] for a in now] == [f"{housings}#1"]
    for what in ("statement", "trace", "order"):
        _, note = cli(index, *_reader_args(played, what), "--json")
        assert f"{what} read from the index at {index} (to block {head - 1}, 1 block(s) behind the head)" in note
    with open_store(index) as store:
        open_indexer(played.session, store).backfill()
    caught_up, note = cli(index, *pending)
    assert f"(to block {head})" in note and json.loads(caught_up) == now


def test_alert_records_come_in_one_batched_request_not_one_call_per_alert(
    played: Played, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted on the wire: each HTTP request to the node, with the JSON-RPC methods it carries."""
    sessions = played.session.chain.w3.provider._request_session_manager  # type: ignore[attr-defined]
    posted: list[list[str]] = []
    post = sessions.make_post_request

    def counting(uri: str, data: bytes, **kwargs: Any) -> Any:
        body = json.loads(data)
        posted.append([r["method"] for r in body] if isinstance(body, list) else [body["method"]])
        return post(uri, data, **kwargs)

    monkeypatch.setattr(sessions, "make_post_request", counting)
    with open_store(played.sqlite, migrate=False) as store:
        found = IndexedQualityClient(played.session, IndexLogs(store, cursor(store))).alerts()
    assert len(found) == 3
    assert [m for m in posted if "eth_call" in m] == [["eth_call"] * 3]  # one request for the three records
    assert not any("eth_getLogs" in m for m in posted)
    posted.clear()
    assert QualityClient(played.session).alerts() == found
    assert [m for m in posted if "eth_call" in m] == [["eth_call"]] * 3  # the chain path: one request per alert
    assert sum(m.count("eth_getLogs") for m in posted) == 4


def test_trace_reads_only_its_lots_lineage_walked_on_lot_inputs(
    played: Played, monkeypatch: pytest.MonkeyPatch
) -> None:
    bearings, housings, gearboxes, tractors = (lot_id(lot) for lot in played.lots)
    asked: list[tuple[str, Any]] = []
    original = queries.logs

    def spy(store: Any, contract: str, event: str, **kwargs: Any) -> Any:
        asked.append((event, kwargs.get("subjects")))
        return original(store, contract, event, **kwargs)

    monkeypatch.setattr(queries, "logs", spy)
    with open_store(played.sqlite, migrate=False) as store:
        assert queries.lineage(store, housings) == {housings, gearboxes, tractors}
        assert queries.lineage(store, bearings) == {bearings, gearboxes, tractors}
        assert queries.lineage(store, gearboxes) == {bearings, housings, gearboxes, tractors}
        assert queries.lineage(store, tractors, upto=0) == {tractors}  # nothing registered by block 0
        client = IndexedQualityClient(played.session, IndexLogs(store, cursor(store)))
        assert client.trace(housings) == QualityClient(played.session).trace(housings)
    assert sorted(event for event, _ in asked) == ["Attested", "LotRegistered"]
    assert all(set(subjects) == {housings, gearboxes, tractors} for _, subjects in asked)


def test_an_index_migrated_from_schema_1_reads_every_lot_until_the_indexer_fills_its_quality_tables(
    played: Played, cli: Any, tmp_path: Path
) -> None:
    index = _copy(played, tmp_path)
    with sqlite3.connect(index) as db:  # the index as schema 1 left it: no quality tables
        db.execute("DROP TABLE lot_inputs")
        db.execute("DROP TABLE quality_alerts")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    gearboxes = lot_id(played.lots[2])
    truth = cli(None, "qc", "lot", "trace", played.lots[2], "--json")[0]
    alerts = cli(None, "qc", "alerts", "--json")[0]
    with open_store(index) as store:  # migrated to 2 by whoever opens it to write
        assert store.meta("schema_version") == "2" and store.meta("lineage_incomplete") == "1"
        assert queries.lineage(store, gearboxes) is None
    answer, note = cli(index, "qc", "lot", "trace", played.lots[2], "--json")
    assert "trace read from the index at" in note and answer == truth  # every lot read, the same answer
    assert cli(index, "qc", "alerts", "--json")[0] == alerts
    with open_store(index) as store:
        open_indexer(played.session, store)  # its start fills lot_inputs from the stored lots
        assert store.meta("lineage_incomplete") is None
        assert queries.lineage(store, gearboxes) == {lot_id(lot) for lot in played.lots}
        assert queries.alerted(store) is not None
    assert cli(index, "qc", "lot", "trace", played.lots[2], "--json")[0] == truth
    assert cli(index, "qc", "alerts", "--json")[0] == alerts


def test_alerts_read_only_the_alerted_lots_and_what_was_built_from_them(
    played: Played, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rolled_back: None
) -> None:
    bearings, housings, gearboxes, tractors = (lot_id(lot) for lot in played.lots)
    # A lot nobody alerted, built from nothing alerted: never read by qc alerts.
    QualityClient(played.session, STORY_ACCOUNTS["plant"]).register_lot(lot_id("spare-housings"), lot_id("x"), 5)
    asked: dict[str, Any] = {}
    original = queries.logs

    def spy(store: Any, contract: str, event: str, **kwargs: Any) -> Any:
        asked.setdefault(event, kwargs.get("subjects"))
        return original(store, contract, event, **kwargs)

    monkeypatch.setattr(queries, "logs", spy)
    with open_store(_copy(played, tmp_path)) as store:
        open_indexer(played.session, store).backfill()
        assert queries.alerted(store) == ({bearings, housings, gearboxes}, {bearings, housings, gearboxes, tractors})
        client = IndexedQualityClient(played.session, IndexLogs(store, cursor(store)))
        assert client.alerts() == QualityClient(played.session).alerts()
    assert set(asked["Attested"]) == {bearings, housings, gearboxes}
    assert set(asked["LotRegistered"]) == {bearings, housings, gearboxes, tractors}
    assert asked["OrganisationRegistered"] is None and asked["AlertAcknowledged"] is None  # few: read whole


def _quality_tables(store: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in store.query(sql)]
        for table, sql in (
            ("lot_inputs", "SELECT id, lot, input FROM lot_inputs ORDER BY id, input"),
            ("quality_alerts", "SELECT id, lot FROM quality_alerts ORDER BY id"),
        )
    }


def test_a_reorg_takes_the_abandoned_branchs_lineage_and_alerts_out_of_the_quality_tables(
    played: Played, tmp_path: Path, rolled_back: None
) -> None:
    session = played.session
    provider = session.chain.w3.provider
    index = _copy(played, tmp_path)
    _, housings, gearboxes, _ = played.lots
    plant, inspector = (
        QualityClient(session, STORY_ACCOUNTS["plant"]),
        QualityClient(session, STORY_ACCOUNTS["inspector"]),
    )
    fork = provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    plant.register_lot(lot_id("branch-a"), lot_id("gearbox-g3"), 10, inputs=[lot_id(housings)])
    inspector.attest(Finding(lot=lot_id("branch-a"), outcome=Outcome.FAIL, severity=Severity.MAJOR, sample_size=5))
    with open_store(index) as store:
        open_indexer(session, store).backfill()
        branch_a = _quality_tables(store)
        assert queries.lineage(store, lot_id(housings)) == {
            lot_id(x) for x in (housings, gearboxes, played.lots[3])
        } | {lot_id("branch-a")}
    assert provider.make_request("evm_revert", [fork])["result"] is True  # type: ignore[arg-type]
    plant.register_lot(lot_id("branch-b"), lot_id("gearbox-g3"), 10, inputs=[lot_id(gearboxes)])
    plant.register_lot(lot_id("branch-b2"), lot_id("gearbox-g3"), 10, inputs=[lot_id("branch-b")])
    with open_store(index) as store:
        open_indexer(session, store).backfill()  # sees the reorg on start, rolls back, replays branch B
        after = _quality_tables(store)
        assert lot_id("branch-a") not in (queries.lineage(store, lot_id(housings)) or set())
        assert lot_id("branch-a") not in (queries.alerted(store) or (set(), set()))[0]
    rebuilt = str(tmp_path / "rebuilt.sqlite")
    with open_store(rebuilt) as store:
        open_indexer(session, store).backfill()
        assert _quality_tables(store) == after != branch_a


def test_the_console_reads_quality_and_orders_from_the_index_it_serves_and_the_chain_without_one(
    played: Played, tmp_path: Path
) -> None:
    from millchain.console.data import ConsoleData

    session = played.session
    key = bytes.fromhex(played.order_key[2:])
    with open_store(played.sqlite, migrate=False) as store:
        data = ConsoleData(session, store)
        assert isinstance(data.quality, IndexedQualityClient) and isinstance(data.settlement, IndexedSettlementClient)
        assert data.quality.alerts() == QualityClient(session).alerts()
        assert data.settlement.report(key) == SettlementClient(session).report(key)
    with open_store(str(tmp_path / "empty.sqlite")) as empty:  # a console on an index not filled yet
        data = ConsoleData(session, empty)
        assert type(data.quality) is QualityClient and type(data.settlement) is SettlementClient
