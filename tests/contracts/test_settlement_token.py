"""SettlementToken on the embedded chain: metadata, MINTER_ROLE-gated minting, ERC-20 transfers and ERC-2612
permits signed off-chain with eth-account, with OpenZeppelin's exact errors and events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.datastructures import SignedMessage
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract
from web3.types import TxReceipt

from millchain.errors import ContractRevert
from millchain.session import Session
from millchain.tx import Transactor

ZERO_ADDRESS = "0x" + "00" * 20
DEFAULT_ADMIN_ROLE = b"\0" * 32
MINTER_ROLE = keccak(text="MINTER_ROLE")
MUSD = 10**6
"""One mUSD in base units."""

ADMIN, HOLDER, SPENDER, RELAYER, STRANGER = 0, 1, 2, 3, 4
"""Dev account indices. Account 0 deployed the token and holds DEFAULT_ADMIN_ROLE and MINTER_ROLE."""

NAME, VERSION = "Millchain Settlement USD", "1"

PERMIT_OWNER: LocalAccount = Account.from_key(keccak(text="millchain-test-permit-owner"))
"""Signs permits off-chain and never sends a transaction (it holds no ether)."""
FORGER: LocalAccount = Account.from_key(keccak(text="millchain-test-forger"))


@contextmanager
def reverts(name: str, **args: Any) -> Iterator[None]:
    """Expect the custom error ``name`` with exactly ``args`` (addresses lowercase, bytes32 as bytes)."""
    with pytest.raises(ContractRevert) as caught:
        yield
    assert (caught.value.name, caught.value.args_by_name) == (name, args)


def low(address: str) -> str:
    return address.lower()


@pytest.fixture
def token(local: Session) -> Contract:
    return local.contract("SettlementToken")


def tx(local: Session, index: int) -> Transactor:
    return local.transactor(index)


def address(local: Session, index: int) -> str:
    return str(local.chain.account(index).address)


def only_event(token: Contract, receipt: TxReceipt, event: str) -> dict[str, Any]:
    assert len(receipt["logs"]) == 1
    (decoded,) = getattr(token.events, event)().process_receipt(receipt)
    assert decoded.address == token.address
    return dict(decoded.args)


def latest_time(local: Session) -> int:
    return int(local.chain.w3.eth.get_block("latest")["timestamp"])


# ---------------------------------------------------------------------------------------------- permit helpers


def permit_message(
    local: Session, token: Contract, *, owner: str, spender: str, value: int, nonce: int, deadline: int
) -> dict[str, Any]:
    """The full EIP-712 message for an ERC-2612 permit, domain included."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {"name": NAME, "version": VERSION, "chainId": local.chain.chain_id,
                   "verifyingContract": token.address},
        "message": {"owner": owner, "spender": spender, "value": value, "nonce": nonce, "deadline": deadline},
    }


def sign(signer: LocalAccount, message: dict[str, Any]) -> SignedMessage:
    return Account.sign_typed_data(signer.key, full_message=message)


def submit_permit(
    local: Session, token: Contract, signed: SignedMessage, *, owner: str, spender: str, value: int, deadline: int
) -> TxReceipt:
    """Send the permit from a relayer: the owner only signs."""
    fn = token.functions.permit(owner, spender, value, deadline, signed.v, signed.r.to_bytes(32, "big"),
                                signed.s.to_bytes(32, "big"))
    return tx(local, RELAYER).transact(fn)


def recovered_signer(message: dict[str, Any], signed: SignedMessage) -> str:
    """Who the contract will recover ``signed`` as, when it hashes ``message``."""
    return str(Account.recover_message(encode_typed_data(full_message=message),
                                       vrs=(signed.v, signed.r, signed.s)))


# ---------------------------------------------------------------------------------------------- metadata and roles


def test_token_is_named_musd_with_six_decimals_and_no_supply(token: Contract) -> None:
    fns = token.functions
    assert fns.name().call() == NAME
    assert fns.symbol().call() == "mUSD"
    assert fns.decimals().call() == 6
    assert fns.totalSupply().call() == 0


def test_deployer_holds_admin_and_minter_roles(local: Session, token: Contract) -> None:
    fns = token.functions
    assert fns.MINTER_ROLE().call() == MINTER_ROLE
    assert fns.hasRole(DEFAULT_ADMIN_ROLE, address(local, ADMIN)).call()
    assert fns.hasRole(MINTER_ROLE, address(local, ADMIN)).call()
    assert fns.getRoleAdmin(MINTER_ROLE).call() == DEFAULT_ADMIN_ROLE
    assert not fns.hasRole(MINTER_ROLE, address(local, STRANGER)).call()


def test_supports_access_control_and_erc165_interfaces(token: Contract) -> None:
    supports = token.functions.supportsInterface
    assert supports(bytes.fromhex("7965db0b")).call()  # IAccessControl
    assert supports(bytes.fromhex("01ffc9a7")).call()  # IERC165
    assert not supports(bytes.fromhex("ffffffff")).call()


# ---------------------------------------------------------------------------------------------- mint


