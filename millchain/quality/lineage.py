"""The lot graph, rebuilt from ``LotRegistered`` events (the lineage is never walked on-chain)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from web3.types import EventData

from millchain.errors import ConfigError
from millchain.quality.models import TraceNode
from millchain.types import label_of


@dataclass(frozen=True)
class LotNode:
    lot: bytes
    producer: bytes
    product: bytes
    quantity: int
    data_commitment: bytes
    inputs: tuple[bytes, ...]
    block_number: int


@dataclass
class LotGraph:
    """The traceability DAG from LotRegistered events. Inputs always exist before their consumers."""

    lots: dict[bytes, LotNode] = field(default_factory=dict)
    consumers: dict[bytes, list[bytes]] = field(default_factory=dict)

    def add(self, node: LotNode) -> None:
        self.lots[node.lot] = node
        for source in node.inputs:
            self.consumers.setdefault(source, []).append(node.lot)

    def node(self, lot: bytes) -> LotNode:
        try:
            return self.lots[lot]
        except KeyError:
            raise ConfigError(f"lot {label_of(lot)} is not registered on this ledger") from None

    def downstream(self, lot: bytes) -> list[bytes]:
        """Every lot built (transitively) from ``lot``, breadth first, each once."""
        return self._walk(lot, lambda n: self.consumers.get(n, []))

    def upstream(self, lot: bytes) -> list[bytes]:
        """Every lot ``lot`` was (transitively) built from, breadth first, each once."""
        return self._walk(lot, lambda n: self.lots[n].inputs if n in self.lots else ())

    @staticmethod
    def _walk(start: bytes, nexts: Callable[[bytes], Iterable[bytes]]) -> list[bytes]:
        seen = {start}
        order: list[bytes] = []
        queue = deque([start])
        while queue:
            for item in nexts(queue.popleft()):
                if item not in seen:
                    seen.add(item)
                    order.append(item)
                    queue.append(item)
        return order

    def affected(self, lot: bytes, regulators: Iterable[bytes]) -> list[bytes]:
        """Organisations an alert on ``lot`` concerns: its producer, every downstream producer, the regulators."""
        orgs = [self.node(lot).producer]
        orgs += [self.lots[d].producer for d in self.downstream(lot)]
        orgs += list(regulators)
        return list(dict.fromkeys(orgs))

    def tree(self, lot: bytes, *, up: bool, alerts: Mapping[bytes, list[str]] | None = None) -> list[TraceNode]:
        """The children of ``lot`` (its inputs when ``up``, else its consumers), recursively."""
        shown: set[bytes] = set()

        def build(item: bytes) -> TraceNode:
            node = self.lots[item]
            repeated = item in shown
            shown.add(item)
            children = [] if repeated else [build(c) for c in self._next(item, up)]
            return TraceNode(
                lot_id=label_of(item),
                producer=label_of(node.producer),
                product_id=label_of(node.product),
                quantity=node.quantity,
                alerts=list((alerts or {}).get(item, [])),
                repeated=repeated,
                children=children,
            )

        return [build(c) for c in self._next(lot, up)]

    def _next(self, lot: bytes, up: bool) -> Sequence[bytes]:
        return self.lots[lot].inputs if up else self.consumers.get(lot, [])


def node_from_event(event: EventData) -> LotNode:
    args = event["args"]
    return LotNode(
        lot=bytes(args["lotId"]),
        producer=bytes(args["producer"]),
        product=bytes(args["productId"]),
        quantity=int(args["quantity"]),
        data_commitment=bytes(args["dataCommitment"]),
        inputs=tuple(bytes(i) for i in args["inputs"]),
        block_number=int(event["blockNumber"]),
    )


def chain_order(event: EventData) -> tuple[int, int]:
    return int(event["blockNumber"]), int(event["logIndex"])
