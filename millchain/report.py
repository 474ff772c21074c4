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
        else:
            body.append(generic_section(name.title(), part))
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>millchain factory day</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")