def test_minter_mints_base_units_to_holder(local: Session, token: Contract) -> None:
    holder = address(local, HOLDER)
    receipt = tx(local, ADMIN).transact(token.functions.mint(holder, 250 * MUSD))

    assert only_event(token, receipt, "Transfer") == {"from": ZERO_ADDRESS, "to": holder, "value": 250 * MUSD}
    assert token.functions.balanceOf(holder).call() == 250_000_000
    assert token.functions.totalSupply().call() == 250_000_000


@pytest.mark.parametrize("caller", [HOLDER, STRANGER])
def test_mint_by_account_without_minter_role_is_refused(local: Session, token: Contract, caller: int) -> None:
    with reverts("AccessControlUnauthorizedAccount", account=low(address(local, caller)), neededRole=MINTER_ROLE):
        tx(local, caller).transact(token.functions.mint(address(local, caller), MUSD))
    assert token.functions.totalSupply().call() == 0


def test_admin_role_alone_does_not_allow_minting(local: Session, token: Contract) -> None:
    tx(local, ADMIN).transact(token.functions.grantRole(DEFAULT_ADMIN_ROLE, address(local, STRANGER)))
    with reverts("AccessControlUnauthorizedAccount", account=low(address(local, STRANGER)), neededRole=MINTER_ROLE):
        tx(local, STRANGER).transact(token.functions.mint(address(local, STRANGER), MUSD))


def test_granted_minter_mints_until_its_role_is_revoked(local: Session, token: Contract) -> None:
    minter, fns = address(local, STRANGER), token.functions
    receipt = tx(local, ADMIN).transact(fns.grantRole(MINTER_ROLE, minter))
    assert only_event(token, receipt, "RoleGranted") == {
        "role": MINTER_ROLE, "account": minter, "sender": address(local, ADMIN),
    }
    tx(local, STRANGER).transact(fns.mint(address(local, HOLDER), 5 * MUSD))
    assert fns.balanceOf(address(local, HOLDER)).call() == 5 * MUSD

    tx(local, ADMIN).transact(fns.revokeRole(MINTER_ROLE, minter))
    with reverts("AccessControlUnauthorizedAccount", account=low(minter), neededRole=MINTER_ROLE):
        tx(local, STRANGER).transact(fns.mint(address(local, HOLDER), 5 * MUSD))


def test_non_admin_granting_minter_role_is_refused(local: Session, token: Contract) -> None:
    with reverts("AccessControlUnauthorizedAccount", account=low(address(local, STRANGER)),
                 neededRole=DEFAULT_ADMIN_ROLE):
        tx(local, STRANGER).transact(token.functions.grantRole(MINTER_ROLE, address(local, STRANGER)))


def test_mint_to_zero_address_is_refused(local: Session, token: Contract) -> None:
    with reverts("ERC20InvalidReceiver", receiver=ZERO_ADDRESS):
        tx(local, ADMIN).transact(token.functions.mint(ZERO_ADDRESS, MUSD))


# ---------------------------------------------------------------------------------------------- transfers


def test_transfer_beyond_balance_is_refused_with_balance_and_amount(local: Session, token: Contract) -> None:
    holder = address(local, HOLDER)
    tx(local, ADMIN).transact(token.functions.mint(holder, 10 * MUSD))
    with reverts("ERC20InsufficientBalance", sender=low(holder), balance=10 * MUSD, needed=10 * MUSD + 1):
        tx(local, HOLDER).transact(token.functions.transfer(address(local, SPENDER), 10 * MUSD + 1))


def test_transfer_from_beyond_allowance_is_refused_with_allowance_and_amount(
    local: Session, token: Contract
) -> None:
    holder, spender = address(local, HOLDER), address(local, SPENDER)
    tx(local, ADMIN).transact(token.functions.mint(holder, 10 * MUSD))
    tx(local, HOLDER).transact(token.functions.approve(spender, 3 * MUSD))
    with reverts("ERC20InsufficientAllowance", spender=low(spender), allowance=3 * MUSD, needed=3 * MUSD + 1):
        tx(local, SPENDER).transact(token.functions.transferFrom(holder, spender, 3 * MUSD + 1))


# ---------------------------------------------------------------------------------------------- permit


def test_domain_separator_is_eip712_hash_of_name_version_chain_and_token(local: Session, token: Contract) -> None:
    fields, name, version, chain_id, verifying, salt, extensions = token.functions.eip712Domain().call()
    assert (fields, name, version, chain_id, verifying, salt, extensions) == (
        b"\x0f", NAME, VERSION, local.chain.chain_id, token.address, b"\0" * 32, [],
    )
    typehash = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    expected = keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                             [typehash, keccak(text=NAME), keccak(text=VERSION), local.chain.chain_id, token.address]))
    assert token.functions.DOMAIN_SEPARATOR().call() == expected


