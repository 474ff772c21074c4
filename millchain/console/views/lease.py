"""One lease: counters and billing over time, top-ups, suspensions, the statement (CSV in tokens and dates)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from millchain.console.charts import time_chart
from millchain.console.data import ConsoleData
from millchain.console.render import badge, e, money, section, stat, table, when
from millchain.console.views.fleet import status_of
from millchain.index import queries
from millchain.leasing import Statement, parse_lease_id
from millchain.units import format_amount


def statement(data: ConsoleData, lease_id: int) -> Statement:
    """From the index when there is one, else from the chain: the same Statement either way."""
    lease = data.leases.get(lease_id)
    if data.store is not None:
        return queries.statement(data.store, lease)
    return data.leases.statement(lease_id)


def statement_csv(data: ConsoleData, lease_text: str) -> tuple[str, str]:
    """(file name, CSV) of a lease's statement, amounts in tokens, times in UTC."""
    lease_id = parse_lease_id(lease_text)
    found = statement(data, lease_id)
    token = data.token(found.lease.terms.token)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date (UTC)", "block", "counter", "units", f"amount ({token.symbol})", "transaction"])
    for line in found.lines:
        writer.writerow(
            [
                when(line.time).removesuffix(" UTC"),
                line.block,
                line.counter,
                line.units,
                format_amount(line.amount, token.decimals),
                line.tx_hash,
            ]
        )
    writer.writerow(["total", "", "", found.total_units, format_amount(found.total_billed, token.decimals), ""])
    return f"statement-{found.lease.machine_id}-{found.lease.lease_hex[:12]}.csv", out.getvalue()


def render(data: ConsoleData, params: Mapping[str, str]) -> tuple[str, str]:
    lease_id = parse_lease_id(params["lease"])
    found = statement(data, lease_id)
    lease = found.lease
    token = data.token(lease.terms.token)
    scale = 10**token.decimals
    counter_series = [(line.time, float(line.counter)) for line in found.lines]
    billed, running = [], 0
    for line in found.lines:
        running += line.amount
        billed.append((line.time, running / scale))
    store = data.store
    topups = [] if store is None else queries.events(store, "EscrowToppedUp", subject=lease_id.to_bytes(32, "big"))
    pauses = (
        []
        if store is None
        else queries.events(store, ["LeaseSuspended", "LeaseResumed"], subject=lease_id.to_bytes(32, "big"))
    )
    marks = [(t.time, "top-up") for t in topups] + [
        (p.time, "suspended" if p.event == "LeaseSuspended" else "resumed") for p in pauses
    ]
    text, kind = status_of(lease)
    body = (
        '<div class="stats">'
        + stat("machine", e(lease.machine_id))
        + stat("status", badge(text, kind))
        + stat("units billed", f"{found.total_units:,}", "total-units")
        + stat("billed", e(money(found.total_billed, token.decimals, token.symbol)), "total-billed")
        + stat("escrow", e(money(lease.escrow, token.decimals, token.symbol)), "escrow")
        + stat("price per unit", e(money(lease.terms.price_per_unit, token.decimals, token.symbol)))
        + "</div>"
        + '<div class="charts">'
        + time_chart(
            "Machine counter (cumulative)",
            {"counter": counter_series},
            unit="units",
            marks=marks,
            test_id="chart-counter",
        )
        + time_chart(
            f"Billed (cumulative, {token.symbol})",
            {"billed": billed},
            unit=token.symbol,
            marks=marks,
            test_id="chart-billed",
        )
        + "</div>"
        + section(
            "Top-ups",
            table(
                ["time", "payer", "amount", "debt paid", "escrow after"],
                [
                    (
                        e(when(t.time)),
                        e(t.args["payer"]),
                        e(money(t.args["amount"], token.decimals, token.symbol)),
                        e(money(t.args["debtPaid"], token.decimals, token.symbol)),
                        e(money(t.args["escrow"], token.decimals, token.symbol)),
                    )
                    for t in topups
                ],
                numeric=(2, 3, 4),
            ),
        )
        + section(
            "Suspensions",
            table(
                ["time", "event", "debt / escrow"],
                [
                    (
                        e(when(p.time)),
                        badge("suspended", "bad") if p.event == "LeaseSuspended" else badge("resumed", "ok"),
                        e(money(p.args.get("debt", p.args.get("escrow", 0)), token.decimals, token.symbol)),
                    )
                    for p in pauses
                ],
                numeric=(2,),
            ),
        )
        + section(
            "Statement",
            f'<p><a class="button" href="/lease/{e(lease.lease_hex)}/statement.csv" '
            f'data-testid="csv">Download CSV ({e(token.symbol)}, UTC dates)</a></p>'
            + table(
                ["time", "block", "counter", "units", "amount"],
                [
                    (
                        e(when(line.time)),
                        e(line.block),
                        f"{line.counter:,}",
                        f"{line.units:,}",
                        e(money(line.amount, token.decimals, token.symbol)),
                    )
                    for line in reversed(found.lines[-50:])
                ],
                numeric=(1, 2, 3, 4),
                test_id="statement",
            ),
            "The last 50 reports, newest first; the CSV has them all.",
        )
    )
    return f"Lease {lease.machine_id}", body
