"""Alerts, lineage, regulators and acknowledgements rebuilt from the ledger's events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from web3.types import EventData

from millchain.quality.lineage import LotGraph, chain_order, node_from_event
from millchain.quality.models import Alert, AlertRef, Outcome, Severity
from millchain.types import label_of

if TYPE_CHECKING:
    from millchain.quality.client import QualityClient


@dataclass
class AlertView:
    """Alerts, lineage, regulators and acknowledgements rebuilt from the ledger's events."""

    client: QualityClient
    graph: LotGraph
    regulators: list[bytes]
    attested: list[EventData]
    acks: dict[tuple[bytes, int], dict[bytes, int]]
    superseded: dict[tuple[bytes, int], int]

    @classmethod
    def load(cls, client: QualityClient) -> AlertView:
        view = cls(client, LotGraph(), [], [], {}, {})
        view.feed(client, client.start_block, "latest")
        return view

    def feed(self, client: QualityClient, from_block: int, to_block: int | str) -> list[EventData]:
        """Take in the events of [from_block, to_block]; returns them in chain order."""
        events = self.fetch(client, from_block, to_block)
        for event in events:
            self.apply(event)
        return events

    @staticmethod
    def fetch(client: QualityClient, from_block: int, to_block: int | str) -> list[EventData]:
        events = [
            *client._logs("OrganisationRegistered", from_block=from_block, to_block=to_block),
            *client._logs("LotRegistered", from_block=from_block, to_block=to_block),
            *client._logs("Attested", from_block=from_block, to_block=to_block),
            *client._logs("AlertAcknowledged", from_block=from_block, to_block=to_block),
        ]
        return sorted(events, key=chain_order)

    def apply(self, event: EventData) -> None:
        args = event["args"]
        name = event["event"]
        if name == "OrganisationRegistered" and args["regulator"]:
            self.regulators.append(bytes(args["orgId"]))
        elif name == "LotRegistered":
            self.graph.add(node_from_event(event))
        elif name == "Attested":
            self.attested.append(event)
            if args["supersedes"]:
                self.superseded[(bytes(args["lotId"]), int(args["supersedes"]))] = int(args["seq"])
        elif name == "AlertAcknowledged":
            key = (bytes(args["lotId"]), int(args["seq"]))
            self.acks.setdefault(key, {})[bytes(args["orgId"])] = int(event["blockNumber"])

    def affected(self, lot: bytes) -> list[bytes]:
        return self.graph.affected(lot, self.regulators)

    def alert(self, event: EventData) -> Alert:
        args = event["args"]
        lot, seq = bytes(args["lotId"]), int(args["seq"])
        node = self.graph.node(lot)
        affected = self.affected(lot)
        acked = self.acks.get((lot, seq), {})
        # The counts, the commitment and the inspector's organisation are in the record, not the event.
        record = self.client.attestation(lot, seq, uri=str(args["uri"]))
        return Alert(
            ref=str(AlertRef(lot, seq)),
            lot_id=label_of(lot),
            seq=seq,
            outcome=Outcome(args["outcome"]),
            severity=Severity(args["severity"]),
            inspector=str(args["inspector"]),
            inspector_org=record.inspector_org,
            producer=label_of(node.producer),
            product_id=label_of(node.product),
            defects=record.defects,
            sample_size=record.sample_size,
            report_commitment=record.report_commitment,
            uri=str(args["uri"]),
            block_number=int(event["blockNumber"]),
            superseded_by=self.superseded.get((lot, seq), 0),
            affected=[label_of(o) for o in affected],
            downstream_lots=[label_of(d) for d in self.graph.downstream(lot)],
            acknowledged={label_of(o): b for o, b in acked.items()},
            pending=[label_of(o) for o in affected if o not in acked],
        )

    def all_alerts(self) -> list[Alert]:
        return [self.alert(e) for e in self.attested if e["args"]["severity"] != 0]
