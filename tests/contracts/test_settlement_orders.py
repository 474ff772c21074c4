"""SupplyChainSettlement's contract flow on the embedded chain: the EIP-712 order as a wallet shows it, signed by
EOAs and by an ERC-1271 multisig standing in for a Safe; tampered, swapped, replayed, foreign-domain and high-s
signatures; single-use order ids, voiding, terms checks at their edges; funding (approve, permit, a front-run
permit, at creation) and its cap. Every custom error with its arguments, every event with its fields.
Spec: docs/contracts/supply-chain-settlement.md."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from millchain.errors import ContractRevert
from millchain.settlement import (
    ORDER_TYPE,
    Order,
    OrderStatus,
    order_digest,
    order_key,
    order_typed_data,
    permit_typed_data,
    settlement_domain,
    sign_typed,
)
from tests.contracts.test_settlement_scenario import (
    BUYER,
    CARRIER,
    CONSORTIUM,
    MUSD,
    OWNER_A,
    OWNER_B,
    OWNER_C,
    PRICE,
    QUANTITY,
    STRANGER,
    SUPPLIER,
    World,
    events,
    multisig,
    multisig_signature,
    reverts,
    through,
)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ZERO_ADDRESS = "0x" + "00" * 20
TAX_VERIFIER_ROLE = keccak(text="TAX_VERIFIER_ROLE")
ARBITER_ROLE = keccak(text="ARBITER_ROLE")



def raw(world: World, **overrides: Any) -> Order:
    """An order with any field values, even ones the SDK would refuse (to reach the contract's checks)."""
    base = world.order().model_dump()
    base.update(overrides)
    for name in ("buyer", "supplier", "carrier", "token"):
        base[name] = to_checksum_address(base[name])
    return Order.model_construct(**base)


def signed(world: World, order: Order, *, domain: dict[str, Any] | None = None) -> tuple[bytes, bytes]:
    """The buyer's and supplier's signatures of ``order`` (on ``domain``, default the deployment's)."""
    typed = order_typed_data(domain or world(BUYER).domain, order)
    chain = world.session.chain
    return sign_typed(chain.account(BUYER), typed), sign_typed(chain.account(SUPPLIER), typed)


def submit(world: World, order: Order, buyer_sig: bytes, supplier_sig: bytes, *, by: int = STRANGER,
           funding: int = 0) -> Any:
    client = world(by)
    return client.create(order, buyer_sig, supplier_sig, funding=funding)


# ---------------------------------------------------------------------------------------------- deployment


def test_roles_quality_contracts_and_domain_are_published(w: World) -> None:
    fns = w.contract.functions
    assert fns.TAX_VERIFIER_ROLE().call() == TAX_VERIFIER_ROLE
    assert fns.ARBITER_ROLE().call() == ARBITER_ROLE
    assert fns.MAX_LOTS().call() == 32
    assert fns.LEDGER().call() == w.session.address("QualityLedger")
    assert fns.BONDS().call() == w.session.address("QualityBonds")
    for role in (b"\0" * 32, TAX_VERIFIER_ROLE, ARBITER_ROLE):
        assert fns.hasRole(role, w.address(CONSORTIUM)).call()
        assert not fns.hasRole(role, w.address(STRANGER)).call()
    assert tuple(fns.eip712Domain().call()[1:5]) == (
        "SupplyChainSettlement", "1", w.session.chain.chain_id, w.contract.address)


# ---------------------------------------------------------------------------------------------- the typed data


def test_the_wallet_json_the_sdk_digest_and_the_contract_digest_agree(w: World) -> None:
    order = w.order(qc_required=True)
    domain = w(BUYER).domain
    typed = order_typed_data(domain, order)
    assert typed["primaryType"] == "Order" and typed["types"]["Order"] == ORDER_TYPE
    assert typed["message"]["orderId"] == "0x" + order.order_id.hex()
    assert typed["message"]["total"] == str(QUANTITY * PRICE)  # uint96 as a decimal string: JSON numbers stop at 2**53
    wallet_hash = encode_typed_data(full_message=typed)
    contract_digest = bytes(w.contract.functions.orderDigest(order.as_tuple()).call())
    assert order_digest(domain, order) == contract_digest
    recovered = Account.recover_message(wallet_hash, signature=w(BUYER).sign(order))
    assert recovered == w.address(BUYER)


def test_order_key_is_the_pair_and_the_id(w: World) -> None:
    order = w.order()
    expected = bytes(w.contract.functions.orderKeyOf(order.buyer, order.supplier, order.order_id).call())
    assert order.key == order_key(order.buyer, order.supplier, order.order_id) == expected


# ---------------------------------------------------------------------------------------------- creating


def test_either_party_or_anyone_submits_a_doubly_signed_order(w: World) -> None:
    for by in (BUYER, SUPPLIER, STRANGER):
        order = w.order(qc_required=by == SUPPLIER)
        key, outcome = submit(w, order, *signed(w, order), by=by)
        [created] = events(w.contract, outcome, "OrderCreated")
        assert created == {"orderKey": key, "orderId": order.order_id, "buyer": order.buyer,
                           "supplier": order.supplier, "carrier": order.carrier,
                           "linesCommitment": order.lines_commitment}
        view = w(STRANGER).get(key)
        assert (view.status, view.quantity, view.unit_price, view.qc_required, view.escrow, view.shipment_count) == (
            OrderStatus.ACTIVE, QUANTITY, PRICE, by == SUPPLIER, 0, 0)
        assert (view.retention_bps, view.warranty_period, view.tolerance_bps) == (
            order.retention_bps, order.warranty_period, order.tolerance_bps)
        assert (view.buyer, view.supplier, view.carrier, view.token) == (
            order.buyer, order.supplier, order.carrier, order.token)


@pytest.mark.parametrize("field,value", [
    ("quantity", QUANTITY + 1), ("unit_price", PRICE - 1), ("carrier", "0x" + "ab" * 20),
    ("delivery_deadline", None), ("retention_bps", 0), ("tolerance_bps", 10_000), ("qc_required", True),
    ("lines_commitment", b"\x22" * 32), ("warranty_period", 1),
])
def test_a_tampered_order_is_refused(w: World, field: str, value: Any) -> None:
    order = w.order()
    signatures = signed(w, order)
    changed = {field: value if value is not None else order.delivery_deadline + 1}
    if field in ("quantity", "unit_price"):
        quantity, price = changed.get("quantity", order.quantity), changed.get("unit_price", order.unit_price)
        changed["total"] = quantity * price
    tampered = raw(w, **{**order.model_dump(), **changed})
    with reverts("SupplyChainSettlementInvalidSignature", signer=w.low(BUYER)):
        submit(w, tampered, *signatures)


def test_swapped_missing_and_foreign_signatures_are_refused(w: World) -> None:
    order = w.order()
    buyer_sig, supplier_sig = signed(w, order)
    with reverts("SupplyChainSettlementInvalidSignature", signer=w.low(BUYER)):
        submit(w, order, supplier_sig, buyer_sig)
    with reverts("SupplyChainSettlementInvalidSignature", signer=w.low(SUPPLIER)):
        submit(w, order, buyer_sig, buyer_sig)
    with reverts("SupplyChainSettlementInvalidSignature", signer=w.low(BUYER)):
        submit(w, order, b"", supplier_sig)
    other_chain = settlement_domain(w.session.chain.chain_id + 1, w.contract.address)
    with reverts("SupplyChainSettlementInvalidSignature", signer=w.low(BUYER)):
        submit(w, order, *signed(w, order, domain=other_chain))
    other_contract = settlement_domain(w.session.chain.chain_id, w.session.address("QualityBonds"))
    with reverts("SupplyChainSettlementInvalidSignature", signer=w.low(BUYER)):
        submit(w, order, *signed(w, order, domain=other_contract))


def test_a_high_s_twin_of_a_valid_signature_is_refused(w: World) -> None:
    order = w.order()
    buyer_sig, supplier_sig = signed(w, order)
    r, s, v = buyer_sig[:32], int.from_bytes(buyer_sig[32:64], "big"), buyer_sig[64]
    twin = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28: the same point, high s
    assert Account.recover_message(encode_typed_data(full_message=w(BUYER).typed_data(order)),
                                   vrs=(55 - v, int.from_bytes(r, "big"), SECP256K1_N - s)) == w.address(BUYER)
    with reverts("SupplyChainSettlementInvalidSignature", signer=w.low(BUYER)):
        submit(w, order, twin, supplier_sig)


def test_a_replayed_order_is_refused(w: World) -> None:
    order = w.order()
    signatures = signed(w, order)
    key, _ = submit(w, order, *signatures)
    with reverts("SupplyChainSettlementOrderExists", orderKey=key, status=OrderStatus.ACTIVE):
        submit(w, order, *signatures)


def test_an_id_is_single_use_per_pair_even_with_other_terms(w: World) -> None:
    first = w.order()
    key, _ = submit(w, first, *signed(w, first))
    renegotiated = w.order(order_id=first.order_id, unit_price=PRICE + 1)
    assert renegotiated.key == key
    with reverts("SupplyChainSettlementOrderExists", orderKey=key, status=OrderStatus.ACTIVE):
        submit(w, renegotiated, *signed(w, renegotiated))


def test_a_stranger_cannot_occupy_the_pairs_order_id(w: World) -> None:
    order = w.order()
    squatter = w.order(order_id=order.order_id, buyer=w.address(STRANGER), supplier=w.address(CARRIER))
    typed = order_typed_data(w(BUYER).domain, squatter)
    chain = w.session.chain
    submit(w, squatter, sign_typed(chain.account(STRANGER), typed), sign_typed(chain.account(CARRIER), typed))
    with reverts("SupplyChainSettlementUnauthorized", orderKey=b"\0" * 32, party=3, caller=w.low(STRANGER)):
        w(STRANGER).void(order.buyer, order.supplier, order.order_id)
    key, _ = submit(w, order, *signed(w, order))
    assert w(STRANGER).status(key) is OrderStatus.ACTIVE


def test_either_party_voids_an_unsubmitted_id_for_good(w: World) -> None:
    for party in (BUYER, SUPPLIER):
        order = w.order()
        outcome = w(party).void(order.buyer, order.supplier, order.order_id)
        assert events(w.contract, outcome, "OrderVoided") == [
            {"orderKey": order.key, "orderId": order.order_id, "by": w.address(party)}]
        assert w(STRANGER).status(order.key) is OrderStatus.VOID
        with reverts("SupplyChainSettlementOrderExists", orderKey=order.key, status=OrderStatus.VOID):
            submit(w, order, *signed(w, order))
        with reverts("SupplyChainSettlementUnknownOrder", orderKey=order.key):
            w(STRANGER).get(order.key)
    order = w.order()
    key, _ = submit(w, order, *signed(w, order))
    with reverts("SupplyChainSettlementOrderExists", orderKey=key, status=OrderStatus.ACTIVE):
        w(BUYER).void(order.buyer, order.supplier, order.order_id)


def test_terms_are_checked_at_their_edges(w: World) -> None:
    def refused(error: str, **changes: Any) -> Any:
        order = raw(w, **changes)
        return reverts(error, **_args(error, order)), order

    def _args(error: str, order: Order) -> dict[str, Any]:
        return {
            "SupplyChainSettlementZeroAddress": {},
            "SupplyChainSettlementSameParty": {"account": order.buyer.lower()},
            "SupplyChainSettlementEmptyOrder": {"quantity": order.quantity, "unitPrice": order.unit_price},
            "SupplyChainSettlementTotalMismatch": {"total": order.total,
                                                   "computed": order.quantity * order.unit_price},
            "SupplyChainSettlementInvalidTerms": {"retentionBps": order.retention_bps,
                                                  "warrantyPeriod": order.warranty_period,
                                                  "toleranceBps": order.tolerance_bps},
            "SupplyChainSettlementOrderEnded": {"orderKey": b"\0" * 32, "deadline": order.delivery_deadline},
        }[error]

    cases = [
        ("SupplyChainSettlementZeroAddress", {"carrier": ZERO_ADDRESS}),
        ("SupplyChainSettlementZeroAddress", {"token": ZERO_ADDRESS}),
        ("SupplyChainSettlementSameParty", {"supplier": w.address(BUYER)}),
        ("SupplyChainSettlementEmptyOrder", {"quantity": 0, "total": 0}),
        ("SupplyChainSettlementEmptyOrder", {"unit_price": 0, "total": 0}),
        ("SupplyChainSettlementTotalMismatch", {"total": QUANTITY * PRICE - 1}),
        ("SupplyChainSettlementTotalMismatch", {"quantity": 2**48 - 1, "unit_price": 2**96 - 1, "total": 2**96 - 1}),
        ("SupplyChainSettlementInvalidTerms", {"retention_bps": 10_001}),
        ("SupplyChainSettlementInvalidTerms", {"tolerance_bps": 10_001}),
        ("SupplyChainSettlementInvalidTerms", {"retention_bps": 1, "warranty_period": 0}),
        ("SupplyChainSettlementOrderEnded", {"delivery_deadline": w.now() - 1}),
    ]
    for error, changes in cases:
        expectation, order = refused(error, **changes)
        with expectation:
            submit(w, order, *signed(w, order))
    # At the edges: everything allowed, in full.
    edge = raw(w, retention_bps=10_000, tolerance_bps=10_000, quantity=2**48 - 1, unit_price=1, total=2**48 - 1,
               carrier=w.address(BUYER), delivery_deadline=w.now() + 60)
    key, _ = submit(w, edge, *signed(w, edge))
    assert w(STRANGER).get(key).quantity == 2**48 - 1
    no_retention = raw(w, retention_bps=0, warranty_period=0)
    submit(w, no_retention, *signed(w, no_retention))


# ---------------------------------------------------------------------------------------------- ERC-1271


def test_a_multisig_buyer_signs_funds_receives_and_settles(w: World) -> None:
    wallet = multisig(w)
    w.mint(wallet.address, 20_000 * MUSD)
    order = w.order(buyer=wallet.address)
    typed = order_typed_data(w(BUYER).domain, order)
    digest = order_digest(w(BUYER).domain, order)
    supplier_sig = sign_typed(w.session.chain.account(SUPPLIER), typed)
    with reverts("SupplyChainSettlementInvalidSignature", signer=wallet.address.lower()):
        submit(w, order, multisig_signature(w, digest, [OWNER_A]), supplier_sig)
    with reverts("SupplyChainSettlementInvalidSignature", signer=wallet.address.lower()):
        submit(w, order, multisig_signature(w, digest, [OWNER_A, STRANGER]), supplier_sig)
    key, _ = submit(w, order, multisig_signature(w, digest, [OWNER_B, OWNER_C]), supplier_sig)

    # A later rotation of the wallet's keys does not undo what it signed.
    w(OWNER_A).tx.transact(wallet.functions.setLocked(True), gas=w.gas)
    token, settlement = w.token, w.contract
    through(w, wallet, OWNER_A, token.functions.approve(settlement.address, order.total))
    through(w, wallet, OWNER_B, settlement.functions.fund(key, order.total, 0))
    shipment = w.delivered(key, QUANTITY)
    through(w, wallet, OWNER_C, settlement.functions.confirmReceipt(key, shipment, QUANTITY))
    before = w.balance(SUPPLIER)
    verified = w.invoiced(key, shipment, order.total)
    assert verified.settled[0]["paid"] == order.total * 95 // 100
    assert w.balance(SUPPLIER) - before == order.total * 95 // 100
    with reverts("SupplyChainSettlementUnauthorized", orderKey=key, party=0, caller=w.low(OWNER_A)):
        w(OWNER_A).confirm_receipt(key, shipment, 1)


def test_a_multisig_supplier_is_paid_and_a_locked_wallet_signs_nothing(w: World) -> None:
    wallet = multisig(w)
    order = w.order(supplier=wallet.address)
    domain = w(BUYER).domain
    buyer_sig = sign_typed(w.session.chain.account(BUYER), order_typed_data(domain, order))
    supplier_sig = multisig_signature(w, order_digest(domain, order), [OWNER_A, OWNER_C])
    w(OWNER_A).tx.transact(wallet.functions.setLocked(True), gas=w.gas)
    with reverts("SupplyChainSettlementInvalidSignature", signer=wallet.address.lower()):
        submit(w, order, buyer_sig, supplier_sig)
    w(OWNER_A).tx.transact(wallet.functions.setLocked(False), gas=w.gas)
    key, _ = submit(w, order, buyer_sig, supplier_sig, by=BUYER, funding=order.total)
    shipment = w.delivered(key, 400)
    w(BUYER).confirm_receipt(key, shipment, 400)
    through(w, wallet, OWNER_B, w.contract.functions.submitInvoice(key, shipment, 400 * PRICE, 0, b"\x1e" * 32))
    w(CONSORTIUM).verify_invoice(key, shipment)
    assert w.balance(wallet.address) == 400 * PRICE * 95 // 100


# ---------------------------------------------------------------------------------------------- funds


def test_funding_pulls_tokens_and_is_capped_by_what_the_order_can_still_pay(w: World) -> None:
    order = w.order()
    key = w.create(order)
    before = w.balance(BUYER)
    outcome = w(BUYER).fund(key, 1_000 * MUSD)
    assert events(w.contract, outcome, "EscrowFunded") == [
        {"orderKey": key, "from": w.address(BUYER), "amount": 1_000 * MUSD, "unfunded": order.total - 1_000 * MUSD}]
    assert before - w.balance(BUYER) == 1_000 * MUSD
    with reverts("SupplyChainSettlementOverfunded", orderKey=key, escrow=order.total + 1, maximum=order.total):
        w(BUYER).fund(key, order.total - 1_000 * MUSD + 1)
    with reverts("SupplyChainSettlementZeroAmount"):
        w(BUYER).tx.transact(w.contract.functions.fund(key, 0, 0), gas=w.gas)
    unknown = b"\x42" * 32
    with reverts("SupplyChainSettlementUnknownOrder", orderKey=unknown):
        w(BUYER).tx.transact(w.contract.functions.fund(unknown, 1, 0), gas=w.gas)
    # Anyone may pay for the buyer (its bank, say); the cap then counts settled quantity out.
    w.mint(STRANGER, order.total)
    w(STRANGER).fund(key, order.total - 1_000 * MUSD)
    assert w(STRANGER).get(key).escrow == order.total
    shipment, _ = w.settle_delivery(key, 400)
    assert w(STRANGER).get(key).escrow == order.total - 400 * PRICE
    with reverts("SupplyChainSettlementOverfunded", orderKey=key, escrow=order.total - 400 * PRICE + 1,
                 maximum=(QUANTITY - 400) * PRICE):
        w(BUYER).fund(key, 1)
    assert shipment >> 240 == 1


def test_funding_at_creation_pulls_from_the_submitter(w: World) -> None:
    order = w.order()
    before = w.balance(BUYER)
    key, outcome = submit(w, order, *signed(w, order), by=BUYER, funding=order.total)
    assert outcome.events == ["OrderCreated", "EscrowFunded"]
    assert before - w.balance(BUYER) == order.total
    assert w(BUYER).get(key).escrow == order.total
    too_much = w.order()
    with reverts("SupplyChainSettlementOverfunded", orderKey=too_much.key, escrow=too_much.total + 1,
                 maximum=too_much.total):
        submit(w, too_much, *signed(w, too_much), by=BUYER, funding=too_much.total + 1)


def test_a_permit_replaces_the_approval_and_a_front_run_permit_does_not_block_it(w: World) -> None:
    key = w.create()
    w.mint(STRANGER, 2_000 * MUSD)
    payer = w(STRANGER)
    payer.fund(key, 500 * MUSD, permit=True)
    assert w.token.functions.allowance(payer.address, w.contract.address).call() == 0
    # Someone front-runs the permit itself: the allowance it set is spent by the funding all the same.
    deadline = w.now() + 3600
    nonce = w.token.functions.nonces(payer.address).call()
    typed = permit_typed_data(w.token, payer.address, w.contract.address, 700 * MUSD, nonce, deadline)
    signed_permit = payer.tx.account.sign_typed_data(full_message=typed)
    v, r, s = signed_permit.v, signed_permit.r.to_bytes(32, "big"), signed_permit.s.to_bytes(32, "big")
    w(CARRIER).tx.transact(w.token.functions.permit(payer.address, w.contract.address, 700 * MUSD, deadline, v, r, s),
                           gas=w.gas)
    payer.tx.transact(w.contract.functions.fundWithPermit(key, 700 * MUSD, 0, deadline, v, r, s), gas=w.gas)
    assert payer.get(key).escrow == 1_200 * MUSD
    with pytest.raises(ContractRevert) as caught:
        payer.tx.transact(w.contract.functions.fundWithPermit(key, 1, 0, deadline, v, r, s), gas=w.gas)
    assert caught.value.name == "ERC20InsufficientAllowance"
