"""Quality: lots and their lineage, attestations, open alerts and who acknowledged them, bonds and claims."""

from __future__ import annotations

from collections.abc import Mapping

from millchain.console.charts import lineage_graph
from millchain.console.data import ConsoleData
from millchain.console.render import age, badge, e, money, section, stat, table, when
from millchain.index import queries
from millchain.quality import Alert, ClaimStatus, LotGraph, Outcome, Severity
from millchain.types import label_of

SEVERITY_KIND = {Severity.CRITICAL: "bad", Severity.MAJOR: "bad", Severity.MINOR: "warn", Severity.NONE: "ok"}


def lineage(graph: LotGraph, alerts: list[Alert]) -> str:
    depth: dict[bytes, int] = {}
    for lot, node in graph.lots.items():  # inputs are registered before their consumers
        depth[lot] = 1 + max((depth.get(i, 0) for i in node.inputs), default=-1)
    columns: list[list[str]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    for lot_key, d in depth.items():
        columns[d].append(label_of(lot_key))
    edges = [(label_of(i), label_of(lot)) for lot, node in graph.lots.items() for i in node.inputs]
    styles: dict[str, str] = {}
    notes = {label_of(lot): f"{label_of(node.producer)} · {node.quantity:,} pcs" for lot, node in graph.lots.items()}
    for alert in alerts:
        if not alert.active:
            continue
        for downstream in alert.downstream_lots:
            styles.setdefault(downstream, "warned")
        styles[alert.lot_id] = "failed"
    return lineage_graph(columns, edges, styles, notes) if graph.lots else '<p class="muted">no lots yet</p>'


def _acks(alert: Alert) -> str:
    marks = [badge(f"✓ {org}", "ok") for org in alert.acknowledged]
    marks += [badge(f"… {org}", "warn") for org in alert.pending]
    return " ".join(marks)


def render(data: ConsoleData, params: Mapping[str, str]) -> tuple[str, str]:
    qc = data.quality
    now = data.now()
    graph = qc.graph()
    alerts = qc.alerts()
    token = data.token(qc.token.address)
    open_alerts = [a for a in alerts if a.active and a.pending]
    attestation_rows = []
    for lot in list(graph.lots)[:50]:
        for att in qc.attestations(lot):
            kind = "bad" if att.outcome is Outcome.FAIL else "ok" if att.outcome is Outcome.PASS else "warn"
            attestation_rows.append(
                (
                    e(att.ref),
                    badge(att.outcome.name.lower(), kind),
                    badge(att.severity.name.lower(), SEVERITY_KIND[att.severity]),
                    e(att.inspector_org),
                    f"{att.defects:,} / {att.sample_size:,}",
                    e(when(att.attested_at)),
                )
            )
    alert_rows = [
        (
            e(a.ref),
            badge(a.severity.name.lower(), SEVERITY_KIND[a.severity]),
            e(a.inspector_org),
            e(", ".join(a.downstream_lots) or "—"),
            _acks(a),
        )
        for a in alerts
        if a.active
    ]
    bond_rows = []
    if data.store is not None:
        seen: set[tuple[str, str]] = set()
        for deposit in queries.events(data.store, "BondDeposited"):
            key = (str(deposit.args["orgId"]), str(deposit.args["productId"]))
            if key in seen:
                continue
            seen.add(key)
            bond = qc.bond(bytes.fromhex(key[0][2:]), bytes.fromhex(key[1][2:]))
            bond_rows.append(
                (
                    e(bond.org_id),
                    e(bond.product_id),
                    e(money(bond.balance, token.decimals, token.symbol)),
                    e(money(bond.locked, token.decimals, token.symbol)),
                    e(money(bond.free, token.decimals, token.symbol)),
                    e(when(bond.unlock_at) if bond.withdrawal_amount else "—"),
                )
            )
    claim_rows = []
    for claim in qc.claims():
        open_ = claim.status in (ClaimStatus.FILED, ClaimStatus.DISPUTED)
        due = when(claim.deadline)
        if open_:
            left = claim.deadline - now
            due += f" (in {age(left).removesuffix(' ago')})" if left > 0 else f" (passed {age(-left)})"
        claim_rows.append(
            (
                e(claim.claim_id),
                e(f"{claim.lot_id}#{claim.seq}"),
                e(claim.claimant),
                e(claim.supplier),
                e(money(claim.amount, token.decimals, token.symbol)),
                e(money(claim.paid, token.decimals, token.symbol)),
                badge(claim.status.name.lower(), "warn" if open_ else "ok"),
                e(due),
            )
        )
    body = (
        '<div class="stats">'
        + stat("lots", str(len(graph.lots)), "lots")
        + stat("open alerts", str(len(open_alerts)), "open-alerts")
        + stat("claims", str(len(claim_rows)), "claims")
        + "</div>"
        + section(
            "Lot lineage",
            lineage(graph, alerts),
            "Inputs on the left, what was built from them to the right; red: an active alert, amber: "
            "built from an alerted lot.",
        )
        + section(
            "Alerts and acknowledgements",
            table(
                ["alert", "severity", "raised by", "downstream lots", "acknowledged (✓) / pending (…)"],
                alert_rows,
                test_id="alerts",
            ),
        )
        + section(
            "Attestations",
            table(
                ["lot#seq", "outcome", "severity", "inspector", "defects / sample", "at"],
                attestation_rows,
                test_id="attestations",
            ),
        )
        + section(
            "Quality bonds",
            table(
                ["supplier", "product", "balance", "locked by claims", "free", "withdrawal unlocks"],
                bond_rows,
                numeric=(2, 3, 4),
                test_id="bonds",
            ),
        )
        + section(
            "Claims",
            table(
                ["id", "alert", "claimant", "supplier", "amount", "paid", "status", "deadline"],
                claim_rows,
                numeric=(4, 5),
                test_id="claim-table",
            ),
        )
    )
    return "Quality · 品控", body
