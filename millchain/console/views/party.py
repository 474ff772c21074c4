"""A party's view: pick an account or an organisation and see only the leases, orders, alerts, claims and bonds
that concern it."""

from __future__ import annotations

from collections.abc import Mapping

from millchain.console.data import ConsoleData
from millchain.console.render import badge, e, money, section, short, table
from millchain.console.views.fleet import status_of
from millchain.console.views.orders import order_card, order_keys
from millchain.index import queries
from millchain.types import label_of


def parties(data: ConsoleData) -> tuple[list[str], list[str]]:
    """(accounts, organisations) the index has seen in leases, orders and the quality ledger."""
    store = data.need_index()
    accounts: set[str] = set()
    for ev in queries.events(store, ["LeaseOffered", "LeaseOpened", "OrderCreated"]):
        for role in ("lessor", "lessee", "buyer", "supplier", "carrier"):
            if role in ev.args:
                accounts.add(str(ev.args[role]).lower())
    orgs = [
        label_of(bytes.fromhex(str(ev.args["orgId"])[2:])) for ev in queries.events(store, "OrganisationRegistered")
    ]
    return sorted(accounts), orgs


def render(data: ConsoleData, params: Mapping[str, str]) -> tuple[str, str]:
    accounts, orgs = parties(data)
    who = params.get("who", "").strip()
    options = ['<option value="">— choose —</option>']
    options += [
        f'<option value="{e(a)}"{" selected" if a == who.lower() else ""}>account {e(a)}</option>' for a in accounts
    ]
    options += [f'<option value="{e(o)}"{" selected" if o == who else ""}>organisation {e(o)}</option>' for o in orgs]
    picker = (
        f'<form method="get" action="/party" class="picker"><label>Party <select name="who" '
        f'data-testid="party-select" data-autosubmit>{"".join(options)}</select></label>'
        "<noscript><button>Show</button></noscript></form>"
    )
    if not who:
        return "Party · 参与方", picker + '<p class="muted">Pick an account or an organisation.</p>'
    is_account = who.lower() in accounts
    body = [picker]
    qc, settlement = data.quality, data.settlement  # one client each for the page: one index position
    org = who if not is_account else None
    if is_account:
        member_of = qc.organisation_of(who)
        org = label_of(member_of) if member_of else None
        lease_rows = []
        for row in queries.fleet(data.need_index(), day_start=0):
            lease = data.leases.get(row.lease_id)
            roles = {lease.lessor.lower(): "lessor", lease.lessee.lower(): "lessee"}
            role = roles.get(who.lower())
            if role is None:
                continue
            token = data.token(lease.terms.token)
            text, kind = status_of(lease)
            lease_rows.append(
                (
                    f'<a href="/lease/{e(lease.lease_hex)}">{e(lease.machine_id)}</a>',
                    e(role),
                    badge(text, kind),
                    e(money(lease.escrow, token.decimals, token.symbol)),
                )
            )
        body.append(
            section(
                "Leases",
                table(["machine", "role", "status", "escrow"], lease_rows, numeric=(3,), test_id="party-leases"),
            )
        )
        cards = []
        for key in order_keys(data):
            report = settlement.report(key)
            if who.lower() in (report.order.buyer.lower(), report.order.supplier.lower(), report.order.carrier.lower()):
                cards.append(order_card(data, report))
        body.append(section("Orders", "".join(cards) or '<p class="muted">no orders</p>'))
        body.append(f'<p class="muted">Member of organisation: {e(org or "none")}</p>')
    if org:
        alerts = [a for a in qc.alerts() if org in a.affected or a.producer == org]
        body.append(
            section(
                f"Alerts concerning {org}",
                table(
                    ["alert", "severity", "producer", "acknowledged by this party"],
                    [
                        (
                            e(a.ref),
                            badge(a.severity.name.lower(), "bad"),
                            e(a.producer),
                            badge("yes", "ok")
                            if org in a.acknowledged
                            else badge("pending", "warn")
                            if org in a.pending
                            else "—",
                        )
                        for a in alerts
                    ],
                    test_id="party-alerts",
                ),
            )
        )
        claims = [c for c in qc.claims() if org in (c.claimant, c.supplier)]
        token = data.token(qc.token.address)
        body.append(
            section(
                "Claims",
                table(
                    ["id", "role", "amount", "paid", "status"],
                    [
                        (
                            e(c.claim_id),
                            e("claimant" if c.claimant == org else "supplier"),
                            e(money(c.amount, token.decimals, token.symbol)),
                            e(money(c.paid, token.decimals, token.symbol)),
                            badge(c.status.name.lower()),
                        )
                        for c in claims
                    ],
                    numeric=(2, 3),
                    test_id="party-claims",
                ),
            )
        )
    title = f"Party · {short(who, 8)}"
    return title, "".join(body)
