"""``millchain qc`` as its users meet it. Multi-step flows run against the shared quality chain by handing the
CLI a session on it (every real ``--network local`` invocation starts a fresh chain); one test runs the plain
console script on a fresh embedded chain. Every bad input must exit 1 with one line naming what was wrong."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from millchain.project import Project
from tests.cli_runner import run_cli, run_cli_on
from tests.contracts.test_quality_scenario import (
    CONSORTIUM,
    INSPECTOR,
    OEM,
    PLANT,
    REGULATOR,
    STRANGER,
    SUPPLIER,
    World,
)

Run = Callable[..., tuple[int, str, str]]



@pytest.fixture
def run(q: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run(*args, account=N)``: the console script on the shared quality chain, signing as account N."""

    run_on_chain = run_cli_on(q.session, capsys, monkeypatch)

    def invoke(*args: str, account: int = CONSORTIUM) -> tuple[int, str, str]:
        return run_on_chain("qc", *args, "--account", str(account))

    return invoke


def ok_json(result: tuple[int, str, str]) -> Any:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def fails_with(result: tuple[int, str, str], *fragments: str) -> None:
    code, _, err = result
    assert code == 1
    assert err.startswith("error: ") and err.strip().count("\n") == 0, err
    for fragment in fragments:
        assert fragment in err, err


# ---------------------------------------------------------------------------------------------- flows


def test_membership_from_the_command_line_needs_the_accounts_consent(run: Run, q: World) -> None:
    stranger = q.address(STRANGER)
    invited = ok_json(run("org", "add-member", "mill-plant", stranger, "--json", account=PLANT))
    assert stranger not in invited["members"]  # invited, not yet a member
    joined = ok_json(run("org", "accept", "mill-plant", "--json", account=STRANGER))
    assert stranger in joined["members"]
    left = ok_json(run("org", "leave", "--json", account=STRANGER))
    assert stranger not in left["members"]
    fails_with(run("org", "accept", "mill-plant", account=STRANGER), "QualityLedgerNotInvited")


