"""The console in a real browser against a chain where the demo has played: each view's numbers against the
chain, a live update after a new report, screenshots at 1280x800 and phone width, CJK text rendered."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from millchain.console.render import money
from millchain.leasing import LeaseClient, LeaseStatus
from millchain.quality import QualityClient
from millchain.settlement import SettlementClient
from millchain.units import format_amount
from tests.browser.conftest import DESKTOP, PHONE, Console, start_console, stop
from tests.integration.index_support import ReportingFleet

pytestmark = pytest.mark.integration


def decimals_and_symbol(console: Console, token: str) -> tuple[int, str]:
    contract = console.session.contract("SettlementToken", token)
    return int(contract.functions.decimals().call()), str(contract.functions.symbol().call())


def demo_leases(console: Console) -> dict[str, Any]:
    """The leases the fleet view links to, as the chain has them, by machine."""
    client = LeaseClient(console.session)
    leases = [client.get(int(link, 16)) for link in _lease_links(console)]
    # On a node the demo's names carry its starting block (press-01-b12), so it can run again on the same node.
    return {
        re.sub(r"-b\d+$", "", lease.machine_id): lease for lease in leases if not lease.machine_id.startswith("live-")
    }


def _lease_links(console: Console) -> list[str]:
    html = requests.get(f"{console.url}/fleet", timeout=10).text
    return sorted({part.split('"', 1)[0] for part in html.split('href="/lease/')[1:]})


def test_fleet_shows_every_demo_machine_with_its_escrow_from_the_chain(console: Console, page: Any) -> None:
    page.goto(f"{console.url}/fleet")
    leases = demo_leases(console)
    assert sorted(leases) == ["lathe-02", "mill-03", "press-01"]
    for lease in leases.values():
        decimals, symbol = decimals_and_symbol(console, lease.terms.token)
        assert page.get_by_test_id(f"escrow-{lease.machine_id}").inner_text() == money(lease.escrow, decimals, symbol)
    running = sum(1 for lease in leases.values() if lease.status is LeaseStatus.ACTIVE)
    assert page.get_by_test_id("running").inner_text() == str(running)


def test_lease_page_totals_and_csv_equal_the_chain_statement(console: Console, page: Any) -> None:
    client = LeaseClient(console.session)
    for machine, lease in demo_leases(console).items():
        chain = client.statement(lease.lease_id)
        decimals, symbol = decimals_and_symbol(console, lease.terms.token)
        page.goto(f"{console.url}/lease/{lease.lease_hex}")
        assert page.get_by_test_id("total-units").inner_text() == f"{chain.total_units:,}", machine
        assert page.get_by_test_id("total-billed").inner_text() == money(chain.total_billed, decimals, symbol)
        assert page.locator("[data-testid=chart-counter] svg polyline").count() == 1
        with page.expect_download() as download:
            page.get_by_test_id("csv").click()
        rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
        assert rows[0][4] == f"amount ({symbol})"
        body, total = rows[1:-1], rows[-1]
        assert [int(r[3]) for r in body] == [line.units for line in chain.lines]
        assert [r[4] for r in body] == [format_amount(line.amount, decimals) for line in chain.lines]
        assert total[4] == format_amount(chain.total_billed, decimals)


def test_quality_view_shows_the_lineage_the_acknowledged_alert_and_the_paid_claim(console: Console, page: Any) -> None:
    qc = QualityClient(console.session)
    page.goto(f"{console.url}/quality")
    assert page.get_by_test_id("lots").inner_text() == str(len(qc.graph().lots))
    [alert] = qc.alerts()
    assert page.locator("[data-testid=lineage] g.failed text.lotname").text_content() == alert.lot_id
    assert sorted(page.locator("[data-testid=lineage] g.warned text.lotname").all_text_contents()) == sorted(
        alert.downstream_lots
    )
    alert_row = page.get_by_test_id("alerts").locator("tbody tr").inner_text()
    for org in alert.acknowledged:
        assert f"✓ {org}" in alert_row
    [claim] = qc.claims()
    decimals, symbol = decimals_and_symbol(console, qc.token.address)
    claim_row = page.get_by_test_id("claim-table").locator("tbody tr").inner_text()
    assert money(claim.paid, decimals, symbol) in claim_row and "paid" in claim_row


def test_orders_view_puts_the_four_flows_side_by_side_with_escrow_and_retention(console: Console, page: Any) -> None:
    client = SettlementClient(console.session)
    page.goto(f"{console.url}/orders")
    order_keys = [bytes.fromhex(k[2:]) for k in _order_keys(console)]
    assert page.get_by_test_id("orders").inner_text() == str(len(order_keys))
    report = client.report(order_keys[0])
    decimals, symbol = decimals_and_symbol(console, report.order.token)
    card = page.get_by_test_id(f"order-{report.order.order_id}")
    assert card.get_by_test_id("order-escrow").inner_text() == money(report.order.escrow, decimals, symbol)
    assert card.get_by_test_id("order-retention").inner_text() == money(report.order.retention, decimals, symbol)
    for flow in ("contract", "logistics", "invoice", "funds"):
        assert card.get_by_test_id(f"flow-{flow}").count() == len(report.shipments)


def _order_keys(console: Console) -> list[str]:
    from millchain.index.queries import events
    from millchain.index.store import open_store

    with open_store(str(console.log.parent / "index.sqlite")) as store:
        return [str(e.args["orderKey"]) for e in events(store, "OrderCreated")]


def test_party_view_shows_only_the_chosen_lessees_leases(console: Console, page: Any) -> None:
    leases = demo_leases(console)
    lessee = next(iter(leases.values())).lessee.lower()
    page.goto(f"{console.url}/party")
    page.get_by_test_id("party-select").select_option(lessee)
    page.wait_for_url("**/party?who=*")
    shown = page.get_by_test_id("party-leases").locator("tbody tr td:first-child").all_inner_texts()
    assert sorted(shown) == sorted(lease.machine_id for lease in leases.values() if lease.lessee.lower() == lessee)


def test_a_new_report_arrives_live_without_reloading(console: Console, page: Any) -> None:
    page.goto(f"{console.url}/fleet")
    page.wait_for_selector("#live.on")
    page.evaluate("window.__sameDocument = true")
    fleet = ReportingFleet.lease(console.session, 1, prefix="live")
    name = fleet.machines[0].name
    page.get_by_test_id(f"units-{name}").wait_for(timeout=15_000)  # the new lease appears on its own
    fleet.report(units=5)
    fleet.report(units=37)
    expect(page.get_by_test_id(f"units-{name}")).to_have_text("37", timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, not reloaded


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "phone"])
def test_every_view_renders_without_layout_breakage_and_is_saved_as_a_screenshot(
    console: Console, browser: Any, artefacts: Path, viewport: dict[str, int]
) -> None:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    lease = demo_leases(console)["press-01"]
    lessee = lease.lessee.lower()
    views = {
        "fleet": "/fleet",
        "lease": f"/lease/{lease.lease_hex}",
        "quality": "/quality",
        "orders": "/orders",
        "party": f"/party?who={lessee}",
    }
    label = "1280x800" if viewport == DESKTOP else "phone"
    for name, path in views.items():
        page.goto(f"{console.url}{path}")
        # Nothing wider than the window except inside the scrolling table frames.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {label} is {overflow}px wider than the window"
        page.screenshot(path=str(artefacts / f"{name}-{label}.png"), full_page=True)
    # CJK: the navigation's Chinese labels are drawn with a font that has the glyphs, not as empty boxes.
    assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '设备品控四流合一')")
    width = page.evaluate(
        "(() => { const c = document.createElement('canvas').getContext('2d');"
        " c.font = '20px sans-serif'; return [c.measureText('设备').width, c.measureText('\\u{10FFFF}').width]; })()"
    )
    assert width[0] > 30 and width[0] != 2 * width[1]
    context.close()


def test_beyond_localhost_needs_the_token_and_a_token_visit_sets_a_cookie(
    demo_session: Any, tmp_path: Path, browser: Any
) -> None:
    from millchain.cli.console import TOKEN_ENV

    token = "s3cret-console-token-0123"
    gated = start_console(demo_session, tmp_path, "--no-follow", env={TOKEN_ENV: token})
    try:
        assert requests.get(f"{gated.url}/fleet", timeout=10).status_code == 401
        assert (
            requests.get(
                f"{gated.url}/fleet", headers={"Authorization": "Bearer wrong-token-0123456789"}, timeout=10
            ).status_code
            == 401
        )
        assert requests.get(
            f"{gated.url}/orders", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).status_code in (200, 400)
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{gated.url}/quality?token={token}")
        assert page.url == f"{gated.url}/quality"  # the token left the address bar for an HttpOnly cookie
        assert page.get_by_test_id("lots").inner_text().isdigit()
        context.close()
    finally:
        stop(gated)


def test_the_demo_ends_by_saying_how_to_open_the_console_on_its_chain(demo_session: Any, project: Any) -> None:
    from millchain.chain import connect
    from millchain.cli.console import console_hint
    from millchain.session import Session

    url = demo_session.chain.w3.provider.endpoint_uri
    assert console_hint(demo_session) == (
        f"console: run `millchain console --network anvil --rpc {url}` and open http://127.0.0.1:8600/"
    )
    assert "--keep-state" in console_hint(demo_session, kept=False)  # a day rolled back is not there to watch
    assert "--keep-state" in console_hint(Session(connect("local"), project=project))


def test_oracle_health_is_read_from_its_metrics_and_an_unreachable_oracle_says_so(demo_session: Any) -> None:
    from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

    from millchain.console.data import ConsoleData
    from millchain.node import free_port

    registry = CollectorRegistry()
    Gauge("oracle_outbox_depth", "pending", registry=registry).set(7)
    confirmed = Counter("oracle_readings_confirmed", "confirmed", ["outcome"], registry=registry)
    confirmed.labels("settled").inc(4)
    confirmed.labels("stale").inc(1)
    port, dead = free_port(), free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        data = ConsoleData(demo_session, None, [f"http://127.0.0.1:{port}/metrics", f"http://127.0.0.1:{dead}/metrics"])
        up, down = data.oracle_health()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert (up["up"], up["outbox"], up["confirmed"], up["rejected"]) == (True, 7, 5, 0)
    assert down["up"] is False and down["error"] == "ConnectionError"


def test_sign_in_with_ethereum_opens_the_console_for_an_allowed_account_only(demo_session: Any, tmp_path: Path) -> None:
    from eth_account import Account
    from eth_account.messages import encode_defunct

    from millchain.chain import dev_accounts

    allowed, stranger = dev_accounts()[5], dev_accounts()[6]
    gated = start_console(demo_session, tmp_path, "--no-follow", "--siwe-allow", allowed.address)
    host = gated.url.removeprefix("http://")

    def sign_in(account: Any, edit: Any = None, signer: Any = None) -> requests.Response:
        message = requests.get(f"{gated.url}/siwe/message", params={"address": account.address}, timeout=10).json()[
            "message"
        ]
        if edit:
            message = edit(message)
        signature = Account.sign_message(encode_defunct(text=message), (signer or account).key).signature.hex()
        return requests.post(
            f"{gated.url}/siwe/login", json={"message": message, "signature": "0x" + signature}, timeout=10
        )

    try:
        assert requests.get(f"{gated.url}/fleet", timeout=10).status_code == 401
        assert (
            f"{host} wants you to sign in with your Ethereum account:\n{allowed.address}\n"
            in requests.get(f"{gated.url}/siwe/message", params={"address": allowed.address}, timeout=10).json()[
                "message"
            ]
        )
        refused = {
            "stranger": sign_in(stranger),
            "other domain": sign_in(allowed, lambda m: m.replace(host, "console.example", 1)),
            "other chain": sign_in(allowed, lambda m: m.replace("Chain ID: 31337", "Chain ID: 1")),
            "made-up nonce": sign_in(
                allowed,
                lambda m: (
                    m.rsplit("Nonce: ", 1)[0] + "Nonce: abcdefgh1234\nIssued At: " + m.rsplit("Issued At: ", 1)[1]
                ),
            ),
            "someone else's signature": sign_in(allowed, signer=stranger),
        }
        for case, answer in refused.items():
            assert answer.status_code == 401, case
        assert "not allowed" in refused["stranger"].json()["error"]
        assert "this console is" in refused["other domain"].json()["error"]
        assert "not the address's" in refused["someone else's signature"].json()["error"]
        ok = sign_in(allowed)
        assert ok.status_code == 200 and ok.json() == {"account": allowed.address}
        assert requests.get(f"{gated.url}/fleet", cookies=ok.cookies, timeout=10).status_code == 200
        assert requests.get(f"{gated.url}/fleet", cookies={"millchain_siwe": "forged"}, timeout=10).status_code == 401
    finally:
        stop(gated)


def test_serving_beyond_localhost_without_a_token_or_sign_in_is_refused() -> None:
    from millchain.console.app import check_exposure
    from millchain.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--host 0\.0\.0\.0 serves the console beyond this machine"):
        check_exposure("0.0.0.0", None)
    check_exposure("0.0.0.0", "a-token-of-16-chars+")
    check_exposure("0.0.0.0", None, siwe_allowed=True)
    check_exposure("127.0.0.1", None)