def test_permit_signed_by_owner_sets_allowance_that_spender_can_use(local: Session, token: Contract) -> None:
    owner, spender, fns = PERMIT_OWNER.address, address(local, SPENDER), token.functions
    tx(local, ADMIN).transact(fns.mint(owner, 100 * MUSD))
    deadline = latest_time(local) + 3600
    message = permit_message(local, token, owner=owner, spender=spender, value=40 * MUSD, nonce=0, deadline=deadline)

    receipt = submit_permit(local, token, sign(PERMIT_OWNER, message), owner=owner, spender=spender,
                            value=40 * MUSD, deadline=deadline)

    assert only_event(token, receipt, "Approval") == {"owner": owner, "spender": spender, "value": 40 * MUSD}
    assert fns.allowance(owner, spender).call() == 40 * MUSD
    assert fns.nonces(owner).call() == 1
    tx(local, SPENDER).transact(fns.transferFrom(owner, spender, 40 * MUSD))
    assert (fns.balanceOf(owner).call(), fns.balanceOf(spender).call()) == (60 * MUSD, 40 * MUSD)
    assert fns.allowance(owner, spender).call() == 0


@pytest.mark.parametrize(("offset", "accepted"), [(-1, False), (0, True), (1, True)],
                         ids=["deadline-before-block", "deadline-at-block", "deadline-after-block"])
def test_permit_is_accepted_until_its_deadline_inclusive(
    local: Session, token: Contract, offset: int, accepted: bool
) -> None:
    owner, spender = PERMIT_OWNER.address, address(local, SPENDER)
    block_time = latest_time(local) + 100
    deadline = block_time + offset
    message = permit_message(local, token, owner=owner, spender=spender, value=MUSD, nonce=0, deadline=deadline)
    signed = sign(PERMIT_OWNER, message)
    local.chain.tester.time_travel(block_time)

    if accepted:
        receipt = submit_permit(local, token, signed, owner=owner, spender=spender, value=MUSD, deadline=deadline)
        assert local.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == block_time
        assert token.functions.allowance(owner, spender).call() == MUSD
    else:
        with reverts("ERC2612ExpiredSignature", deadline=deadline):
            submit_permit(local, token, signed, owner=owner, spender=spender, value=MUSD, deadline=deadline)
        assert token.functions.nonces(owner).call() == 0


def test_permit_signed_by_another_key_is_refused_naming_signer_and_owner(local: Session, token: Contract) -> None:
    owner, spender = PERMIT_OWNER.address, address(local, SPENDER)
    deadline = latest_time(local) + 3600
    message = permit_message(local, token, owner=owner, spender=spender, value=MUSD, nonce=0, deadline=deadline)

    with reverts("ERC2612InvalidSigner", signer=low(FORGER.address), owner=low(owner)):
        submit_permit(local, token, sign(FORGER, message), owner=owner, spender=spender, value=MUSD,
                      deadline=deadline)
    assert token.functions.allowance(owner, spender).call() == 0
    assert token.functions.nonces(owner).call() == 0


@pytest.mark.parametrize("tampered", ["value", "spender", "deadline"])
def test_permit_submitted_with_other_terms_than_signed_is_refused(
    local: Session, token: Contract, tampered: str
) -> None:
    owner = PERMIT_OWNER.address
    terms = {"spender": address(local, SPENDER), "value": MUSD, "deadline": latest_time(local) + 3600}
    signed = sign(PERMIT_OWNER, permit_message(local, token, owner=owner, nonce=0, **terms))
    submitted = {**terms, tampered: {"value": 2 * MUSD, "spender": address(local, STRANGER),
                                     "deadline": terms["deadline"] + 1}[tampered]}
    # The contract hashes the submitted terms, so it recovers some unrelated address from the signature.
    seen_as = recovered_signer(permit_message(local, token, owner=owner, nonce=0, **submitted), signed)
    assert seen_as != owner

    with reverts("ERC2612InvalidSigner", signer=low(seen_as), owner=low(owner)):
        submit_permit(local, token, signed, owner=owner, **submitted)


def test_replayed_permit_is_refused_because_nonce_moved_on(local: Session, token: Contract) -> None:
    owner, spender = PERMIT_OWNER.address, address(local, SPENDER)
    deadline = latest_time(local) + 3600
    terms = {"spender": spender, "value": MUSD, "deadline": deadline}
    signed = sign(PERMIT_OWNER, permit_message(local, token, owner=owner, nonce=0, **terms))
    submit_permit(local, token, signed, owner=owner, **terms)

    seen_as = recovered_signer(permit_message(local, token, owner=owner, nonce=1, **terms), signed)
    with reverts("ERC2612InvalidSigner", signer=low(seen_as), owner=low(owner)):
        submit_permit(local, token, signed, owner=owner, **terms)
    assert token.functions.nonces(owner).call() == 1


def test_permit_for_another_chain_is_refused(local: Session, token: Contract) -> None:
    owner, spender = PERMIT_OWNER.address, address(local, SPENDER)
    terms = {"spender": spender, "value": MUSD, "deadline": latest_time(local) + 3600}
    message = permit_message(local, token, owner=owner, nonce=0, **terms)
    message["domain"]["chainId"] = local.chain.chain_id + 1
    signed = sign(PERMIT_OWNER, message)

    seen_as = recovered_signer(permit_message(local, token, owner=owner, nonce=0, **terms), signed)
    with reverts("ERC2612InvalidSigner", signer=low(seen_as), owner=low(owner)):
        submit_permit(local, token, signed, owner=owner, **terms)