def test_the_whole_flow_from_the_command_line(run: Run, q: World, tmp_path: Path) -> None:
    stranger = q.address(STRANGER)
    org = ok_json(run("org", "register", "paint-shop", "--admin", stranger, "--json"))
    assert org == {"org_id": "paint-shop", "admin": stranger, "index": 6, "regulator": False}
    shown = ok_json(run("org", "show", "mill-plant", "--json"))
    assert shown["members"] == [q.address(PLANT), q.address(8)]

    inspector = ok_json(run("inspector", "accredit", stranger, "--org", "tuv-lab", "--valid-for", "365d", "--json"))
    assert (inspector["org_id"], inspector["status"], inspector["can_attest"]) == ("tuv-lab", "ACCREDITED", True)
    assert inspector["valid_until"] - q.now() <= 365 * 86400

    lot_file = tmp_path / "bearings.lot.json"
    lot = ok_json(run("lot", "register", "bearings-77", "--product", "bearing-6204", "--quantity", "5000",
                      "--field", "heat=H-5521", "--field", "line=grinding-2", "--save", str(lot_file), "--json",
                      account=SUPPLIER))
    assert (lot["producer"], lot["quantity"], lot["input_count"]) == ("axle-supply", 5000, 0)
    assert json.loads(lot_file.read_text())["root"] == lot["data_commitment"]
    ok_json(run("lot", "register", "gearboxes-77", "--product", "gearbox-g3", "--quantity", "40", "--input",
                "bearings-77", "--json", account=PLANT))
    ok_json(run("lot", "register", "tractors-77", "--product", "tractor-t7", "--quantity", "4", "--input",
                "gearboxes-77", "--json", account=OEM))

    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps({"standard": "ISO 492", "runout-um": "14"}))
    opened = tmp_path / "report.opened.json"
    attestation = ok_json(run("attest", "bearings-77", "--outcome", "fail", "--severity", "major", "--sample",
                              "200", "--defects", "14", "--report", str(report_file), "--save", str(opened),
                              "--uri", "https://lab.example/77", "--json", account=INSPECTOR))
    assert (attestation["ref"], attestation["outcome"], attestation["independent"]) == ("bearings-77#1", "FAIL", True)
    assert attestation["uri"] == "https://lab.example/77"
    shown = ok_json(run("lot", "show", "bearings-77", "--json"))
    assert (shown["producer"], shown["attestation_count"]) == ("axle-supply", 1)
    assert [(a["ref"], a["outcome"], a["severity"], a["uri"]) for a in shown["attestations"]] == [
        ("bearings-77#1", "FAIL", "MAJOR", "https://lab.example/77")]

    alerts = ok_json(run("alerts", "--org", "tractor-oem", "--pending", "--json"))
    assert [(a["ref"], a["affected"]) for a in alerts] == [
        ("bearings-77#1", ["axle-supply", "mill-plant", "tractor-oem", "regulator"])]
    ack = ok_json(run("ack", "bearings-77#1", "--json", account=OEM))
    assert ack["org"] == "tractor-oem" and ack["acknowledged_at"] > 0
    assert ok_json(run("alerts", "--org", "tractor-oem", "--pending", "--json")) == []

    code, out, _ = run("lot", "trace", "gearboxes-77")
    assert code == 0
    assert "upstream of gearboxes-77" in out and "bearings-77" in out and "alerts bearings-77#1" in out
    assert "downstream of gearboxes-77" in out and "tractors-77" in out

    check = ok_json(run("verify-report", str(opened), "--lot", "bearings-77", "--json"))
    assert (check["ok"], check["matched"]) == (True, ["attestation 1"])
    assert ok_json(run("verify-report", str(lot_file), "--lot", "bearings-77", "--json"))["matched"] == ["lot data"]
    fails_with(run("verify-report", str(opened), "--lot", "gearboxes-77"), "matches no commitment of lot gearboxes-77")

    bond = ok_json(run("bond", "show", "axle-supply", "bearing-6204", "--json"))
    claim = ok_json(run("claim", "file", "bearings-77#1", "--json", account=PLANT))
    assert (claim["claim_id"], claim["amount"], claim["consumer_lot"], claim["status"]) == (
        1, 350_000_000, "gearboxes-77", 1)
    ok_json(run("dispute", "1", "--reason", "0x" + "0d" * 32, "--json", account=SUPPLIER))
    ruled = ok_json(run("rule", "1", "--award", "100", "--json"))
    assert (ruled["status"], ruled["paid"]) == (3, 100_000_000)
    after = ok_json(run("bond", "show", "axle-supply", "bearing-6204", "--json"))
    assert after["balance"] == bond["balance"] - 100_000_000
    listed = ok_json(run("claim", "list", "--json"))
    assert [(c["claim_id"], c["status"]) for c in listed] == [(1, 3)]


def test_bond_commands(run: Run, q: World) -> None:
    terms = ok_json(run("bond", "terms", "axle-supply", "seal-kit", "--penalty", "2.5", "--cap", "100",
                        "--window", "2d", "--json", account=SUPPLIER))
    assert terms["terms"] == {"penalty_per_defect": 2_500_000, "claim_cap": 100_000_000, "dispute_window": 172800}
    deposited = ok_json(run("bond", "deposit", "axle-supply", "seal-kit", "250", "--json", account=SUPPLIER))
    assert deposited["balance"] == 250_000_000
    requested = ok_json(run("bond", "withdraw", "axle-supply", "seal-kit", "50", "--to", q.address(STRANGER),
                            "--json", account=SUPPLIER))
    assert (requested["withdrawal_amount"], requested["withdrawal_to"]) == (50_000_000, q.address(STRANGER))
    fails_with(run("bond", "execute-withdrawal", "axle-supply", "seal-kit"), "QualityBondsWithdrawalLocked(")
    code, out, _ = run("bond", "show", "axle-supply", "seal-kit")
    assert code == 0 and "250 mUSD" in out and "pending withdrawal" in out
    cancelled = ok_json(run("bond", "cancel-withdrawal", "axle-supply", "seal-kit", "--json", account=SUPPLIER))
    assert cancelled["withdrawal_amount"] == 0


