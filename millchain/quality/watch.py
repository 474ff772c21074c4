"""Following one organisation's alerts as they happen."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hexbytes import HexBytes
from web3.types import EventData

from millchain.quality.alerts import AlertView
from millchain.quality.lineage import LotGraph
from millchain.quality.models import AlertNotice, AlertRef, Outcome, Severity
from millchain.types import label_of

if TYPE_CHECKING:
    from millchain.quality.client import QualityClient


class AlertWatcher:
    """Follows the alerts that concern one organisation, block by block.

    The first :meth:`poll` takes in history up to ``from_block - 1`` silently (default: everything so far, so
    only new events are reported); every poll then reports the notices of the blocks it has not seen.
    """

    def __init__(self, client: QualityClient, org: bytes, *, from_block: int | None = None) -> None:
        self.client = client
        self.org = org
        self.from_block = from_block
        self._view: AlertView | None = None
        self._cursor = -1  # last block taken in

    def _start(self) -> AlertView:
        view = AlertView(self.client, LotGraph(), [], [], {}, {})
        latest = self.client.session.chain.w3.eth.block_number
        until = latest if self.from_block is None else min(latest, self.from_block - 1)
        if until >= self.client.start_block:
            view.feed(self.client, self.client.start_block, until)
        self._cursor = max(until, self.client.start_block - 1)
        return view

    def poll(self) -> list[AlertNotice]:
        if self._view is None:
            self._view = self._start()
        view = self._view
        latest = self.client.session.chain.w3.eth.block_number
        if latest <= self._cursor:
            return []
        # Whether each active alert concerns this organisation so far: a new lot may change that.
        before = {key: self.org in view.affected(key[0]) for key in self._active_alerts(view)}
        events = view.fetch(self.client, self._cursor + 1, latest)
        notices: list[AlertNotice] = []
        for event in events:  # one at a time, so each notice sees the ledger as it was at that event
            view.apply(event)
            notices.extend(self._notices(view, event, before))
        self._cursor = latest
        return notices

    @staticmethod
    def _active_alerts(view: AlertView) -> list[tuple[bytes, int]]:
        keys = [(bytes(e["args"]["lotId"]), int(e["args"]["seq"])) for e in view.attested if e["args"]["severity"] != 0]
        return [k for k in keys if k not in view.superseded]

    def _notices(self, view: AlertView, event: EventData, before: dict[tuple[bytes, int], bool]) -> list[AlertNotice]:
        args = event["args"]
        name = event["event"]
        tx = HexBytes(event["transactionHash"]).to_0x_hex()
        block = int(event["blockNumber"])
        out: list[AlertNotice] = []
        if name == "Attested":
            key = (bytes(args["lotId"]), int(args["seq"]))
            if args["severity"] != 0 and self.org in view.affected(key[0]):
                before[key] = True
                out.append(self._notice("raised", view, key, block, tx))
            if args["supersedes"]:
                old = (key[0], int(args["supersedes"]))
                if self._is_alert(view, old) and self.org in view.affected(old[0]):
                    out.append(self._notice("superseded", view, old, block, tx, superseded_by=key[1]))
        elif name == "AlertAcknowledged":
            key = (bytes(args["lotId"]), int(args["seq"]))
            if self.org in view.affected(key[0]):
                out.append(self._notice("acknowledged", view, key, block, tx, by=label_of(bytes(args["orgId"]))))
        elif name == "LotRegistered":
            new_lot = bytes(args["lotId"])
            for key, was_affected in before.items():
                if not was_affected and self.org in view.affected(key[0]) and new_lot in view.graph.downstream(key[0]):
                    before[key] = True
                    out.append(self._notice("exposed", view, key, block, tx, via_lot=label_of(new_lot)))
        return out

    @staticmethod
    def _is_alert(view: AlertView, key: tuple[bytes, int]) -> bool:
        return any(
            (bytes(e["args"]["lotId"]), int(e["args"]["seq"])) == key and e["args"]["severity"] != 0
            for e in view.attested
        )

    def _notice(
        self, kind: str, view: AlertView, key: tuple[bytes, int], block: int, tx: str, **extra: Any
    ) -> AlertNotice:
        event = next(e for e in view.attested if (bytes(e["args"]["lotId"]), int(e["args"]["seq"])) == key)
        node = view.graph.node(key[0])
        return AlertNotice(
            kind=kind,
            org=label_of(self.org),
            alert=str(AlertRef(*key)),
            severity=Severity(event["args"]["severity"]),
            outcome=Outcome(event["args"]["outcome"]),
            lot_id=label_of(key[0]),
            producer=label_of(node.producer),
            block_number=block,
            transaction=tx,
            **extra,
        )

    def run(
        self,
        on_notice: Callable[[AlertNotice], None],
        *,
        poll_interval: float = 1.0,
        stop: threading.Event | None = None,
        max_notices: int | None = None,
    ) -> int:
        """Poll until ``stop`` is set or ``max_notices`` were delivered; returns how many were."""
        stop = stop or threading.Event()
        delivered = 0
        while not stop.is_set():
            for notice in self.poll():
                on_notice(notice)
                delivered += 1
                if max_notices is not None and delivered >= max_notices:
                    return delivered
            stop.wait(poll_interval)
        return delivered
