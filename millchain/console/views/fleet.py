"""Fleet: every leased machine, its lease and status, today's units, escrow and runway, last report, oracles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from millchain.console.data import ConsoleData
from millchain.console.render import age, badge, e, money, section, short, stat, table, when
from millchain.index import queries
from millchain.leasing import Lease, LeaseStatus
from millchain.types import label_of

STATUS = {
    LeaseStatus.ACTIVE: ("running", "ok"),
    LeaseStatus.SUSPENDED: ("suspended · locked", "bad"),
    LeaseStatus.OFFERED: ("offered", "neutral"),
}


@dataclass(frozen=True)
class FleetLine:
    row: queries.FleetRow
    lease: Lease
    rate_per_hour: float
    """Units per hour so far today."""
    runway_hours: float | None
    """Hours the escrow lasts at that rate (None: nothing billed per hour)."""


def day_start(now: int) -> int:
    return now - now % 86400


def lines(data: ConsoleData) -> list[FleetLine]:
    store = data.need_index()
    now = data.now()
    start = day_start(now)
    out = []
    for row in queries.fleet(store, day_start=start):
        lease = data.leases.get(row.lease_id)
        hours = max((now - start) / 3600, 1 / 60)
        rate = row.units_today / hours
        cost = rate * lease.terms.price_per_unit + lease.terms.price_per_hour
        out.append(FleetLine(row, lease, rate, lease.escrow / cost if cost > 0 else None))
    return out


def status_of(lease: Lease) -> tuple[str, str]:
    return STATUS.get(lease.status, ("idle", "muted"))


def render(data: ConsoleData, params: Mapping[str, str]) -> tuple[str, str]:
    now = data.now()
    fleet = lines(data)
    latest: dict[str, FleetLine] = {}
    for line in fleet:  # a machine leased again shows its newest lease
        latest[label_of(line.row.machine_id)] = line
    running = sum(1 for line in latest.values() if line.lease.status is LeaseStatus.ACTIVE)
    suspended = sum(1 for line in latest.values() if line.lease.status is LeaseStatus.SUSPENDED)
    rows = []
    for machine, line in sorted(latest.items()):
        lease = line.lease
        token = data.token(lease.terms.token)
        text, kind = status_of(lease)
        runway = (
            "—"
            if line.runway_hours is None or lease.status is not LeaseStatus.ACTIVE
            else (f"{line.runway_hours:,.1f} h" if line.runway_hours < 1000 else f"{line.runway_hours / 24:,.0f} d")
        )
        last = line.row.last_report_at
        escrow = money(lease.escrow, token.decimals, token.symbol)
        rows.append(
            (
                f'<a href="/lease/{e(lease.lease_hex)}">{e(machine)}</a>',
                e(short(lease.lease_hex, 8)),
                badge(text, kind),
                f'<span data-testid="units-{e(machine)}">{line.row.units_today:,}</span>',
                f'<span data-testid="escrow-{e(machine)}">{e(escrow)}</span>',
                e(runway),
                e(money(lease.debt, token.decimals, token.symbol)) if lease.debt else "—",
                f'<span title="{e(when(last))}">{e(age(None if last is None else now - last))}</span>',
            )
        )
    oracles = data.oracle_health()
    oracle_rows = [
        (
            e(o["url"]),
            badge("up", "ok") if o["up"] else badge(f"unreachable ({o['error']})", "bad"),
            e(o.get("outbox", "—")),
            e(o.get("confirmed", "—")),
            e(o.get("rejected", "—")),
        )
        for o in oracles
    ]
    body = (
        '<div class="stats">'
        + stat("machines", str(len(latest)), "machines")
        + stat("running", str(running), "running")
        + stat("suspended", str(suspended), "suspended")
        + stat("units today (UTC)", f"{sum(line.row.units_today for line in latest.values()):,}", "units-today")
        + "</div>"
        + section(
            "Machines",
            table(
                ["machine", "lease", "status", "units today", "escrow", "runway", "debt", "last report"],
                rows,
                numeric=(3, 4, 5, 6),
                empty="no leases indexed yet",
                test_id="fleet",
            ),
            "Runway: escrow / (today's units per hour * price per unit + price per hour).",
        )
        + section(
            "Oracles",
            table(
                ["metrics", "health", "outbox", "readings confirmed", "rejected"],
                oracle_rows,
                numeric=(2, 3, 4),
                empty="no oracle configured (--oracle-metrics URL)",
            ),
        )
    )
    return "Fleet · 设备", body
