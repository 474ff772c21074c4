"""The quality SDK beyond single calls: lineage walked off-chain over a multi-level graph (including a diamond),
alert propagation to every downstream organisation and the regulator, acknowledgement bookkeeping, the
watcher's notices and their forwarding to an HTTP webhook, report verification, and input parsing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hexbytes import HexBytes

from millchain.disclosure import SaltedDocument
from millchain.errors import ConfigError
from millchain.quality import (
    AlertRef,
    AlertWatcher,
    ForwardError,
    LotGraph,
    LotNode,
    MqttForwarder,
    Severity,
    VerificationFailed,
    WebhookForwarder,
    format_amount,
    lot_id,
    org_id,
    parse_address,
    parse_amount,
    parse_duration,
)
from tests.contracts.test_quality_scenario import (
    BEARING,
    GEARBOX,
    INSPECTOR,
    MILL,
    OEM,
    PLANT,
    REGULATOR,
    SUPPLIER,
    TRACTOR,
    TRACTOR_T7,
    World,
    build_lineage,
    fail,
    passed,
)


def labels(lots: list[bytes]) -> list[str]:
    return [lot.rstrip(b"\0").decode() for lot in lots]


# ---------------------------------------------------------------------------------------------- lineage


def test_graph_walks_a_diamond_once_per_lot() -> None:
    def node(name: str, *inputs: str) -> LotNode:
        return LotNode(lot_id(name), org_id(f"org-{name}"), BEARING, 1, b"\0" * 32,
                       tuple(lot_id(i) for i in inputs), 0)

    graph = LotGraph()
    for n in (node("a"), node("b", "a"), node("c", "a"), node("d", "b", "c"), node("e", "d")):
        graph.add(n)
    assert labels(graph.downstream(lot_id("a"))) == ["b", "c", "d", "e"]
    assert labels(graph.upstream(lot_id("e"))) == ["d", "b", "c", "a"]
    tree = graph.tree(lot_id("a"), up=False)
    assert [t.lot_id for t in tree] == ["b", "c"]
    assert [c.lot_id for c in tree[0].children] == ["d"] and tree[0].children[0].children[0].lot_id == "e"
    assert tree[1].children[0].repeated and tree[1].children[0].children == []  # d already shown under b
    assert [label for label in (o.rstrip(b"\0").decode() for o in graph.affected(lot_id("b"), [org_id("reg")]))] \
        == ["org-b", "org-d", "org-e", "reg"]
    with pytest.raises(ConfigError, match="lot zz is not registered"):
        graph.node(lot_id("zz"))


def test_an_alert_reaches_every_downstream_organisation_and_the_regulator(q: World) -> None:
    lineage = build_lineage(q)
    # A fourth level: the OEM's tractors go into a fleet lot of the plant's (a cycle of firms, not of lots).
    q(PLANT).register_lot(lot_id("fleet-1"), GEARBOX, 2, inputs=[lineage.tractors])
    ref, _ = q(INSPECTOR).attest(fail(lineage.bearings))
    q(INSPECTOR).attest(passed(lineage.housings))  # not an alert
    (alert,) = q(PLANT).alerts()
    assert alert.ref == str(ref) == "bearings-1#1"
    assert alert.affected == ["axle-supply", "mill-plant", "tractor-oem", "regulator"]
    assert alert.downstream_lots == ["gearboxes-1", "tractors-1", "fleet-1"]
    assert (alert.producer, alert.inspector_org, alert.severity, alert.defects) == (
        "axle-supply", "tuv-lab", Severity.MAJOR, 14)
    assert alert.pending == alert.affected and alert.acknowledged == {}
    # An alert on the housings' consumer concerns only its own downstream.
    gearbox_alert, _ = q(INSPECTOR).raise_alert(lineage.gearboxes, Severity.MINOR)
    assert q(PLANT).alerts()[1].affected == ["mill-plant", "tractor-oem", "regulator"]
    assert [a.ref for a in q(PLANT).alerts(org=org_id("axle-supply"))] == [str(ref)]
    assert str(gearbox_alert) in [a.ref for a in q(PLANT).alerts(org=TRACTOR)]


def test_acknowledgements_clear_alerts_from_each_organisations_pending_list(q: World) -> None:
    lineage = build_lineage(q)
    ref, _ = q(INSPECTOR).attest(fail(lineage.bearings))
    q(PLANT).acknowledge(ref)
    q(REGULATOR).acknowledge(ref)
    (alert,) = q(PLANT).alerts()
    assert sorted(alert.acknowledged) == ["mill-plant", "regulator"]
    assert alert.pending == ["axle-supply", "tractor-oem"]
    assert q(PLANT).alerts(org=MILL, pending_only=True) == []
    assert [a.ref for a in q(PLANT).alerts(org=TRACTOR, pending_only=True)] == [str(ref)]
    assert [a.ref for a in q(PLANT).alerts(pending_only=True)] == [str(ref)]
    q(OEM).acknowledge(ref)
    q(SUPPLIER).acknowledge(ref)
    assert q(PLANT).alerts(pending_only=True) == []
    assert len(q(PLANT).alerts()) == 1  # acknowledged alerts stay on record


def test_attestations_carry_the_uri_of_their_attested_event(q: World) -> None:
    lineage = build_lineage(q)
    ref, _ = q(INSPECTOR).attest(fail(lineage.bearings))  # with a URI
    q(INSPECTOR).attest(passed(lineage.bearings))  # without one
    reader = q(PLANT)
    # Storage keeps only the report's commitment: the URI comes from each attestation's Attested event.
    assert [a.uri for a in reader.attestations(lineage.bearings)] == ["https://lab.example/r/1", ""]
    assert reader.attestation(ref.lot, ref.seq).uri == "https://lab.example/r/1"
    assert reader.attestation(lineage.bearings, 2).uri == ""
    assert [a.uri for a in reader.alerts()] == ["https://lab.example/r/1"]


def test_superseded_alerts_are_marked_and_can_be_left_out(q: World) -> None:
    lineage = build_lineage(q)
    q(INSPECTOR).attest(fail(lineage.bearings))
    q(INSPECTOR).attest(passed(lineage.bearings, supersedes=1))
    (alert,) = q(PLANT).alerts()
    assert (alert.superseded_by, alert.active) == (2, False)
    assert q(PLANT).alerts(active_only=True) == []


def test_trace_shows_upstream_and_downstream_trees_with_alerts(q: World) -> None:
    lineage = build_lineage(q)
    q(INSPECTOR).attest(fail(lineage.bearings))
    trace = q(PLANT).trace(lineage.gearboxes)
    assert trace.lot.lot_id == "gearboxes-1" and trace.lot.producer == "mill-plant"
    assert sorted(n.lot_id for n in trace.upstream) == ["bearings-1", "housings-1"]
    bearings = next(n for n in trace.upstream if n.lot_id == "bearings-1")
    assert bearings.alerts == ["bearings-1#1"] and bearings.producer == "axle-supply"
    assert [n.lot_id for n in trace.downstream] == ["tractors-1"]
    assert trace.downstream[0].product_id == "tractor-t7"
    assert q(PLANT).trace(lineage.bearings).upstream == []
    with pytest.raises(ConfigError, match="not registered"):
        q(PLANT).trace(lot_id("nowhere"))


def test_lot_event_is_checked_against_the_stored_digest(q: World) -> None:
    lineage = build_lineage(q)
    node = q(PLANT).lot_event(lineage.gearboxes)
    assert node.inputs == tuple(sorted([lineage.bearings, lineage.housings]))
    assert node.producer == MILL


# ---------------------------------------------------------------------------------------------- watching


def test_watcher_reports_raised_acknowledged_exposed_and_superseded(q: World) -> None:
    lineage = build_lineage(q)
    oem_watch = AlertWatcher(q(OEM), TRACTOR)
    plant_watch = AlertWatcher(q(PLANT), MILL)
    assert oem_watch.poll() == [] and plant_watch.poll() == []  # history is taken in silently

    ref, _ = q(INSPECTOR).attest(fail(lineage.spare_bearings, 3))  # spare bearings: nobody downstream yet
    assert oem_watch.poll() == [] and plant_watch.poll() == []
    q(PLANT).register_lot(lot_id("gearboxes-9"), GEARBOX, 10, inputs=[lineage.spare_bearings])
    (exposed,) = plant_watch.poll()
    assert (exposed.kind, exposed.alert, exposed.via_lot, exposed.org) == (
        "exposed", str(ref), "gearboxes-9", "mill-plant")
    q(OEM).register_lot(lot_id("tractors-9"), TRACTOR_T7, 1, inputs=[lot_id("gearboxes-9")])
    (exposed,) = oem_watch.poll()
    assert (exposed.kind, exposed.via_lot) == ("exposed", "tractors-9")
    assert plant_watch.poll() == []  # the plant was concerned already

    second, _ = q(INSPECTOR).attest(fail(lineage.bearings))
    (raised,) = oem_watch.poll()
    assert (raised.kind, raised.alert, raised.severity, raised.producer) == (
        "raised", str(second), Severity.MAJOR, "axle-supply")
    q(PLANT).acknowledge(second)
    kinds = [(n.kind, n.by) for n in oem_watch.poll()]
    assert kinds == [("acknowledged", "mill-plant")]
    q(INSPECTOR).attest(passed(lineage.bearings, supersedes=second.seq))
    notices = plant_watch.poll()
    assert [(n.kind, n.alert) for n in notices] == [("raised", str(second)), ("acknowledged", str(second)),
                                                    ("superseded", str(second))]
    assert notices[-1].superseded_by == 2


def test_watcher_replays_from_a_block_and_run_stops_after_max(q: World) -> None:
    start = q.session.chain.w3.eth.block_number + 1
    lineage = build_lineage(q)
    ref, _ = q(INSPECTOR).attest(fail(lineage.bearings))
    q(OEM).acknowledge(ref)
    watcher = AlertWatcher(q(PLANT), MILL, from_block=start)
    seen: list[str] = []
    assert watcher.run(lambda n: seen.append(n.kind), poll_interval=0.01, max_notices=2) == 2
    assert seen == ["raised", "acknowledged"]
    stop = threading.Event()
    stop.set()
    assert AlertWatcher(q(PLANT), MILL).run(lambda n: None, stop=stop) == 0


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    statuses: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.statuses.pop(0) if self.statuses else 204
        if status < 300:
            self.received.append({"type": self.headers["Content-Type"], "body": json.loads(body)})
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "statuses": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/qc-alerts", handler
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_notices_are_posted_as_json_to_a_webhook(q: World, webhook: tuple[str, type[_Hook]]) -> None:
    url, hook = webhook
    lineage = build_lineage(q)
    watcher = AlertWatcher(q(PLANT), MILL)
    watcher.poll()
    ref, _ = q(INSPECTOR).attest(fail(lineage.bearings))
    q(REGULATOR).acknowledge(ref)
    forwarder = WebhookForwarder(url, backoff=0.01)
    for notice in watcher.poll():
        forwarder.send(notice)
    assert [r["type"] for r in hook.received] == ["application/json"] * 2
    bodies = [r["body"] for r in hook.received]
    assert [(b["kind"], b["alert"], b["org"]) for b in bodies] == [
        ("raised", "bearings-1#1", "mill-plant"), ("acknowledged", "bearings-1#1", "mill-plant")]
    assert bodies[1]["by"] == "regulator"
    # Enums by name, as --json prints them: a number would change meaning when an enum gains a member.
    assert (bodies[0]["severity"], bodies[0]["outcome"]) == ("MAJOR", "FAIL")


def test_webhook_retries_server_errors_and_gives_up_on_client_errors(
    q: World, webhook: tuple[str, type[_Hook]]
) -> None:
    url, hook = webhook
    lineage = build_lineage(q)
    watcher = AlertWatcher(q(PLANT), MILL)
    watcher.poll()
    q(INSPECTOR).attest(fail(lineage.bearings))
    (notice,) = watcher.poll()
    hook.statuses.extend([503, 500])
    WebhookForwarder(url, retries=2, backoff=0.01).send(notice)  # third attempt succeeds
    assert len(hook.received) == 1
    hook.statuses.extend([400])
    with pytest.raises(ForwardError, match="HTTP 400"):
        WebhookForwarder(url, retries=5, backoff=0.01).send(notice)
    assert hook.statuses == []  # a 400 is not retried
    with pytest.raises(ForwardError, match="unreachable"):
        WebhookForwarder("http://127.0.0.1:9/none", retries=0, timeout=1).send(notice)
    with pytest.raises(ConfigError, match="http:// or https://"):
        WebhookForwarder("ftp://example.com")


def test_mqtt_forwarder_names_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="wildcards"):
        MqttForwarder("127.0.0.1", 1883, "alerts/#")
    with pytest.raises(ConfigError, match=r"mqtt://HOST\[:PORT\]"):
        MqttForwarder.from_url("mqtt://broker:port", "alerts")
    with pytest.raises(ForwardError, match="unreachable"):
        MqttForwarder("127.0.0.1", 9, "alerts")


# ---------------------------------------------------------------------------------------------- verification


def test_verify_report_accepts_the_opened_document_and_single_disclosures(q: World, tmp_path: Path) -> None:
    lineage = build_lineage(q)
    report = SaltedDocument.commit({"standard": "ISO 492", "runout-um": "14"})
    q(INSPECTOR).attest(passed(lineage.housings))
    q(INSPECTOR).attest(fail(lineage.bearings, report=HexBytes(report.root)))
    q(INSPECTOR).attest(fail(lineage.bearings, 2, report=HexBytes(report.root)))  # same report, twice
    opened = tmp_path / "report.json"
    report.save(opened)
    check = q(PLANT).verify_report(opened, lineage.bearings)
    assert (check.ok, check.kind, check.matched) == (True, "document", ["attestation 1", "attestation 2"])
    assert check.fields == {"standard": "ISO 492", "runout-um": "14"}
    assert q(PLANT).verify_report(opened, lineage.bearings, seq=2).matched == ["attestation 2"]

    disclosed = tmp_path / "runout.json"
    disclosed.write_text(report.disclose("runout-um").model_dump_json())
    check = q(PLANT).verify_report(disclosed, lineage.bearings, seq=1)
    assert (check.ok, check.kind, check.fields) == (True, "disclosure", {"runout-um": "14"})

    # The lot's own data document verifies against its registration.
    data = tmp_path / "lot.json"
    lineage.bearings_data.save(data)
    assert q(PLANT).verify_report(data, lineage.bearings).matched == ["lot data"]
    assert not q(PLANT).verify_report(opened, lineage.housings).ok


def test_verify_report_refuses_altered_or_foreign_files(q: World, tmp_path: Path) -> None:
    lineage = build_lineage(q)
    report = SaltedDocument.commit({"standard": "ISO 492", "runout-um": "14"})
    q(INSPECTOR).attest(fail(lineage.bearings, report=HexBytes(report.root)))
    altered = json.loads(report.model_dump_json())
    altered["fields"]["runout-um"]["value"] = "0x38"  # "8"
    path = tmp_path / "altered.json"
    path.write_text(json.dumps(altered))
    with pytest.raises(VerificationFailed, match="the document was altered"):
        q(PLANT).verify_report(path, lineage.bearings)

    lie = report.disclose("runout-um").model_copy(update={"value": "0x38"})
    path.write_text(lie.model_dump_json())
    assert not q(PLANT).verify_report(path, lineage.bearings).ok

    for content, message in (("[]", "no JSON object"), ("{", "cannot read"), ('{"x": 1}', "neither an opened")):
        path.write_text(content)
        with pytest.raises(ConfigError, match=message):
            q(PLANT).verify_report(path, lineage.bearings)
    with pytest.raises(ConfigError, match=r"attestations 1\.\.1, not 5"):
        q(PLANT).verify_report(tmp_path / "altered.json", lineage.bearings, seq=5)


# ---------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(("text", "units"), [("250", 250_000_000), ("12.5", 12_500_000), ("0.000001", 1),
                                             ("1_000", 1_000_000_000), ("42u", 42), (7, 7)])
def test_amounts_parse_exactly(text: str | int, units: int) -> None:
    assert parse_amount(text) == units


@pytest.mark.parametrize(("text", "message"), [("ten", "not a number"), ("-1", "non-negative"),
                                               ("0.0000001", "more than 6 decimal places"), ("inf", "non-negative"),
                                               (-3, "negative")])
def test_bad_amounts_name_the_problem(text: str | int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_amount(text)


def test_amount_formatting_never_goes_through_floats() -> None:
    assert format_amount(12_500_000) == "12.5 mUSD"
    assert format_amount(10**30 + 1) == "1,000,000,000,000,000,000,000,000.000001 mUSD"
    assert format_amount(0) == "0 mUSD"
    assert parse_amount("1000000000000000000000000.000001") == 10**30 + 1


def test_durations_and_addresses() -> None:
    assert [parse_duration(x) for x in ("3d", "12h", "90m", "45s", "2w", "3600", 5)] == [
        259200, 43200, 5400, 45, 1209600, 3600, 5]
    with pytest.raises(ConfigError, match="duration '3 days'"):
        parse_duration("3 days")
    with pytest.raises(ConfigError, match="--to '0x12' is not an address"):
        parse_address("0x12", what="--to")


def test_alert_refs_parse_and_print() -> None:
    ref = AlertRef.parse("lot#with#hashes#3")
    assert (ref.lot.rstrip(b"\0"), ref.seq, str(ref)) == (b"lot#with#hashes", 3, "lot#with#hashes#3")
    for bad in ("bearings", "bearings#", "#2", "bearings#0", "bearings#x"):
        with pytest.raises(ConfigError, match="is not LOT#SEQ"):
            AlertRef.parse(bad)