def test_signed_attestation_relayed_from_the_command_line(run: Run, q: World, tmp_path: Path) -> None:
    ok_json(run("lot", "register", "housings-5", "--product", "housing-g3", "--quantity", "10", "--json",
                account=PLANT))
    signed = tmp_path / "signed.json"
    code, out, err = run("attest", "housings-5", "--outcome", "pass", "--sample", "5", "--sign-only", str(signed),
                         account=INSPECTOR)
    assert code == 0, err
    assert "relay with `millchain qc relay" in out
    relayed = ok_json(run("relay", str(signed), "--json", account=STRANGER))
    assert (relayed["ref"], relayed["inspector_org"], relayed["outcome"]) == ("housings-5#1", "tuv-lab", "PASS")
    fails_with(run("relay", str(signed), account=STRANGER), "QualityLedgerInvalidNonce(")


def test_an_inspector_signs_ahead_and_cancels_from_the_command_line(run: Run, q: World, tmp_path: Path) -> None:
    ok_json(run("lot", "register", "housings-6", "--product", "housing-g3", "--quantity", "10", "--json",
                account=PLANT))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    attest = ("attest", "housings-6", "--outcome", "fail", "--severity", "major", "--sample", "5", "--defects", "2")
    assert ok_json(run(*attest, "--sign-only", str(first), "--json", account=INSPECTOR))["nonce"] == 0
    assert ok_json(run(*attest, "--sign-only", str(second), "--nonce", "1", "--json", account=INSPECTOR))["nonce"] == 1
    fails_with(run(*attest, "--nonce", "1", account=INSPECTOR), "--nonce only applies to a signature")
    cancelled = ok_json(run("cancel-signed", "--up-to", "2", "--json", account=INSPECTOR))
    assert cancelled == {"inspector": q.address(INSPECTOR), "nonce": 2}
    fails_with(run("relay", str(first), account=STRANGER), "QualityLedgerInvalidNonce(", "expected=2")
    fails_with(run("relay", str(second), account=STRANGER), "QualityLedgerInvalidNonce(", "nonce=1")


def test_watch_forwards_notices_to_a_webhook(run: Run, q: World) -> None:
    from millchain.quality import play_quality_story

    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        start = q.session.chain.w3.eth.block_number + 1
        play_quality_story(q.session, say=lambda *a: None)
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        code, out, err = run("watch", "--org", "tractor-oem", "--from-block", str(start), "--max", "5",
                             "--interval", "0.05", "--webhook", url, "--json")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(n["kind"], n.get("by")) for n in lines] == [
        ("raised", None), ("acknowledged", "mill-plant"), ("acknowledged", "tractor-oem"),
        ("acknowledged", "regulator"), ("acknowledged", "axle-supply")]
    assert (lines[0]["severity"], lines[0]["outcome"]) == ("MAJOR", "FAIL")  # names, as every --json prints
    assert received == lines


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("args", "fragments"), [
    (("org", "register", "x", "--admin", "0x123"), ("--admin '0x123' is not an address",)),
    (("org", "register", "y" * 33, "--admin", "0x" + "11" * 20), ("organisation id", "33 bytes")),
    (("inspector", "accredit", "0x" + "11" * 20, "--org", "tuv-lab", "--valid-for", "soon"), ("duration 'soon'",)),
    (("attest", "lot-1", "--outcome", "broken"), ("--outcome 'broken' is not one of: none, pass, conditional, fail",)),
    (("attest", "lot-1", "--outcome", "fail", "--severity", "huge"), ("--severity 'huge'",)),
    (("attest", "lot-1", "--outcome", "pass", "--field", "novalue"), ("--field 'novalue' is not NAME=VALUE",)),
    (("attest", "lot-1", "--outcome", "pass", "--field", "a=1"), ("pass --save FILE",)),
    (("attest", "lot-1", "--outcome", "pass", "--commitment", "0x12"), ("must be 0x + 64 hex digits",)),
    (("ack", "lot-1"), ("is not LOT#SEQ",)),
    (("bond", "deposit", "axle-supply", "bearing-6204", "lots"), ("amount 'lots' is not a number",)),
    (("bond", "deposit", "axle-supply", "bearing-6204", "1.0000001"), ("more than 6 decimal places",)),
    (("bond", "terms", "axle-supply", "b", "--penalty", "1", "--cap", "1", "--window", "3 days"), ("duration",)),
    (("rule", "1", "--award", "-5"), ("non-negative",)),
    (("watch", "--org", "nobody"), ("QualityLedgerUnknownOrganisation(",)),
    (("watch", "--org", "mill-plant", "--webhook", "ftp://x"), ("http:// or https://",)),
    (("lot", "show", "nowhere"), ("QualityLedgerUnknownLot(lotId=0x6e6f7768657265",)),
    (("claim", "show", "9"), ("QualityBondsUnknownClaim(claimId=9)",)),
])
def test_bad_input_exits_1_naming_what_was_wrong(run: Run, args: tuple[str, ...], fragments: tuple[str, ...]
                                                 ) -> None:
    fails_with(run(*args), *fragments)


