"""Small SVG charts drawn on the server: a time axis in UTC, a value axis with its unit, no scripts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from millchain.console.render import e

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks if span > 0 else 1
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _time_label(t: float, span: float) -> str:
    moment = datetime.fromtimestamp(t, UTC)
    return moment.strftime("%m-%d %H:%M" if span > 86400 else "%H:%M:%S" if span < 600 else "%H:%M")


def time_chart(
    title: str,
    series: dict[str, Sequence[tuple[int, float]]],
    *,
    unit: str,
    marks: Sequence[tuple[int, str]] = (),
    width: int = 520,
    height: int = 250,
    test_id: str | None = None,
) -> str:
    """Step lines of (unix time, value) per series; ``marks`` draws labelled vertical lines (top-ups…)."""
    points = [p for values in series.values() for p in values]
    if not points:
        return f'<div class="chart empty">{e(title)}: no data yet</div>'
    left, right, top, bottom = 72, 16, 34, 44
    t0 = min(p[0] for p in points)
    t1 = max(max(p[0] for p in points), t0 + 1)
    y_max = max(max(p[1] for p in points), 1e-9)
    step = _nice_step(y_max)
    y_top = step * (int(y_max / step) + (0 if y_max % step == 0 else 1)) or step

    def x(t: float) -> float:
        return left + (width - left - right) * (t - t0) / (t1 - t0)

    def y(v: float) -> float:
        return height - bottom - (height - top - bottom) * v / y_top

    tid = f' data-testid="{e(test_id)}"' if test_id else ""
    out = [
        f'<figure class="chart"{tid}><svg viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">',
        f'<text x="{left}" y="18" class="title">{e(title)}</text>',
    ]
    v = 0.0
    while v <= y_top + 1e-9:
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" class="tick" text-anchor="end">{v:,.6g}</text>'
        )
        v += step
    for i in range(5):
        t = t0 + (t1 - t0) * i / 4
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{height - bottom}" y2="{height - bottom + 4}" '
            f'class="axis"/><text x="{x(t):.1f}" y="{height - bottom + 16}" class="tick" '
            f'text-anchor="middle">{e(_time_label(t, t1 - t0))}</text>'
        )
    out.append(
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" class="axis"/>'
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" class="axis"/>'
        f'<text x="{(left + width - right) / 2}" y="{height - 6}" class="label" text-anchor="middle">'
        f"time (UTC)</text>"
        f'<text x="14" y="{(top + height - bottom) / 2}" class="label" text-anchor="middle" '
        f'transform="rotate(-90 14 {(top + height - bottom) / 2})">{e(unit)}</text>'
    )
    stacked: dict[int, int] = {}
    for t, label in marks:
        # Events in the same block (a top-up that ends a suspension) get their labels one under the other.
        row = stacked[round(x(t) / 24)] = stacked.get(round(x(t) / 24), -1) + 1
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{height - bottom}" class="mark"/>'
            f'<text x="{x(t) + 3:.1f}" y="{top + 10 + 12 * row}" class="marktext">{e(label)}</text>'
        )
    for k, (name, values) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        path, last = [], None
        for t, value in values:
            if last is not None:
                path.append(f"{x(t):.1f},{y(last):.1f}")  # a step: the value holds until the next report
            path.append(f"{x(t):.1f},{y(value):.1f}")
            last = value
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(path)}"/>')
        out.append(
            f'<rect x="{width - right - 150}" y="{top - 26 + 14 * k}" width="10" height="10" fill="{color}"/>'
            f'<text x="{width - right - 136}" y="{top - 17 + 14 * k}" class="tick">{e(name)}</text>'
        )
    out.append("</svg></figure>")
    return "".join(out)


def lineage_graph(
    columns: Sequence[Sequence[str]],
    edges: Sequence[tuple[str, str]],
    styles: dict[str, str],
    notes: dict[str, str],
    *,
    test_id: str = "lineage",
) -> str:
    """Lots in columns by depth (inputs left of what consumed them), arrows from input to consumer."""
    box_w, box_h, gap_x, gap_y = 180, 46, 70, 18
    rows = max((len(c) for c in columns), default=1)
    width = 20 + len(columns) * (box_w + gap_x)
    height = 20 + rows * (box_h + gap_y)
    where: dict[str, tuple[float, float]] = {}
    for c, column in enumerate(columns):
        offset = (rows - len(column)) * (box_h + gap_y) / 2
        for r, lot in enumerate(column):
            where[lot] = (10 + c * (box_w + gap_x), 10 + offset + r * (box_h + gap_y))
    arrow = '<marker id="arr" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
    arrow += '<path d="M0,0 L8,4 L0,8 z" fill="#64748b"/></marker>'
    svg = f'<svg class="lineage" viewBox="0 0 {width} {height}" role="img" aria-label="lot lineage">'
    out = [f'<figure class="chart" data-testid="{e(test_id)}">{svg}<defs>{arrow}</defs>']
    for src, dst in edges:
        if src in where and dst in where:
            (x1, y1), (x2, y2) = where[src], where[dst]
            out.append(
                f'<line x1="{x1 + box_w}" y1="{y1 + box_h / 2}" x2="{x2 - 3}" y2="{y2 + box_h / 2}" '
                'stroke="#64748b" stroke-width="1.5" marker-end="url(#arr)"/>'
            )
    for lot, (bx, by) in where.items():
        kind = styles.get(lot, "lot")
        out.append(
            f'<g class="{e(kind)}"><rect x="{bx}" y="{by}" width="{box_w}" height="{box_h}" rx="6"/>'
            f'<text x="{bx + 10}" y="{by + 19}" class="lotname">{e(lot)}</text>'
            f'<text x="{bx + 10}" y="{by + 36}" class="lotnote">{e(notes.get(lot, ""))}</text></g>'
        )
    out.append("</svg></figure>")
    return "".join(out)
