"""HTML for the views: escaping, tables, badges, amounts, times, the page around a view."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from millchain.units import format_amount

NAV = (
    ("fleet", "/fleet", "Fleet · 设备"),
    ("quality", "/quality", "Quality · 品控"),
    ("orders", "/orders", "Orders · 四流合一"),
    ("party", "/party", "Party · 参与方"),
)


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def when(timestamp: int | None) -> str:
    """A chain time as people read it, in UTC."""
    if not timestamp:
        return "—"
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def money(amount: int, decimals: int, symbol: str) -> str:
    return f"{format_amount(int(amount), decimals)} {symbol}"


def short(text: str, keep: int = 6) -> str:
    """0x1234…abcd for long hex; labels unchanged."""
    if text.startswith("0x") and len(text) > 2 * keep + 3:
        return f"{text[:keep]}…{text[-4:]}"
    return text


def badge(text: str, kind: str = "neutral") -> str:
    return f'<span class="badge {e(kind)}">{e(text)}</span>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Sequence[int] = (),
    empty: str = "nothing yet",
    test_id: str | None = None,
) -> str:
    """A table of already-escaped cells (use :func:`e` on plain values)."""
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="muted">{e(empty)}</td></tr>'
    head = "".join(f"<th{' class=num' if i in numeric else ''}>{e(h)}</th>" for i, h in enumerate(headers))
    tid = f' data-testid="{e(test_id)}"' if test_id else ""
    return f'<div class="scroll"><table{tid}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def stat(label: str, value: str, test_id: str | None = None) -> str:
    tid = f' data-testid="{e(test_id)}"' if test_id else ""
    return f'<div class="stat"><div class="label">{e(label)}</div><div class="value"{tid}>{value}</div></div>'


def section(title: str, body: str, note: str = "") -> str:
    extra = f'<p class="muted">{e(note)}</p>' if note else ""
    return f"<section><h2>{e(title)}</h2>{extra}{body}</section>"


def page(title: str, active: str, main: str, *, network: str, block: int, indexed: int | None) -> str:
    nav = "".join(
        f'<a href="{href}" class="{"on" if key == active else ""}">{e(label)}</a>' for key, href, label in NAV
    )
    index_note = "no index" if indexed is None else f"indexed to {indexed}"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · millchain console</title>"
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/static/console.css"></head><body>'
        '<header><div class="brand">millchain <span>控制台</span></div>'
        f"<nav>{nav}</nav>"
        f'<div class="chain"><span class="dot" id="live" title="live updates"></span>{e(network)} · block '
        f'<b id="block" data-testid="block">{block}</b> · <span id="indexed">{e(index_note)}</span></div></header>'
        f'<main id="main" data-block="{block}"><h1>{e(title)}</h1>{main}</main>'
        '<script src="/static/console.js"></script></body></html>'
    )