def test_fields_are_never_committed_over_an_existing_opened_document(run: Run, tmp_path: Path) -> None:
    existing = tmp_path / "kept.json"
    existing.write_text("{}")
    fails_with(run("lot", "register", "l-1", "--product", "p", "--quantity", "1", "--field", "a=1", "--save",
                   str(existing), account=SUPPLIER), "already exists")
    fails_with(run("lot", "register", "l-1", "--product", "p", "--quantity", "1", "--field", "a=1",
                   "--commitment", "0x" + "11" * 32, "--save", str(tmp_path / "n.json"), account=SUPPLIER),
               "not both")


def test_reverts_print_the_decoded_error(run: Run, q: World) -> None:
    fails_with(run("org", "register", "x", "--admin", q.address(STRANGER), account=SUPPLIER),
               "AccessControlUnauthorizedAccount(")
    fails_with(run("ack", "bearings-1#1", account=STRANGER), "belongs to no organisation")
    fails_with(run("inspector", "suspend", q.address(REGULATOR)), "QualityLedgerUnexpectedInspectorStatus(",
               "status=0")


def test_qc_on_a_fresh_embedded_chain_without_any_setup(compiled: Project, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_cli(capsys, monkeypatch, "qc", "org", "register", "solo", "--admin",
                             "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "--regulator", "--json")
    assert code == 0, err
    assert json.loads(out) == {"org_id": "solo", "admin": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                               "index": 1, "regulator": True}


def test_a_tampered_disclosure_says_it_matches_none_of_the_lots_commitments(
    q: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = run_cli_on(q.session, capsys, monkeypatch)
    opened, disclosed = tmp_path / "report.opened.json", tmp_path / "rate.json"
    code, _, err = cli("qc", "lot", "register", "bearings-78", "--product", "bearing-6204", "--quantity", "50",
                       "--account", str(SUPPLIER))
    assert code == 0, err
    code, _, err = cli("qc", "attest", "bearings-78", "--outcome", "pass", "--field", "defect-rate=0.1%",
                       "--save", str(opened), "--account", str(INSPECTOR))
    assert code == 0, err
    code, _, err = cli("disclose", str(opened), "defect-rate", "--out", str(disclosed))
    assert code == 0, err
    tampered = json.loads(disclosed.read_text())
    assert tampered["value"] == "0x" + b"0.1%".hex()
    tampered["value"] = "0x" + b"0.0%".hex()  # the supplier would rather it read 0
    disclosed.write_text(json.dumps(tampered))
    code, _, err = cli("verify-disclosure", str(disclosed), "--lot", "bearings-78")
    assert code == 1
    assert "does not match any commitment of lot bearings-78 (its value or salt was altered" in err
    assert "no commitment" not in err
