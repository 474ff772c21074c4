"""SettlementClient: every SupplyChainSettlement operation for one signing account."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.contract import Contract
from web3.types import EventData, TxReceipt

from millchain.client import AccountClient
from millchain.disclosure import Disclosure
from millchain.errors import ConfigError, MillchainError
from millchain.events import decode_events
from millchain.session import Session
from millchain.settlement.enums import (
    DEFAULT_SIGNATURE_TTL,
    MAX_LOTS,
    ZERO32,
    ClaimUse,
    Flow,
    InvoiceStatus,
    OrderStatus,
    Receipt,
    SettlementError,
    ShipmentStatus,
)
from millchain.settlement.files import OrderFile, sign_order_file
from millchain.settlement.flows import assess
from millchain.settlement.models import (
    DocumentCheck,
    FundsLedger,
    InvoiceLink,
    Mismatch,
    OrderReport,
    OrderView,
    ShipmentView,
)
from millchain.settlement.order import DIGEST_MASK, Order, shipment_id, shipment_number
from millchain.settlement.parsing import as_bytes32, order_id, to_hex
from millchain.settlement.typed_data import (
    CarrierEvent,
    carrier_typed_data,
    order_digest,
    order_typed_data,
    settlement_domain,
    sign_typed,
)
from millchain.typed_data import permit_typed_data
from millchain.types import label_of, parse_address


@dataclass
class Outcome:
    """What a transaction did to settlement: shipments settled, flows that disagreed, retention moves."""

    receipt: TxReceipt
    settled: list[dict[str, int]] = field(default_factory=list)
    mismatches: list[tuple[int, Mismatch]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    @property
    def gas(self) -> int:
        return int(self.receipt["gasUsed"])

    @property
    def tx_hash(self) -> str:
        return HexBytes(self.receipt["transactionHash"]).to_0x_hex()


def _outcome(contract: Contract, receipt: TxReceipt) -> Outcome:
    outcome = Outcome(receipt=receipt)
    for event in decode_events(contract, receipt):
        name, args = str(event["event"]), event["args"]
        outcome.events.append(name)
        if name == "ShipmentSettled":
            outcome.settled.append(
                {
                    "shipment": int(args["shipmentId"]),
                    "quantity": int(args["quantity"]),
                    "paid": int(args["paid"]),
                    "retained": int(args["retained"]),
                }
            )
        elif name == "SettlementMismatched":
            outcome.mismatches.append(
                (
                    int(args["shipmentId"]),
                    Mismatch(flow=Flow(args["flow"]), expected=int(args["expected"]), actual=int(args["actual"])),
                )
            )
    return outcome


class SettlementClient(AccountClient):
    """Every settlement operation for one signing account (buyer, supplier, carrier, tax platform, arbiter or
    a relayer) of a session."""

    DEPLOYED_AS = "SupplyChainSettlement"

    def __init__(self, session: Session, account_index: int | None = None, *, gas: int | None = None) -> None:
        super().__init__(session, account_index, gas=gas)
        self.contract: Contract = session.contract("SupplyChainSettlement")
        self._tokens: dict[str, Contract] = {}

    @property
    def domain(self) -> dict[str, Any]:
        return settlement_domain(self.session.chain.chain_id, self.contract.address)

    def token(self, address: str) -> Contract:
        key = parse_address(address, what="token")
        if key not in self._tokens:
            self._tokens[key] = self.session.contract("SettlementToken", key)
        return self._tokens[key]

    def decimals(self, token: str) -> int:
        return int(self.tx.call(self.token(token).functions.decimals()))

    def now(self) -> int:
        return self.session.chain.now()

    def _send(self, fn: Any) -> Outcome:
        return _outcome(self.contract, self.tx.transact(fn, gas=self.gas))

    # ------------------------------------------------------------------ contract flow

    def typed_data(self, order: Order) -> dict[str, Any]:
        return order_typed_data(self.domain, order)

    def digest(self, order: Order) -> bytes:
        return order_digest(self.domain, order)

    def sign(self, order: Order, signer: LocalAccount | None = None) -> bytes:
        """This client's (or ``signer``'s) signature of ``order``, over the wallet-visible typed data."""
        return sign_typed(signer or self.tx.account, self.typed_data(order))

    def sign_file(self, document: OrderFile, signer: LocalAccount | None = None, *, role: str | None = None) -> str:
        """Add the signer's signature to an order file after checking it was made for this deployment; returns
        the role it signed as (see :func:`sign_order_file`)."""
        if document.domain != self.domain:
            raise SettlementError(
                f"the order was made for {document.domain.get('verifyingContract')} on chain "
                f"{document.domain.get('chainId')}, not this deployment "
                f"({self.contract.address} on chain {self.session.chain.chain_id})"
            )
        return sign_order_file(document, signer or self.tx.account, role=role)

    def create(
        self, order: Order, buyer_signature: bytes, supplier_signature: bytes, *, funding: int = 0
    ) -> tuple[bytes, Outcome]:
        """Submit a doubly signed order, funding ``funding`` of its escrow from this account in the same
        transaction (approving first if the allowance is short); returns its key."""
        if funding < 0:
            raise ConfigError("funding must not be negative")
        if funding:
            self._approve(order.token, funding)
        outcome = self._send(
            self.contract.functions.createOrder(order.as_tuple(), buyer_signature, supplier_signature, funding)
        )
        return order.key, outcome

    def submit(self, document: OrderFile, *, funding: int = 0) -> tuple[bytes, Outcome]:
        return self.create(document.order, document.signature("buyer"), document.signature("supplier"), funding=funding)

    def void(self, buyer: str, supplier: str, number: bytes) -> Outcome:
        return self._send(self.contract.functions.voidOrder(parse_address(buyer), parse_address(supplier), number))

    # ------------------------------------------------------------------ funds

    def fund(self, key: bytes, amount: int, *, settle_shipment: int = 0, permit: bool = False) -> Outcome:
        """Add ``amount`` to the escrow (approving first if the allowance is short, or by an ERC-2612 permit),
        settling ``settle_shipment`` in the same transaction when its flows then agree."""
        if amount <= 0:
            raise ConfigError("a funding amount must be more than zero")
        token = self.token(self.get(key, events=False).token)
        if permit:
            deadline = self.now() + 3600
            nonce = int(self.tx.call(token.functions.nonces(self.address)))
            typed = permit_typed_data(token, self.address, self.contract.address, amount, nonce, deadline)
            signed = self.tx.account.sign_typed_data(full_message=typed)
            return self._send(
                self.contract.functions.fundWithPermit(
                    key,
                    amount,
                    settle_shipment,
                    deadline,
                    signed.v,
                    signed.r.to_bytes(32, "big"),
                    signed.s.to_bytes(32, "big"),
                )
            )
        self._approve(token.address, amount)
        return self._send(self.contract.functions.fund(key, amount, settle_shipment))

    def _approve(self, token_address: str, amount: int) -> None:
        token = self.token(token_address)
        if int(self.tx.call(token.functions.allowance(self.address, self.contract.address))) < amount:
            self.tx.transact(token.functions.approve(self.contract.address, amount), gas=self.gas)

    def refund(self, key: bytes) -> Outcome:
        return self._send(self.contract.functions.refund(key))

    def refundable(self, key: bytes) -> int:
        return int(self.tx.call(self.contract.functions.refundable(key)))

    # ------------------------------------------------------------------ logistics

    @staticmethod
    def _lots(lots: Sequence[bytes]) -> list[bytes]:
        if len(lots) > MAX_LOTS:
            raise ConfigError(f"a shipment lists at most {MAX_LOTS} lots, got {len(lots)}")
        if len(set(lots)) != len(lots):
            raise ConfigError("a shipment lists a lot twice")
        return list(lots)

    def ship(self, key: bytes, quantity: int, lots: Sequence[bytes] = ()) -> tuple[int, Outcome]:
        """As the carrier: goods leave for the buyer. Returns the new shipment's id."""
        outcome = self._send(self.contract.functions.ship(key, quantity, self._lots(lots)))
        return self._shipment_id(outcome), outcome

    def _shipment_id(self, outcome: Outcome) -> int:
        for event in decode_events(self.contract, outcome.receipt):
            if event["event"] == "GoodsShipped":
                return int(event["args"]["shipmentId"])
        raise MillchainError("the transaction shipped nothing")

    def checkpoint(self, key: bytes, shipment_id: int, commitment: bytes) -> Outcome:
        return self._send(self.contract.functions.checkpoint(key, shipment_id, commitment))

    def deliver(self, key: bytes, shipment_id: int, quantity: int) -> Outcome:
        return self._send(self.contract.functions.deliver(key, shipment_id, quantity))

    def carrier_nonce(self, carrier: str) -> int:
        return int(self.tx.call(self.contract.functions.nonces(parse_address(carrier))))

    def sign_carrier_event(
        self,
        kind: Literal["Shipment", "Checkpoint", "Delivery"],
        key: bytes,
        *,
        signer: LocalAccount | None = None,
        carrier: str | None = None,
        quantity: int = 0,
        lots: Sequence[bytes] = (),
        shipment_id: int = 0,
        commitment: bytes = ZERO32,
        nonce: int | None = None,
        deadline: int | None = None,
    ) -> CarrierEvent:
        """Sign a logistics event as the carrier (``signer``, default this client's key) for anyone to relay.
        ``carrier`` is the order's carrier address when ``signer`` is a key its contract wallet accepts;
        ``nonce`` defaults to the carrier's next one."""
        account = signer or self.tx.account
        who = parse_address(carrier or account.address, what="carrier")
        event = CarrierEvent(
            kind=kind,
            order_key=key,
            quantity=quantity,
            lots=tuple(self._lots(lots)),
            shipment_id=shipment_id,
            commitment=commitment,
            nonce=self.carrier_nonce(who) if nonce is None else nonce,
            deadline=self.now() + DEFAULT_SIGNATURE_TTL if deadline is None else deadline,
            signature=b"",
        )
        signature = sign_typed(account, carrier_typed_data(self.domain, kind, event.message()))
        return dataclasses.replace(event, signature=signature)

    def relay(self, event: CarrierEvent) -> Outcome:
        """Submit a carrier-signed event (the sender pays the gas)."""
        functions = self.contract.functions
        if event.kind == "Shipment":
            call = functions.shipBySig(
                event.order_key, event.quantity, list(event.lots), event.nonce, event.deadline, event.signature
            )
        elif event.kind == "Checkpoint":
            call = functions.checkpointBySig(
                event.order_key, event.shipment_id, event.commitment, event.nonce, event.deadline, event.signature
            )
        else:
            call = functions.deliverBySig(
                event.order_key, event.shipment_id, event.quantity, event.nonce, event.deadline, event.signature
            )
        return self._send(call)

    def confirm_receipt(self, key: bytes, shipment_id: int, quantity: int) -> Outcome:
        """As the buyer: the quantity received (0 rejects the shipment). Final."""
        return self._send(self.contract.functions.confirmReceipt(key, shipment_id, quantity))

    def confirm_receipt_by_inspection(self, key: bytes, shipment_id: int, seqs: Sequence[int] | None = None) -> Outcome:
        """Record the delivered quantity as received from QC passes of every lot of the shipment; ``seqs``
        default to each lot's latest current, independent Pass in the quality ledger."""
        lots = self.lots_of(key, shipment_id)
        if seqs is None:
            seqs = [self.passing_attestation(lot) for lot in lots]
        if len(seqs) != len(lots):
            raise ConfigError(f"shipment {shipment_id} has {len(lots)} lots but {len(seqs)} attestations were given")
        return self._send(self.contract.functions.confirmReceiptByInspection(key, shipment_id, lots, list(seqs)))

    def passing_attestation(self, lot: bytes) -> int:
        """The attestation of ``lot`` that counts as receipt: its latest independent record, when that is a Pass.
        An older Pass never counts once a later independent record (a Fail, an alert) exists, which is also the
        contract's rule (confirmReceiptByInspection)."""
        ledger = self.session.contract("QualityLedger", self.tx.call(self.contract.functions.LEDGER()))
        seq = int(self.tx.call(ledger.functions.latestIndependent(lot)))
        if seq == 0:
            raise SettlementError(f"lot {label_of(lot)} has no independent attestation")
        outcome = int(self.tx.call(ledger.functions.attestation(lot, seq))[1])
        if outcome != 1:
            raise SettlementError(
                f"lot {label_of(lot)}: its latest independent attestation #{seq} is not a Pass "
                f"(outcome {outcome}); no receipt by inspection"
            )
        return seq

    # ------------------------------------------------------------------ invoices

    def submit_invoice(self, key: bytes, shipment_id: int, amount: int, tax: int, commitment: bytes) -> Outcome:
        if tax > amount:
            raise ConfigError(f"the tax {tax} exceeds the tax-inclusive amount {amount}")
        return self._send(self.contract.functions.submitInvoice(key, shipment_id, amount, tax, commitment))

    def verify_invoice(self, key: bytes, shipment_id: int) -> Outcome:
        return self._send(self.contract.functions.verifyInvoice(key, shipment_id))

    def reject_invoice(self, key: bytes, shipment_id: int, reason_commitment: bytes = ZERO32) -> Outcome:
        return self._send(self.contract.functions.rejectInvoice(key, shipment_id, reason_commitment))

    # ------------------------------------------------------------------ settlement and retention

    def settle(self, key: bytes, shipment_id: int) -> Outcome:
        return self._send(self.contract.functions.settle(key, shipment_id))

    def release_retention(self, key: bytes) -> Outcome:
        return self._send(self.contract.functions.releaseRetention(key))

    def apply_quality_claim(self, key: bytes, claim_id: int, shipment_id: int | None = None) -> Outcome:
        """Apply a QualityBonds claim to the order's retention (hold, draw or lift). The shipment that carried
        the claimed lot is found from the order's GoodsShipped events when not given."""
        if shipment_id is None:
            bonds = self.session.contract("QualityBonds", self.tx.call(self.contract.functions.BONDS()))
            claimed = bytes(self.tx.call(bonds.functions.claim(claim_id))[0])
            shipped = {sid: lots for sid, _, lots in self._shipped(key)}
            matches = [sid for sid, lots in shipped.items() if claimed in lots]
            if not matches:
                raise SettlementError(
                    f"claim {claim_id} is on lot {label_of(claimed)}, which no shipment of this order carried"
                )
            shipment_id = matches[0]
        lots = self.lots_of(key, shipment_id)
        return self._send(self.contract.functions.applyQualityClaim(key, shipment_id, lots, claim_id))

    def claim_use(self, claim_id: int) -> tuple[bytes, ClaimUse]:
        key, use = self.tx.call(self.contract.functions.claimUse(claim_id))
        return bytes(key), ClaimUse(use)

    # ------------------------------------------------------------------ arbiter

    def arbitrate_shipment(
        self, key: bytes, shipment_id: int, accepted: int, ruling_commitment: bytes = ZERO32
    ) -> Outcome:
        return self._send(self.contract.functions.arbitrateShipment(key, shipment_id, accepted, ruling_commitment))

    def arbitrate_retention(self, key: bytes, to_buyer: int, ruling_commitment: bytes = ZERO32) -> Outcome:
        return self._send(self.contract.functions.arbitrateRetention(key, to_buyer, ruling_commitment))

    def close_order(self, key: bytes, ruling_commitment: bytes = ZERO32) -> Outcome:
        return self._send(self.contract.functions.closeOrder(key, ruling_commitment))

    # ------------------------------------------------------------------ views

    def status(self, key: bytes) -> OrderStatus:
        return OrderStatus(self.tx.call(self.contract.functions.orderStatus(key)))

    def get(self, key: bytes, *, events: bool = True) -> OrderView:
        """The order's terms and state; with ``events``, also its order id and lines commitment (from its
        OrderCreated event: a log query, which some nodes answer slowly)."""
        (
            status,
            buyer,
            supplier,
            carrier,
            token,
            quantity,
            unit_price,
            deadline,
            qc,
            retention_bps,
            warranty,
            tolerance,
            count,
            escrow,
            retention,
            settled,
            reserved,
            release_at,
            holds,
        ) = self.tx.call(self.contract.functions.orderState(key))
        created = self._logs("OrderCreated", {"orderKey": key}) if events else []
        number = label_of(bytes(created[0]["args"]["orderId"])) if created else "?"
        lines = to_hex(bytes(created[0]["args"]["linesCommitment"])) if created else to_hex(ZERO32)
        return OrderView(
            key=to_hex(key),
            order_id=number,
            lines_commitment=lines,
            status=OrderStatus(status),
            buyer=buyer,
            supplier=supplier,
            carrier=carrier,
            token=token,
            quantity=quantity,
            unit_price=unit_price,
            delivery_deadline=deadline,
            qc_required=qc,
            retention_bps=retention_bps,
            warranty_period=warranty,
            tolerance_bps=tolerance,
            shipment_count=count,
            escrow=escrow,
            retention=retention,
            settled=settled,
            reserved=reserved,
            release_at=release_at,
            holds=holds,
        )

    def shipment(self, key: bytes, shipment_id: int) -> ShipmentView:
        return self.shipments(key, only=shipment_id)[0]

    def shipments(self, key: bytes, *, only: int | None = None) -> list[ShipmentView]:
        """Every shipment of the order (or just the one with id ``only``), state and event facts together."""
        shipped = self._shipped(key)
        ids = [only] if only is not None else [sid for sid, _, _ in shipped]
        facts: dict[int, dict[str, Any]] = {i: {"lots": [], "checkpoints": [], "mismatches": []} for i in ids}
        for sid, quantity, lots in shipped:
            if sid in facts:
                facts[sid].update(shipped=quantity, lots=[label_of(lot) for lot in lots])
        for event in self._logs("CheckpointRecorded", {"orderKey": key}):
            if int(event["args"]["shipmentId"]) in facts:
                facts[int(event["args"]["shipmentId"])]["checkpoints"].append(to_hex(event["args"]["commitment"]))
        for event in self._logs("InvoiceSubmitted", {"orderKey": key}):
            if int(event["args"]["shipmentId"]) in facts:
                facts[int(event["args"]["shipmentId"])].update(
                    invoice_tax=int(event["args"]["taxAmount"]), invoice_commitment=to_hex(event["args"]["commitment"])
                )
        for event in self._logs("ShipmentSettled", {"orderKey": key}):
            if int(event["args"]["shipmentId"]) in facts:
                facts[int(event["args"]["shipmentId"])].update(
                    paid=int(event["args"]["paid"]), retained=int(event["args"]["retained"])
                )
        for event in self._logs("SettlementMismatched", {"orderKey": key}):
            if int(event["args"]["shipmentId"]) in facts:
                facts[int(event["args"]["shipmentId"])]["mismatches"].append(
                    Mismatch(
                        flow=Flow(event["args"]["flow"]),
                        expected=int(event["args"]["expected"]),
                        actual=int(event["args"]["actual"]),
                    )
                )
        views = []
        for sid in ids:
            (status, receipt, invoice, delivered, received, amount) = self.tx.call(
                self.contract.functions.shipment(key, sid)
            )
            views.append(
                ShipmentView(
                    shipment_id=sid,
                    number=shipment_number(sid),
                    status=ShipmentStatus(status),
                    receipt=Receipt(receipt),
                    invoice=InvoiceStatus(invoice),
                    delivered=delivered,
                    received=received,
                    invoice_amount=amount,
                    **facts[sid],
                )
            )
        return sorted(views, key=lambda v: v.number)

    def shipment_ref(self, key: bytes, text: str | int) -> int:
        """A shipment as users name it: its number in the order (1, 2, …) or its full id (decimal or 0x…)."""
        raw = str(text).strip()
        try:
            value = int(raw, 16) if raw.lower().startswith("0x") else int(raw)
        except ValueError:
            raise ConfigError(f"shipment {text!r} is neither a number (1, 2, …) nor a shipment id") from None
        if value > DIGEST_MASK:
            return value
        for sid, _, _ in self._shipped(key):
            if shipment_number(sid) == value:
                return sid
        raise SettlementError(f"order {to_hex(key)} has no shipment {value}")

    def lots_of(self, key: bytes, shipment: int) -> list[bytes]:
        """The lots a shipment carried, from its GoodsShipped event (checked against its id)."""
        for sid, _, lots in self._shipped(key):
            if sid == shipment:
                if shipment_id(shipment_number(sid), lots) != sid:
                    raise MillchainError(f"shipment {sid:#x}: its GoodsShipped event does not match its id")
                return lots
        raise SettlementError(f"shipment {shipment:#x} of order {to_hex(key)} was never shipped")

    def _shipped(self, key: bytes) -> list[tuple[int, int, list[bytes]]]:
        return [
            (int(e["args"]["shipmentId"]), int(e["args"]["quantity"]), [bytes(x) for x in e["args"]["lotIds"]])
            for e in self._logs("GoodsShipped", {"orderKey": key})
        ]

    def funds(self, key: bytes) -> FundsLedger:
        """Every token movement of the order, from its events."""
        order = self.get(key)
        total = {name: 0 for name in ("funded", "paid", "refunded")}
        for event in self._logs("EscrowFunded", {"orderKey": key}):
            total["funded"] += int(event["args"]["amount"])
        for event in self._logs("ShipmentSettled", {"orderKey": key}):
            total["paid"] += int(event["args"]["paid"])
        for event in self._logs("RetentionReleased", {"orderKey": key}):
            total["paid"] += int(event["args"]["amount"])
        for event in self._logs("EscrowRefunded", {"orderKey": key}):
            total["refunded"] += int(event["args"]["amount"])
        for event in self._logs("RetentionDrawn", {"orderKey": key}):
            total["refunded"] += int(event["args"]["amount"])
        for event in self._logs("RetentionArbitrated", {"orderKey": key}):
            total["refunded"] += int(event["args"]["toBuyer"])
            total["paid"] += int(event["args"]["toSupplier"])
        return FundsLedger(**total, escrow=order.escrow, retention=order.retention)

    def report(self, key: bytes) -> OrderReport:
        """The order and its shipments with the four flows assessed: what ``millchain order show`` prints."""
        order = self.get(key)
        return OrderReport(
            order=order,
            shipments=[assess(order, s) for s in self.shipments(key)],
            funds=self.funds(key),
            now=self.now(),
        )

    def signed_order(self, key: bytes) -> Order:
        """The order as its parties signed it, rebuilt from its state and its OrderCreated event (the contract
        checks it against the documents chain when a disclosure is verified)."""
        view = self.get(key, events=False)
        created = self._logs("OrderCreated", {"orderKey": key})
        if not created:
            raise SettlementError(f"order {to_hex(key)} has no OrderCreated event on this chain")
        return Order.build(
            order_id=bytes(created[0]["args"]["orderId"]),
            buyer=view.buyer,
            supplier=view.supplier,
            carrier=view.carrier,
            token=view.token,
            lines_commitment=bytes(created[0]["args"]["linesCommitment"]),
            quantity=view.quantity,
            unit_price=view.unit_price,
            delivery_deadline=view.delivery_deadline,
            qc_required=view.qc_required,
            retention_bps=view.retention_bps,
            warranty_period=view.warranty_period,
            tolerance_bps=view.tolerance_bps,
        )

    def invoice_links(self, key: bytes) -> list[InvoiceLink]:
        """Every invoice submitted for the order, in order: the links of its documents chain."""
        return [
            InvoiceLink(
                shipment_id=int(e["args"]["shipmentId"]),
                amount=int(e["args"]["amount"]),
                tax_amount=int(e["args"]["taxAmount"]),
                commitment=to_hex(e["args"]["commitment"]),
            )
            for e in self._logs("InvoiceSubmitted", {"orderKey": key})
        ]

    def documents(self, key: bytes) -> bytes:
        """The head of the order's documents chain, as the contract stores it."""
        return bytes(self.tx.call(self.contract.functions.documents(key)))

    def verify_disclosure(
        self, key: bytes, disclosure: Disclosure, *, shipment: int | None = None, order: Order | None = None
    ) -> DocumentCheck:
        """Have the contract check a disclosed field of the order's lines or of one of its invoices against the
        documents chain it stores (verifyDocumentField). The document is the one whose root the disclosure
        names: the order lines, else an invoice (of ``shipment`` when given, the latest such when several
        match). ``order`` is the signed order when the caller has it (its order file); by default it is rebuilt
        from the chain."""
        order = order or self.signed_order(key)
        links = self.invoice_links(key)
        root = HexBytes(disclosure.root)
        invoices = [i for i, link in enumerate(links, 1) if shipment is None or link.shipment_id == shipment]
        if shipment is None and root == HexBytes(order.lines_commitment):
            index = 0
        else:
            matching = [i for i in invoices if HexBytes(links[i - 1].commitment) == root]
            if not (matching or invoices):
                what = f"shipment {shipment_number(shipment)}" if shipment is not None else "the order"
                raise SettlementError(
                    f"no invoice was submitted for {what}: nothing to check {disclosure.name!r} against"
                )
            index = (matching or invoices)[-1]
        valid, verified_invoice = self.tx.call(
            self.contract.functions.verifyDocumentField(
                order.as_tuple(),
                [link.as_tuple() for link in links],
                index,
                disclosure.name,
                disclosure.value_bytes,
                HexBytes(disclosure.salt),
                [HexBytes(node) for node in disclosure.proof],
            )
        )
        label = label_of(order.order_id)
        if index == 0:
            what = f"the order lines of {label}"
        else:
            number = shipment_number(links[index - 1].shipment_id)
            replaced = any(link.shipment_id == links[index - 1].shipment_id for link in links[index:])
            # Only the shipment's verified invoice is "the invoice"; say what any other submission is.
            what = (
                f"the verified invoice for shipment {number} of {label}"
                if verified_invoice
                else f"a replaced invoice for shipment {number} of {label} (not its verified invoice)"
                if replaced
                else f"the invoice submitted for shipment {number} of {label} (not verified)"
            )
        return DocumentCheck(
            ok=bool(valid),
            document=what,
            index=index,
            name=disclosure.name,
            value=disclosure.value_text,
            verified_invoice=bool(verified_invoice),
        )

    def find(self, number: bytes) -> list[bytes]:
        """Keys of the orders created with order id ``number`` (any parties)."""
        return [bytes(e["args"]["orderKey"]) for e in self._logs("OrderCreated", {"orderId": number})]

    def resolve(self, text: str) -> bytes:
        """An order as users name it: its key (0x + 64 hex), an order file, or its order id when unambiguous."""
        if text.startswith("0x") and len(text) == 66:
            return as_bytes32(text, what="order key")
        path = Path(text)
        if text.endswith(".json") or path.is_file():
            return OrderFile.load(path).key
        keys = self.find(order_id(text))
        if len(keys) == 1:
            return keys[0]
        if not keys:
            raise SettlementError(
                f"no order {text!r} on this chain: give its key (0x…), its order file, or an "
                "order id that was created here"
            )
        raise SettlementError(
            f"{len(keys)} orders have id {text!r}: give the key, one of " + ", ".join(to_hex(k) for k in keys)
        )

    def _logs(self, event: str, filters: dict[str, Any]) -> list[EventData]:
        logs = getattr(self.contract.events, event)().get_logs(
            argument_filters=filters, from_block=self.start_block, to_block="latest"
        )
        return sorted(logs, key=lambda e: (int(e["blockNumber"]), int(e["logIndex"])))
