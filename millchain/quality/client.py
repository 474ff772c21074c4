"""QualityClient: every QualityLedger and QualityBonds operation for one signing account."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt

from millchain.client import AccountClient
from millchain.disclosure import Disclosure, SaltedDocument
from millchain.errors import ConfigError, MillchainError
from millchain.quality.alerts import AlertView
from millchain.quality.lineage import LotGraph, LotNode, chain_order, node_from_event
from millchain.quality.models import (
    DEFAULT_SIGNATURE_TTL,
    MAX_INPUTS,
    NO_EXPIRY,
    ZERO32,
    Alert,
    AlertRef,
    Attestation,
    Bond,
    Claim,
    ClaimStatus,
    Finding,
    Inspector,
    InspectorStatus,
    Lot,
    Organisation,
    Outcome,
    ReportCheck,
    Severity,
    SignedAttestation,
    Terms,
    Trace,
    TraceNode,
    VerificationFailed,
    to_hex,
)
from millchain.quality.typed_data import attestation_typed_data, lineage_digest, sign_typed
from millchain.session import Session
from millchain.typed_data import permit_typed_data
from millchain.types import label_of, parse_address


class QualityClient(AccountClient):
    """Every quality-control operation, for one signing account (``account_index``) of a session."""

    DEPLOYED_AS = "QualityLedger"

    def __init__(self, session: Session, account_index: int | None = None, *, gas: int | None = None) -> None:
        super().__init__(session, account_index, gas=gas)
        self.ledger: Contract = session.contract("QualityLedger")
        self.bonds: Contract = session.contract("QualityBonds")
        self._token: Contract | None = None

    @property
    def token(self) -> Contract:
        if self._token is None:
            address = self.tx.call(self.bonds.functions.TOKEN())
            self._token = self.session.contract("SettlementToken", address)
        return self._token

    def _send(self, fn: Any) -> TxReceipt:
        return self.tx.transact(fn, gas=self.gas)

    # ------------------------------------------------------------------ organisations and inspectors

    def register_organisation(self, org: bytes, admin: str, *, regulator: bool = False) -> TxReceipt:
        return self._send(self.ledger.functions.registerOrganisation(org, parse_address(admin), regulator))

    def add_member(self, org: bytes, account: str) -> TxReceipt:
        """Invites ``account`` to ``org``; it joins when it accepts (``accept_membership``)."""
        return self._send(self.ledger.functions.addMember(org, parse_address(account)))

    def accept_membership(self, org: bytes) -> TxReceipt:
        """Joins ``org``, which invited this account."""
        return self._send(self.ledger.functions.acceptMembership(org))

    def leave_organisation(self) -> TxReceipt:
        """Leaves this account's organisation (it stays affiliated with it and may only ever rejoin it)."""
        return self._send(self.ledger.functions.leaveOrganisation())

    def remove_member(self, org: bytes, account: str) -> TxReceipt:
        return self._send(self.ledger.functions.removeMember(org, parse_address(account)))

    def transfer_organisation_admin(self, org: bytes, new_admin: str) -> TxReceipt:
        return self._send(self.ledger.functions.transferOrganisationAdmin(org, parse_address(new_admin)))

    def accredit(self, inspector: str, org: bytes, *, valid_until: int = NO_EXPIRY) -> TxReceipt:
        return self._send(self.ledger.functions.accredit(parse_address(inspector), org, valid_until))

    def suspend(self, inspector: str) -> TxReceipt:
        return self._send(self.ledger.functions.suspend(parse_address(inspector)))

    def restore(self, inspector: str) -> TxReceipt:
        return self._send(self.ledger.functions.restore(parse_address(inspector)))

    def revoke(self, inspector: str) -> TxReceipt:
        return self._send(self.ledger.functions.revoke(parse_address(inspector)))

    def organisation(self, org: bytes) -> Organisation:
        admin, index, regulator = self.tx.call(self.ledger.functions.organisation(org))
        return Organisation(org_id=label_of(org), admin=admin, index=index, regulator=regulator)

    def organisation_of(self, account: str | None = None) -> bytes | None:
        org = bytes(self.tx.call(self.ledger.functions.organisationOf(parse_address(account or self.address))))
        return None if org == ZERO32 else org

    def affiliation_of(self, account: str | None = None) -> bytes | None:
        """The organisation ``account`` belongs or last belonged to (fixed from its first membership on)."""
        org = bytes(self.tx.call(self.ledger.functions.affiliationOf(parse_address(account or self.address))))
        return None if org == ZERO32 else org

    def last_independent_fail_at(self, org: bytes) -> int:
        """When an independent Fail last hit one of ``org``'s lots (0: never); its bond withdrawals wait
        WITHDRAWAL_DELAY after it."""
        return int(self.tx.call(self.ledger.functions.lastIndependentFailAt(org)))

    def latest_independent(self, lot: bytes) -> int:
        """The seq of ``lot``'s latest record by an organisation other than its producer (0: none)."""
        return int(self.tx.call(self.ledger.functions.latestIndependent(lot)))

    def my_organisation(self) -> bytes:
        org = self.organisation_of()
        if org is None:
            raise ConfigError(
                f"account {self.address} belongs to no organisation on the quality ledger "
                "(an organisation admin invites it with `millchain qc org add-member`, "
                "then it accepts with `millchain qc org accept`)"
            )
        return org

    def inspector(self, address: str) -> Inspector:
        checksummed = parse_address(address)
        org, status, since, valid_until = self.tx.call(self.ledger.functions.inspector(checksummed))
        can = bool(self.tx.call(self.ledger.functions.canAttest(checksummed)))
        org_bytes = bytes(org)
        return Inspector(
            address=checksummed,
            org_id=None if org_bytes == ZERO32 else label_of(org_bytes),
            status=InspectorStatus(status),
            since=since,
            valid_until=valid_until,
            can_attest=can,
        )

    def members(self, org: bytes) -> list[str]:
        """Current member accounts of ``org``, from MemberAdded / MemberRemoved / MemberLeft events."""
        events = [
            *self._logs("MemberAdded", {"orgId": org}),
            *self._logs("MemberRemoved", {"orgId": org}),
            *self._logs("MemberLeft", {"orgId": org}),
        ]
        members: dict[str, None] = {}
        for event in sorted(events, key=chain_order):
            account = str(event["args"]["account"])
            if event["event"] == "MemberAdded":
                members[account] = None
            else:
                members.pop(account, None)
        return list(members)

    # ------------------------------------------------------------------ lots

    def register_lot(
        self,
        lot: bytes,
        product: bytes,
        quantity: int,
        *,
        data_commitment: bytes = ZERO32,
        inputs: Sequence[bytes] = (),
    ) -> TxReceipt:
        """Register a lot of the sender's organisation; ``inputs`` are sorted here (the contract wants them
        strictly ascending) and checked for duplicates and the limit before anything is sent."""
        ordered = sorted(set(inputs))
        if len(ordered) != len(inputs):
            raise ConfigError("a lot lists an input lot twice")
        if len(ordered) > MAX_INPUTS:
            raise ConfigError(f"a lot consumes at most {MAX_INPUTS} input lots, got {len(ordered)}")
        if quantity <= 0 or quantity >= 2**64:
            raise ConfigError(f"quantity must be between 1 and 2**64 - 1, got {quantity}")
        return self._send(self.ledger.functions.registerLot(lot, product, quantity, data_commitment, ordered))

    def lot(self, lot: bytes) -> Lot:
        producer, product, quantity, registered_at, input_count, count, digest = self.tx.call(
            self.ledger.functions.lot(lot)
        )
        return Lot(
            lot_id=label_of(lot),
            producer=label_of(bytes(producer)),
            product_id=label_of(bytes(product)),
            quantity=quantity,
            registered_at=registered_at,
            input_count=input_count,
            attestation_count=count,
            lineage_digest=to_hex(digest),
        )

    def lot_event(self, lot: bytes) -> LotNode:
        """The lot's registration as emitted: data commitment and inputs (checked against its digest)."""
        events = list(self._logs("LotRegistered", {"lotId": lot}))
        if not events:
            raise ConfigError(f"lot {label_of(lot)} is not registered on this ledger")
        node = node_from_event(events[0])
        digest = bytes(self.tx.call(self.ledger.functions.lot(lot))[6])
        if digest != lineage_digest(node.data_commitment, node.inputs):
            raise MillchainError(f"lot {label_of(lot)}: its LotRegistered event does not match the stored digest")
        return node

    def graph(self, *, to_block: int | str = "latest") -> LotGraph:
        graph = LotGraph()
        for event in sorted(self._logs("LotRegistered", to_block=to_block), key=chain_order):
            graph.add(node_from_event(event))
        return graph

    def regulators(self) -> list[bytes]:
        return [
            bytes(e["args"]["orgId"])
            for e in sorted(self._logs("OrganisationRegistered"), key=chain_order)
            if e["args"]["regulator"]
        ]

    def trace(self, lot: bytes) -> Trace:
        """The lot with its upstream tree (what it was made of) and downstream tree (what was made of it)."""
        graph = self.graph()
        node = graph.node(lot)
        alerts: dict[bytes, list[str]] = {}
        for event in self._attested():
            if event["args"]["severity"] != 0:
                alerts.setdefault(bytes(event["args"]["lotId"]), []).append(
                    str(AlertRef(bytes(event["args"]["lotId"]), int(event["args"]["seq"])))
                )
        root = TraceNode(
            lot_id=label_of(lot),
            producer=label_of(node.producer),
            product_id=label_of(node.product),
            quantity=node.quantity,
            alerts=alerts.get(lot, []),
        )
        return Trace(
            lot=root,
            upstream=graph.tree(lot, up=True, alerts=alerts),
            downstream=graph.tree(lot, up=False, alerts=alerts),
        )

    # ------------------------------------------------------------------ attestations and alerts

    def attest(self, finding: Finding) -> tuple[AlertRef, TxReceipt]:
        """Attest as the sender (an accredited inspector); returns the attestation's ``LOT#SEQ``."""
        receipt = self._send(self.ledger.functions.attest(finding.as_tuple()))
        return self._attested_ref(receipt), receipt

    def raise_alert(
        self, lot: bytes, severity: Severity, *, report_commitment: bytes = ZERO32, uri: str = ""
    ) -> tuple[AlertRef, TxReceipt]:
        receipt = self._send(self.ledger.functions.raiseAlert(lot, int(severity), report_commitment, uri))
        return self._attested_ref(receipt), receipt

    def sign_attestation(
        self,
        finding: Finding,
        *,
        signer: LocalAccount | None = None,
        inspector: str | None = None,
        nonce: int | None = None,
        deadline: int | None = None,
    ) -> SignedAttestation:
        """Sign ``finding`` for relaying. ``signer`` defaults to this client's key; ``inspector`` to its address
        (give a contract wallet's address when ``signer`` is its owner key). ``nonce`` defaults to the inspector's
        next nonce on the ledger (IQualityLedger.attestBySig): the signature stays valid until relayed, until
        ``deadline`` or until the inspector cancels it (cancel_signed_attestations); nobody else's record makes
        it stale. Signatures of one inspector are relayed in nonce order, so a second one signed before the first
        is relayed needs ``nonce=first.nonce + 1``. ``deadline`` defaults to one day from the latest block."""
        account = signer or self.tx.account
        who = parse_address(inspector or account.address)
        if nonce is None:
            nonce = self.attestation_nonce(who)
        if deadline is None:
            deadline = int(self.session.chain.w3.eth.get_block("latest")["timestamp"]) + DEFAULT_SIGNATURE_TTL
        typed = attestation_typed_data(
            chain_id=self.session.chain.chain_id,
            ledger=self.ledger.address,
            finding=finding,
            inspector=who,
            nonce=nonce,
            deadline=deadline,
        )
        return SignedAttestation(
            lot=to_hex(finding.lot),
            outcome=finding.outcome,
            severity=finding.severity,
            sample_size=finding.sample_size,
            defects=finding.defects,
            supersedes=finding.supersedes,
            report_commitment=to_hex(finding.report_commitment),
            uri=finding.uri,
            inspector=who,
            nonce=nonce,
            deadline=deadline,
            signature=to_hex(sign_typed(account, typed)),
        )

    def relay(self, signed: SignedAttestation) -> tuple[AlertRef, TxReceipt]:
        """Submit someone's signed attestation (the sender pays the gas)."""
        receipt = self._send(
            self.ledger.functions.attestBySig(
                signed.finding().as_tuple(),
                parse_address(signed.inspector),
                signed.nonce,
                signed.deadline,
                HexBytes(signed.signature),
            )
        )
        return self._attested_ref(receipt), receipt

    def attestation_nonce(self, inspector: str) -> int:
        """The nonce ``inspector``'s next relayed attestation must carry."""
        return int(self.tx.call(self.ledger.functions.attestationNonce(parse_address(inspector))))

    def cancel_signed_attestations(self, up_to: int | None = None) -> TxReceipt:
        """Void the sender's signed attestations not yet relayed: every one with a nonce below ``up_to``
        (default: the next nonce + 1, which voids the one signature carrying the next nonce)."""
        if up_to is None:
            up_to = self.attestation_nonce(self.address) + 1
        return self._send(self.ledger.functions.cancelSignedAttestations(up_to))

    def _attested_ref(self, receipt: TxReceipt) -> AlertRef:
        (event,) = self.ledger.events.Attested().process_receipt(receipt, errors=DISCARD)
        return AlertRef(bytes(event["args"]["lotId"]), int(event["args"]["seq"]))

    def attestation(self, lot: bytes, seq: int, *, uri: str | None = None) -> Attestation:
        """Attestation ``seq`` of ``lot``. Its URI is not in storage: it is read from the ``Attested`` event
        unless the caller already holds that event and passes ``uri``."""
        record = self.tx.call(self.ledger.functions.attestation(lot, seq))
        return attestation_from_record(
            lot, seq, record, self._attested_uris(lot, seq).get(seq, "") if uri is None else uri
        )

    def attestations(self, lot: bytes) -> list[Attestation]:
        count = self.lot(lot).attestation_count
        uris = self._attested_uris(lot)  # one log query for the whole record, not one per attestation
        return [self.attestation(lot, seq, uri=uris.get(seq, "")) for seq in range(1, count + 1)]

    def _attested_uris(self, lot: bytes, seq: int | None = None) -> dict[int, str]:
        """The URI of each attestation of ``lot`` (only ``seq`` if given), by number, from ``Attested`` events."""
        filters: dict[str, Any] = {"lotId": lot} if seq is None else {"lotId": lot, "seq": seq}
        return {int(e["args"]["seq"]): str(e["args"]["uri"]) for e in self._logs("Attested", filters)}

    def acknowledge(self, ref: AlertRef) -> TxReceipt:
        return self._send(self.ledger.functions.acknowledge(ref.lot, ref.seq))

    def acknowledged_at(self, ref: AlertRef, org: bytes) -> int:
        return int(self.tx.call(self.ledger.functions.acknowledgedAt(ref.lot, ref.seq, org)))

    def alerts(self, *, org: bytes | None = None, pending_only: bool = False, active_only: bool = False) -> list[Alert]:
        """Every alert, with the organisations it concerns and their acknowledgements, oldest first.
        ``org``: only alerts concerning it; ``pending_only``: only those ``org`` (or anyone) has not
        acknowledged; ``active_only``: not superseded by a correction."""
        view = AlertView.load(self)
        out = []
        for alert in view.all_alerts():
            if org is not None and label_of(org) not in alert.affected:
                continue
            if pending_only and (label_of(org) not in alert.pending if org is not None else not alert.pending):
                continue
            if active_only and not alert.active:
                continue
            out.append(alert)
        return out

    # ------------------------------------------------------------------ bonds

    def mint(self, to: str, amount: int) -> TxReceipt:
        """Development chains only: mint settlement tokens (the sender needs MINTER_ROLE)."""
        return self._send(self.token.functions.mint(parse_address(to), amount))

    def balance_of(self, account: str) -> int:
        return int(self.tx.call(self.token.functions.balanceOf(parse_address(account))))

    def deposit(self, org: bytes, product: bytes, amount: int) -> TxReceipt:
        """Approve (if the allowance is short) and deposit ``amount`` into the bond."""
        if amount <= 0:
            raise ConfigError("a deposit must be more than zero")
        allowance = int(self.tx.call(self.token.functions.allowance(self.address, self.bonds.address)))
        if allowance < amount:
            self._send(self.token.functions.approve(self.bonds.address, amount))
        return self._send(self.bonds.functions.deposit(org, product, amount))

    def permit_typed_data(self, amount: int, deadline: int) -> dict[str, Any]:
        """The ERC-2612 permit letting the bonds contract pull ``amount`` from this account."""
        nonce = int(self.tx.call(self.token.functions.nonces(self.address)))
        return permit_typed_data(self.token, self.address, self.bonds.address, amount, nonce, deadline)

    def deposit_with_permit(self, org: bytes, product: bytes, amount: int, *, deadline: int | None = None) -> TxReceipt:
        """Deposit in one transaction: sign an ERC-2612 permit instead of sending an approval."""
        if amount <= 0:
            raise ConfigError("a deposit must be more than zero")
        if deadline is None:
            deadline = int(self.session.chain.w3.eth.get_block("latest")["timestamp"]) + 3600
        signed = self.tx.account.sign_typed_data(full_message=self.permit_typed_data(amount, deadline))
        return self._send(
            self.bonds.functions.depositWithPermit(
                org, product, amount, deadline, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
            )
        )

    def set_terms(self, org: bytes, product: bytes, terms: Terms) -> TxReceipt:
        return self._send(
            self.bonds.functions.setTerms(
                org, product, (terms.penalty_per_defect, terms.claim_cap, terms.dispute_window)
            )
        )

    def request_withdrawal(self, org: bytes, product: bytes, amount: int, to: str | None = None) -> TxReceipt:
        return self._send(
            self.bonds.functions.requestWithdrawal(org, product, amount, parse_address(to or self.address))
        )

    def cancel_withdrawal(self, org: bytes, product: bytes) -> TxReceipt:
        return self._send(self.bonds.functions.cancelWithdrawal(org, product))

    def execute_withdrawal(self, org: bytes, product: bytes) -> TxReceipt:
        return self._send(self.bonds.functions.executeWithdrawal(org, product))

    def bond(self, org: bytes, product: bytes) -> Bond:
        (balance, locked, terms, pending, effective_at, amount, to, unlock_at) = self.tx.call(
            self.bonds.functions.bond(org, product)
        )
        return Bond(
            org_id=label_of(org),
            product_id=label_of(product),
            balance=balance,
            locked=locked,
            free=balance - locked,
            terms=Terms(penalty_per_defect=terms[0], claim_cap=terms[1], dispute_window=terms[2]),
            pending_terms=Terms(penalty_per_defect=pending[0], claim_cap=pending[1], dispute_window=pending[2]),
            terms_effective_at=effective_at,
            withdrawal_amount=amount,
            withdrawal_to=to,
            unlock_at=unlock_at,
        )

    # ------------------------------------------------------------------ claims

    def file_claim(
        self,
        ref: AlertRef,
        consumer_lot: bytes | None = None,
        *,
        consumer_lineage: tuple[bytes, Sequence[bytes]] | None = None,
    ) -> tuple[int, TxReceipt]:
        """File the sender's organisation's claim on failed attestation ``ref``. ``consumer_lot`` (one of the
        sender's organisation's lots that consumed ``ref.lot``) is found from the lineage when not given; its
        (data commitment, inputs) are read from its LotRegistered event unless ``consumer_lineage`` gives them."""
        if consumer_lot is None:
            consumer_lot = self.consumer_lot_of(ref.lot, self.my_organisation())
        if consumer_lineage is None:
            node = self.lot_event(consumer_lot)
            consumer_lineage = (node.data_commitment, node.inputs)
        commitment, inputs = consumer_lineage
        receipt = self._send(self.bonds.functions.fileClaim(ref.lot, ref.seq, consumer_lot, commitment, sorted(inputs)))
        (event,) = self.bonds.events.ClaimFiled().process_receipt(receipt, errors=DISCARD)
        return int(event["args"]["claimId"]), receipt

    def consumer_lot_of(self, lot: bytes, org: bytes) -> bytes:
        """A lot of ``org`` that lists ``lot`` directly among its inputs (the first registered)."""
        graph = self.graph()
        graph.node(lot)
        for consumer in graph.consumers.get(lot, []):
            if graph.lots[consumer].producer == org:
                return consumer
        raise ConfigError(
            f"{label_of(org)} registered no lot consuming {label_of(lot)} directly: only a direct "
            "buyer can claim (pass --consumer-lot for one of its lots that lists it as input)"
        )

    def accept_claim(self, claim_id: int) -> TxReceipt:
        return self._send(self.bonds.functions.acceptClaim(claim_id))

    def dispute_claim(self, claim_id: int, reason_commitment: bytes = ZERO32) -> TxReceipt:
        return self._send(self.bonds.functions.disputeClaim(claim_id, reason_commitment))

    def execute_claim(self, claim_id: int) -> TxReceipt:
        return self._send(self.bonds.functions.executeClaim(claim_id))

    def rule_claim(self, claim_id: int, awarded: int, ruling_commitment: bytes = ZERO32) -> TxReceipt:
        return self._send(self.bonds.functions.ruleClaim(claim_id, awarded, ruling_commitment))

    def withdraw_claim(self, claim_id: int) -> TxReceipt:
        return self._send(self.bonds.functions.withdrawClaim(claim_id))

    def claim(self, claim_id: int) -> Claim:
        (lot, seq, supplier, product, claimant, consumer, amount, paid, filed_at, deadline, status) = self.tx.call(
            self.bonds.functions.claim(claim_id)
        )
        return Claim(
            claim_id=claim_id,
            lot_id=label_of(bytes(lot)),
            seq=seq,
            supplier=label_of(bytes(supplier)),
            product_id=label_of(bytes(product)),
            claimant=label_of(bytes(claimant)),
            consumer_lot=label_of(bytes(consumer)),
            amount=amount,
            paid=paid,
            filed_at=filed_at,
            deadline=deadline,
            status=ClaimStatus(status),
        )

    def claims(self) -> list[Claim]:
        count = int(self.tx.call(self.bonds.functions.claimCount()))
        return [self.claim(i) for i in range(1, count + 1)]

    # ------------------------------------------------------------------ report verification

    def verify_report(self, path: Path, lot: bytes, *, seq: int | None = None) -> ReportCheck:
        """Check an opened document (every field and salt, as saved by ``--save``) or one disclosed field
        (``SaltedDocument.disclose``) against the lot's commitments on the chain: its attestations' report
        commitments (only attestation ``seq`` if given) and its data commitment."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path} holds no JSON object: expected an opened document or a disclosure")
        candidates = self._commitments(lot, seq)
        if "proof" in data:
            disclosure = _parse_model(Disclosure, data, path, "a disclosure")
            matched = [name for name, root in candidates if disclosure.verify(root)]
            return ReportCheck(
                ok=bool(matched),
                kind="disclosure",
                root=disclosure.root,
                lot_id=label_of(lot),
                matched=matched,
                fields={disclosure.name: disclosure.value_text},
            )
        if "fields" in data:
            document = _parse_model(SaltedDocument, data, path, "an opened document")
            recomputed = SaltedDocument.commit(
                {name: HexBytes(f.value) for name, f in document.fields.items()},
                salts={name: HexBytes(f.salt) for name, f in document.fields.items()},
            ).root
            if recomputed != document.root:
                raise VerificationFailed(
                    f"{path}: its fields hash to {recomputed}, not to the root {document.root} "
                    "it names: the document was altered"
                )
            matched = [name for name, root in candidates if HexBytes(root) == HexBytes(document.root)]
            return ReportCheck(
                ok=bool(matched),
                kind="document",
                root=document.root,
                lot_id=label_of(lot),
                matched=matched,
                fields={n: document.value_text(n) for n in document.fields},
            )
        raise ConfigError(
            f"{path} is neither an opened document (root, fields) nor a disclosure (root, name, value, salt, proof)"
        )

    def _commitments(self, lot: bytes, seq: int | None) -> list[tuple[str, bytes]]:
        record = self.lot(lot)
        if seq is not None and not 1 <= seq <= record.attestation_count:
            raise ConfigError(f"lot {label_of(lot)} has attestations 1..{record.attestation_count}, not {seq}")
        seqs = [seq] if seq is not None else range(1, record.attestation_count + 1)
        out: list[tuple[str, bytes]] = [
            (f"attestation {s}", bytes(HexBytes(self.attestation(lot, s).report_commitment))) for s in seqs
        ]
        if seq is None:
            out.append(("lot data", self.lot_event(lot).data_commitment))
        return [(name, bytes(root)) for name, root in out if bytes(root) != ZERO32]

    # ------------------------------------------------------------------ events

    def _logs(
        self,
        event: str,
        filters: dict[str, Any] | None = None,
        *,
        from_block: int | None = None,
        to_block: int | str = "latest",
        contract: Contract | None = None,
    ) -> list[EventData]:
        source = contract if contract is not None else self.ledger
        return list(
            getattr(source.events, event).get_logs(
                argument_filters=filters,
                from_block=self.start_block if from_block is None else from_block,
                to_block=to_block,
            )
        )

    def _attested(self, *, from_block: int | None = None, to_block: int | str = "latest") -> list[EventData]:
        return sorted(self._logs("Attested", from_block=from_block, to_block=to_block), key=chain_order)


def _parse_model(model: type[Any], data: dict[str, Any], path: Path, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"{path} is not {what}: {exc}") from exc


def attestation_from_record(lot: bytes, seq: int, record: Sequence[Any], uri: str) -> Attestation:
    """Attestation ``seq`` of ``lot`` from what ``QualityLedger.attestation`` returned and its event's URI."""
    (org, outcome, severity, sample, defects, at, supersedes, superseded_by, independent, commitment) = record
    return Attestation(
        ref=str(AlertRef(lot, seq)),
        lot_id=label_of(lot),
        seq=seq,
        inspector_org=label_of(bytes(org)),
        outcome=Outcome(outcome),
        severity=Severity(severity),
        sample_size=sample,
        defects=defects,
        attested_at=at,
        supersedes=supersedes,
        superseded_by=superseded_by,
        independent=independent,
        report_commitment=to_hex(commitment),
        uri=uri,
    )
