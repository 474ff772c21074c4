"""The demo's HTML report: one self-contained file (inline CSS and SVG, no scripts, nothing fetched), so it
opens the same on an air-gapped factory PC as in a browser on a laptop."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from millchain.units import format_amount

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}td,th{border:1px solid #ddd;padding:.3rem .6rem;
text-align:left}th{background:#f4f6f8}.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:1.2rem}.chart{border:1px solid #e3e3e3;border-radius:6px;padding:.4rem}
.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3a;font-weight:600}.muted{color:#666;font-size:.85rem}
.flow{display:grid;grid-template-columns:repeat(4,1fr);gap:.8rem}.card{border:1px solid #ddd;border-radius:6px;
padding:.6rem}.card h3{margin:.1rem 0 .4rem;font-size:1rem}code{font-size:.8rem}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def mUSD(amount: int) -> str:
    return format_amount(int(amount), 6) + " mUSD"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if i in numeric else ""}">{_e(c)}</td>' for i, c in enumerate(row))
        + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def line_chart(title: str, series: Mapping[str, Sequence[tuple[float, float]]], *, y_label: str,
               width: int = 520, height: int = 240) -> str:
    """An SVG line chart of named (x, y) series with axes, ticks and a legend."""
    pad_l, pad_r, pad_t, pad_b = 64, 16, 28, 40
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    x_max = max(p[0] for p in points) or 1
    y_max = max(p[1] for p in points) or 1

    def sx(x: float) -> float:
        return pad_l + (width - pad_l - pad_r) * x / x_max

    def sy(y: float) -> float:
        return height - pad_b - (height - pad_t - pad_b) * y / y_max

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_e(title)}"><text x="{pad_l}" y="16" font-size="13" font-weight="600">{_e(title)}</text>',
             f'<line x1="{pad_l}" y1="{sy(0)}" x2="{width - pad_r}" y2="{sy(0)}" stroke="#999"/>',
             f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{sy(0)}" stroke="#999"/>']
    for i in range(5):
        y = y_max * i / 4
        parts.append(f'<text x="{pad_l - 6}" y="{sy(y) + 4}" font-size="10" text-anchor="end">{y:,.0f}</text>'
                     f'<line x1="{pad_l}" y1="{sy(y)}" x2="{width - pad_r}" y2="{sy(y)}" stroke="#eee"/>')
        x = x_max * i / 4
        parts.append(f'<text x="{sx(x)}" y="{height - pad_b + 14}" font-size="10" text-anchor="middle">{x:g}</text>')
    parts.append(f'<text x="{(width + pad_l) / 2}" y="{height - 6}" font-size="11" text-anchor="middle">hours</text>')
    parts.append(f'<text x="12" y="{(height - pad_b + pad_t) / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {(height - pad_b + pad_t) / 2})">{_e(y_label)}</text>')
    for k, (name, values) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        parts.append(f'<rect x="{pad_l + 10 + 120 * k}" y="{pad_t - 2}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{pad_l + 24 + 120 * k}" y="{pad_t + 7}" font-size="11">{_e(name)}</text>')
    parts.append("</svg>")
    return f'<div class="chart">{"".join(parts)}</div>'


def leasing_section(part: Mapping[str, Any]) -> str:
    timeline = part["timeline"]
    names = list(timeline[0]["machines"]) if timeline else []

    def series(key: str, scale: float = 1.0) -> dict[str, list[tuple[float, float]]]:
        return {n: [(row["hour"], row["machines"][n][key] / scale) for row in timeline] for n in names}

    charts = (line_chart("Parts produced and billed (cumulative counter)", series("counter"), y_label="parts")
              + line_chart("Paid to the machine maker (mUSD)", series("billed", 1e6), y_label="mUSD")
              + line_chart("Escrow left (mUSD)", series("escrow", 1e6), y_label="mUSD"))
    summary = table(["machine", "lease", "parts billed", "billed", "first counter", "last counter"],
                    [(n, s["lease"], s["units"], mUSD(s["billed"]), s["anchor"], s["counter"])
                     for n, s in part["summary"].items()], numeric=(2, 3, 4, 5))
    commands = table(["machine", "command", "reason"], [(m, c, r) for m, c, _lease, r in part["commands"]])
    return (f"<h2>Pay-per-use leasing</h2><p>Three machines leased per part; the edge oracle signs their "
            f"counters and settles them in batches. A dry escrow suspends the lease and the oracle locks the "
            f"machine; a top-up unlocks it. Refund at close: {mUSD(part['refund'])}.</p>"
            f'<div class="charts">{charts}</div>{summary}<h3>Lock commands sent by the oracle</h3>{commands}')


def lineage_svg(lots: Mapping[str, str], failed: str, downstream: Sequence[str]) -> str:
    """Component lots on the left, what was built from them to the right; the failed lot and everything
    downstream of it marked."""
    columns = [[lots["bearings"], lots["housings"]], [lots["gearboxes"]], [lots["tractors"]]]
    edges = [(lots["bearings"], lots["gearboxes"]), (lots["housings"], lots["gearboxes"]),
             (lots["gearboxes"], lots["tractors"])]
    box_w, box_h, gap_x, gap_y = 170, 44, 90, 26
    where: dict[str, tuple[float, float]] = {}
    for c, column in enumerate(columns):
        for r, lot in enumerate(column):
            where[lot] = (20 + c * (box_w + gap_x), 40 + r * (box_h + gap_y) + (box_h + gap_y) / 2 * (2 - len(column)))
    width = 40 + len(columns) * box_w + (len(columns) - 1) * gap_x
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="190" role="img" '
             f'aria-label="lot lineage"><defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" '
             f'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#777"/></marker></defs>']
    for src, dst in edges:
        (x1, y1), (x2, y2) = where[src], where[dst]
        parts.append(f'<line x1="{x1 + box_w}" y1="{y1 + box_h / 2}" x2="{x2 - 4}" y2="{y2 + box_h / 2}" '
                     f'stroke="#777" stroke-width="1.5" marker-end="url(#arrow)"/>')
    for lot, (x, y) in where.items():
        fill, stroke, note = "#fff", "#999", ""
        if lot == failed:
            fill, stroke, note = "#fde2e4", "#b00020", "FAILED inspection"
        elif lot in downstream:
            fill, stroke, note = "#fff4e0", "#d9822b", "alerted downstream"
        parts.append(f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="2"/><text x="{x + 10}" y="{y + 18}" font-size="13" '
                     f'font-weight="600">{_e(lot)}</text><text x="{x + 10}" y="{y + 35}" font-size="11" '
                     f'fill="{stroke}">{_e(note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def quality_section(part: Mapping[str, Any]) -> str:
    failed = part["lots"]["bearings"]
    claim = part["claim"]
    disclosed = part["disclosed_field"]
    acks = table(["organisation", "alerted", "acknowledged on chain"],
                 [(org, "yes", "yes" if org in part["acknowledged_by"] else "no") for org in part["affected"]])
    verified = '<span class="ok">verified against the on-chain commitment</span>' if disclosed["verified_on_chain"] \
        else '<span class="bad">does NOT match the commitment</span>'
    return (f"<h2>Quality control across firms</h2><p>An independent laboratory's attestation "
            f"<code>{_e(part['alert'])}</code> failed lot <b>{_e(failed)}</b> ({_e(part['severity'])}); the alert "
            f"followed the lineage to every firm that built from it and to the regulator.</p>"
            f"{lineage_svg(part['lots'], failed, part['downstream_lots'])}{acks}"
            f"<p>Selective disclosure: the inspection report stays private; only the field "
            f"<code>{_e(disclosed['name'])}</code> = <b>{_e(disclosed['value'])}</b> was disclosed, {verified}.</p>"
            f"<p>Claim #{_e(claim['id'])}: {mUSD(claim['amount'])} asked by the plant, status "
            f"<b>{_e(claim['status'])}</b>, {mUSD(claim['paid'])} paid from the supplier's quality bond "
            f"({mUSD(part['bond_left'])} left).</p>")


def settlement_section(part: Mapping[str, Any]) -> str:
    total = part["quantity"] * part["unit_price"]
    cards = [
        ("Contract", f"order {part['order_id']} signed by buyer and supplier (EIP-712): {part['quantity']:,} units "
                     f"at {mUSD(part['unit_price'])} = {mUSD(total)}"),
        ("Logistics", f"carrier signed: shipped {part['shipped']:,}, delivered {part['delivered']:,}"),
        ("Receipt", f"buyer confirmed {part['received']:,} received"),
        ("Invoice", "tax platform verified the invoice" + (
            f"; mismatches first: {'; '.join(part['mismatches'])}" if part["mismatches"] else "")),
    ]
    flows = "".join(f'<div class="card"><h3>{_e(t)}</h3>{_e(b)}</div>' for t, b in cards)
    funds = table(["funds", "amount"], [("settled quantity", f"{part['settled_quantity']:,}"),
                                        ("paid to the supplier", mUSD(part["paid"])),
                                        ("retained for the warranty", mUSD(part["retained"])),
                                        ("still in escrow", mUSD(part["escrow_left"]))])
    return (f"<h2>Supply-chain settlement: four flows in one</h2><p>Payment left escrow only when the signed order, "
            f"the carrier's delivery, the receipt and the verified invoice agreed — in the transaction that completed "
            f"the last of them. A mismatch moved nothing.</p><div class=\"flow\">{flows}</div>{funds}")


def generic_section(title: str, part: Mapping[str, Any]) -> str:
    """Any other part's facts as a table (quality and settlement provide their own richer sections)."""
    rows = [(k, v if not isinstance(v, (dict, list)) else _compact(v)) for k, v in part.items()]
    return f"<h2>{_e(title)}</h2>{table(['fact', 'value'], rows)}"


def _compact(value: object, limit: int = 400) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + " …"


def render(report: Any, sections: Mapping[str, str] | None = None) -> str:
    """The whole page for a :class:`millchain.demo.DemoReport`; ``sections`` adds pre-rendered parts."""
    contracts = table(["contract", "address"], sorted(report.contracts.items()))
    body = [f"<h1>millchain — a factory day</h1><p class=\"muted\">network {_e(report.network)}, chainId "
            f"{_e(report.chain_id)}</p>", f"<h2>Deployed contracts</h2>{contracts}"]
    for name, part in report.parts.items():
        if sections and name in sections:
            body.append(sections[name])
        elif name == "leasing":
            body.append(leasing_section(part))
        elif name == "quality":
            body.append(quality_section(part))
        elif name == "settlement":
            body.append(settlement_section(part))
        else:
            body.append(generic_section(name.title(), part))
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>millchain factory day</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")
