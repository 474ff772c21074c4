"""MachineRegistry on the embedded chain: registration, roles, key rotation and revocation windows at their
exact boundaries, every custom error with its arguments, every event with its fields.

Spec: docs/contracts/machine-registry.md. Block timestamps are steered with eth-tester's ``time_travel``, which
makes the *next* block carry the given timestamp; every such step is checked against the receipt's block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.types import TxReceipt

from millchain.errors import ContractRevert
from millchain.identity import NO_EXPIRY, Machine, MachineRegistryClient, MachineStatus
from millchain.session import Session
from millchain.types import MachineId, machine_id
from tests.abi import interface_id

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = b"\0" * 32

ADMIN, OWNER, STRANGER, NEW_OWNER, OPERATOR = 0, 1, 2, 3, 4
"""Dev account indices. Account 0 deployed the suite and holds DEFAULT_ADMIN_ROLE and REGISTRAR_ROLE."""

PRESS = machine_id("press-07")
LATHE = machine_id("lathe-01")
COMMITMENT = keccak(text="model=HX-400;serial=7781;salt=1")
OTHER_COMMITMENT = keccak(text="model=HX-400;serial=7781;salt=2")


def device_key(n: int) -> str:
    """A device signing key's address; devices never send transactions, so only the address matters."""
    return str(Account.from_key(keccak(text=f"millchain-test-device-{n}")).address)


KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, NEVER_USED = (device_key(n) for n in range(1, 7))


# ---------------------------------------------------------------------------------------------- helpers


@contextmanager
def reverts(name: str, **args: Any) -> Iterator[None]:
    """Expect the custom error ``name`` with exactly ``args`` (addresses lowercase, bytes32 as bytes)."""
    with pytest.raises(ContractRevert) as caught:
        yield
    assert (caught.value.name, caught.value.args_by_name) == (name, args)


def low(address: str) -> str:
    return address.lower()


@dataclass
class Harness:
    """The session plus clock control and one registry client per dev account."""

    session: Session
    registry: Contract

    def client(self, index: int) -> MachineRegistryClient:
        return MachineRegistryClient(self.session, index)

    def address(self, index: int) -> str:
        return str(self.session.chain.account(index).address)

    def next_block_at(self, timestamp: int) -> None:
        self.session.chain.tester.time_travel(timestamp)

    def latest_time(self) -> int:
        return int(self.session.chain.w3.eth.get_block("latest")["timestamp"])

    def block_time(self, receipt: TxReceipt) -> int:
        return int(self.session.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def at(self, timestamp: int, send: Callable[[], TxReceipt]) -> TxReceipt:
        """Send in a block stamped ``timestamp``."""
        self.next_block_at(timestamp)
        receipt = send()
        assert self.block_time(receipt) == timestamp
        return receipt

    def only_event(self, receipt: TxReceipt, event: str) -> dict[str, Any]:
        """The receipt's single log, decoded as ``event`` of the registry."""
        assert len(receipt["logs"]) == 1
        (decoded,) = getattr(self.registry.events, event)().process_receipt(receipt)
        assert decoded.address == self.registry.address
        return dict(decoded.args)

    def same_block(self, *sends: tuple[int, Any]) -> list[TxReceipt]:
        """Mine several (account index, contract function) calls into one block, in order.

        Each call must come from a different account: eth-tester refuses a second pending nonce of the same
        sender. Gas is fixed because eth_estimateGas does not see the earlier pending calls (a rotation
        estimated after a pending registration reverts MachineRegistryUnknownMachine).
        """
        tester = self.session.chain.tester
        tester.disable_auto_mine_transactions()
        hashes = []
        try:
            for index, fn in sends:
                tx = self.session.transactor(index)
                built = fn.build_transaction({"from": tx.address, "gas": 1, "nonce": 0, "maxFeePerGas": 0,
                                              "maxPriorityFeePerGas": 0})
                signed = tx.sign(tx.build({"to": built["to"], "data": built["data"]}, gas=500_000))
                tx.broadcast(signed)
                hashes.append(signed.tx_hash)
            tester.mine_blocks()
        finally:
            tester.enable_auto_mine_transactions()
        receipts = [self.session.tx.wait(h) for h in hashes]
        assert [r["status"] for r in receipts] == [1] * len(sends)
        assert len({r["blockNumber"] for r in receipts}) == 1
        return receipts


@pytest.fixture
def chain(local: Session) -> Harness:
    return Harness(local, local.contract("MachineRegistry"))


@pytest.fixture
def admin(chain: Harness) -> MachineRegistryClient:
    return chain.client(ADMIN)


@pytest.fixture
def owner(chain: Harness) -> MachineRegistryClient:
    return chain.client(OWNER)


@pytest.fixture
def stranger(chain: Harness) -> MachineRegistryClient:
    return chain.client(STRANGER)


@dataclass(frozen=True)
class Registered:
    """A machine registered by its owner with KEY_1 at ``at``."""

    machine: MachineId
    at: int


@pytest.fixture
def registered(chain: Harness, owner: MachineRegistryClient) -> Registered:
    at = chain.latest_time() + 100
    chain.at(at, lambda: owner.register(PRESS, KEY_1, metadata=COMMITMENT))
    return Registered(PRESS, at)


def grant_registrar(chain: Harness, index: int) -> None:
    role = chain.registry.functions.REGISTRAR_ROLE().call()
    chain.session.tx.transact(chain.registry.functions.grantRole(role, chain.address(index)))


# Every state-changing function, as (name, call) with arguments that would otherwise succeed.
MUTATORS: dict[str, Callable[[MachineRegistryClient, MachineId], TxReceipt]] = {
    "updateMetadata": lambda c, m: c.update_metadata(m, OTHER_COMMITMENT),
    "transferOwnership": lambda c, m: c.transfer(m, device_key(99)),
    "rotateKey": lambda c, m: c.rotate_key(m, KEY_2),
    "revoke": lambda c, m: c.revoke(m),
}
mutators = pytest.mark.parametrize("mutate", MUTATORS.values(), ids=MUTATORS.keys())


# ---------------------------------------------------------------------------------------------- deployment


def test_deployer_holds_admin_and_registrar_roles_and_nobody_else_does(chain: Harness) -> None:
    fns = chain.registry.functions
    registrar = fns.REGISTRAR_ROLE().call()
    assert registrar == keccak(text="REGISTRAR_ROLE")
    assert fns.hasRole(ZERO_BYTES32, chain.address(ADMIN)).call()
    assert fns.hasRole(registrar, chain.address(ADMIN)).call()
    assert fns.getRoleAdmin(registrar).call() == ZERO_BYTES32
    for index in (OWNER, STRANGER):
        assert not fns.hasRole(ZERO_BYTES32, chain.address(index)).call()
        assert not fns.hasRole(registrar, chain.address(index)).call()


def test_supports_registry_access_control_and_erc165_interfaces_only(chain: Harness) -> None:
    supports = chain.registry.functions.supportsInterface
    assert supports(interface_id(chain.session.artifact("IMachineRegistry")["abi"])).call()
    assert supports(bytes.fromhex("7965db0b")).call()  # IAccessControl
    assert supports(bytes.fromhex("01ffc9a7")).call()  # IERC165
    assert not supports(bytes.fromhex("ffffffff")).call()


# ---------------------------------------------------------------------------------------------- register


def test_register_for_self_records_machine_with_key_valid_from_block_time(
    chain: Harness, owner: MachineRegistryClient
) -> None:
    at = chain.latest_time() + 50
    receipt = chain.at(at, lambda: owner.register(PRESS, KEY_1, metadata=COMMITMENT))

    assert chain.only_event(receipt, "MachineRegistered") == {
        "machineId": PRESS, "owner": chain.address(OWNER), "signer": KEY_1, "metadataCommitment": COMMITMENT,
    }
    assert owner.get(PRESS) == Machine(
        machine_id="press-07", owner=chain.address(OWNER), signer=KEY_1, metadata_commitment="0x" + COMMITMENT.hex(),
        registered_at=at, signer_since=at, revoked_at=0, status=MachineStatus.ACTIVE,
    )
    fns = chain.registry.functions
    assert fns.ownerOf(PRESS).call() == chain.address(OWNER)
    assert fns.statusOf(PRESS).call() == MachineStatus.ACTIVE
    assert owner.key_validity(PRESS, KEY_1) == (at, NO_EXPIRY)


def test_registrar_registers_a_machine_for_another_owner(chain: Harness, admin: MachineRegistryClient) -> None:
    receipt = admin.register(PRESS, KEY_1, owner=chain.address(OWNER), metadata=COMMITMENT)

    assert chain.only_event(receipt, "MachineRegistered") == {
        "machineId": PRESS, "owner": chain.address(OWNER), "signer": KEY_1, "metadataCommitment": COMMITMENT,
    }
    assert chain.registry.functions.ownerOf(PRESS).call() == chain.address(OWNER)


def test_granted_registrar_registers_for_another_owner(chain: Harness) -> None:
    grant_registrar(chain, OPERATOR)
    chain.client(OPERATOR).register(PRESS, KEY_1, owner=chain.address(OWNER))
    assert chain.registry.functions.ownerOf(PRESS).call() == chain.address(OWNER)


def test_stranger_registering_for_someone_else_is_unauthorized(
    chain: Harness, stranger: MachineRegistryClient
) -> None:
    with reverts("MachineRegistryUnauthorized", machineId=PRESS, caller=low(chain.address(STRANGER))):
        stranger.register(PRESS, KEY_1, owner=chain.address(OWNER))
    assert chain.registry.functions.statusOf(PRESS).call() == MachineStatus.UNREGISTERED


def test_register_with_zero_machine_id_reverts(owner: MachineRegistryClient) -> None:
    with reverts("MachineRegistryZeroMachineId"):
        owner.register(MachineId(ZERO_BYTES32), KEY_1)


def test_registrar_registering_zero_owner_reverts(admin: MachineRegistryClient) -> None:
    with reverts("MachineRegistryZeroOwner", machineId=PRESS):
        admin.register(PRESS, KEY_1, owner=ZERO_ADDRESS)


def test_register_with_zero_signer_reverts(owner: MachineRegistryClient) -> None:
    with reverts("MachineRegistryZeroSigner", machineId=PRESS):
        owner.register(PRESS, ZERO_ADDRESS)


def test_register_of_active_id_reverts_already_registered_even_for_registrar(
    chain: Harness, registered: Registered, stranger: MachineRegistryClient, admin: MachineRegistryClient
) -> None:
    with reverts("MachineRegistryAlreadyRegistered", machineId=PRESS):
        stranger.register(PRESS, KEY_2)
    with reverts("MachineRegistryAlreadyRegistered", machineId=PRESS):
        admin.register(PRESS, KEY_2, owner=chain.address(STRANGER))
    assert chain.registry.functions.ownerOf(PRESS).call() == chain.address(OWNER)


def test_register_of_revoked_id_reverts_already_registered(
    registered: Registered, owner: MachineRegistryClient
) -> None:
    owner.revoke(PRESS)
    with reverts("MachineRegistryAlreadyRegistered", machineId=PRESS):
        owner.register(PRESS, KEY_2)


def test_register_checks_caller_before_arguments(chain: Harness, stranger: MachineRegistryClient) -> None:
    # Zero owner from a non-registrar is "not the owner", whatever else is wrong.
    with reverts("MachineRegistryUnauthorized", machineId=ZERO_BYTES32, caller=low(chain.address(STRANGER))):
        stranger.register(MachineId(ZERO_BYTES32), ZERO_ADDRESS, owner=ZERO_ADDRESS)


def test_register_checks_id_then_owner_then_signer_then_availability(
    registered: Registered, admin: MachineRegistryClient
) -> None:
    with reverts("MachineRegistryZeroMachineId"):
        admin.register(MachineId(ZERO_BYTES32), ZERO_ADDRESS, owner=ZERO_ADDRESS)
    with reverts("MachineRegistryZeroOwner", machineId=PRESS):
        admin.register(PRESS, ZERO_ADDRESS, owner=ZERO_ADDRESS)
    with reverts("MachineRegistryZeroSigner", machineId=PRESS):
        admin.register(PRESS, ZERO_ADDRESS)


def test_same_key_may_serve_several_machines(chain: Harness, registered: Registered,
                                             owner: MachineRegistryClient) -> None:
    owner.register(LATHE, KEY_1)
    now = chain.latest_time()
    assert owner.is_valid_signer(PRESS, KEY_1, now)
    assert owner.is_valid_signer(LATHE, KEY_1, now)


# ---------------------------------------------------------------------------------------------- unknown ids


@mutators
def test_change_of_unknown_machine_reverts_unknown_even_for_stranger(
    mutate: Callable[[MachineRegistryClient, MachineId], TxReceipt], stranger: MachineRegistryClient
) -> None:
    with reverts("MachineRegistryUnknownMachine", machineId=LATHE):
        mutate(stranger, LATHE)


@pytest.mark.parametrize(
    "view",
    [
        lambda r: r.functions.ownerOf(LATHE),
        lambda r: r.functions.getMachine(LATHE),
        lambda r: r.functions.keyValidity(LATHE, KEY_1),
    ],
    ids=["ownerOf", "getMachine", "keyValidity"],
)
def test_view_of_unknown_machine_reverts_unknown(
    chain: Harness, registered: Registered, view: Callable[[Contract], Any]
) -> None:
    with reverts("MachineRegistryUnknownMachine", machineId=LATHE):
        chain.session.tx.call(view(chain.registry))


def test_status_of_unknown_machine_is_unregistered(chain: Harness) -> None:
    assert chain.registry.functions.statusOf(LATHE).call() == MachineStatus.UNREGISTERED


def test_is_valid_signer_for_unknown_machine_is_false_without_reverting(
    chain: Harness, registered: Registered
) -> None:
    for signer in (KEY_1, ZERO_ADDRESS):
        for t in (0, 1, registered.at, 2**40 - 1, 2**40, 2**256 - 1):
            assert chain.registry.functions.isValidSigner(LATHE, signer, t).call() is False


def test_is_valid_signer_for_zero_or_never_used_key_is_false_without_reverting(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    owner.rotate_key(PRESS, KEY_2)  # so the machine has a retired key as well as a current one
    for signer in (ZERO_ADDRESS, NEVER_USED):
        for t in (0, 1, registered.at, chain.latest_time(), 2**40 - 1, 2**256 - 1):
            assert chain.registry.functions.isValidSigner(PRESS, signer, t).call() is False


def test_key_validity_of_zero_or_never_used_key_is_zero_window(
    registered: Registered, owner: MachineRegistryClient
) -> None:
    assert owner.key_validity(PRESS, ZERO_ADDRESS) == (0, 0)
    assert owner.key_validity(PRESS, NEVER_USED) == (0, 0)


# ---------------------------------------------------------------------------------------------- authorisation


@mutators
def test_stranger_changing_a_machine_is_unauthorized(
    chain: Harness, registered: Registered, stranger: MachineRegistryClient,
    mutate: Callable[[MachineRegistryClient, MachineId], TxReceipt],
) -> None:
    before = stranger.get(PRESS)
    with reverts("MachineRegistryUnauthorized", machineId=PRESS, caller=low(chain.address(STRANGER))):
        mutate(stranger, PRESS)
    assert stranger.get(PRESS) == before


@mutators
def test_registrar_changes_a_machine_it_does_not_own(
    registered: Registered, admin: MachineRegistryClient,
    mutate: Callable[[MachineRegistryClient, MachineId], TxReceipt],
) -> None:
    assert mutate(admin, PRESS)["status"] == 1


@mutators
def test_admin_without_registrar_role_is_unauthorized_until_it_grants_itself_the_role(
    chain: Harness, registered: Registered, mutate: Callable[[MachineRegistryClient, MachineId], TxReceipt]
) -> None:
    fns = chain.registry.functions
    chain.session.tx.transact(fns.grantRole(ZERO_BYTES32, chain.address(OPERATOR)))
    operator = chain.client(OPERATOR)
    with reverts("MachineRegistryUnauthorized", machineId=PRESS, caller=low(chain.address(OPERATOR))):
        mutate(operator, PRESS)

    operator.tx.transact(fns.grantRole(fns.REGISTRAR_ROLE().call(), chain.address(OPERATOR)))
    assert mutate(operator, PRESS)["status"] == 1


def test_registrar_whose_role_was_revoked_is_unauthorized(chain: Harness, registered: Registered) -> None:
    grant_registrar(chain, OPERATOR)
    operator = chain.client(OPERATOR)
    operator.update_metadata(PRESS, OTHER_COMMITMENT)
    fns = chain.registry.functions
    chain.session.tx.transact(fns.revokeRole(fns.REGISTRAR_ROLE().call(), chain.address(OPERATOR)))
    with reverts("MachineRegistryUnauthorized", machineId=PRESS, caller=low(chain.address(OPERATOR))):
        operator.update_metadata(PRESS, COMMITMENT)
    with reverts("MachineRegistryUnauthorized", machineId=LATHE, caller=low(chain.address(OPERATOR))):
        operator.register(LATHE, KEY_1, owner=chain.address(OWNER))


def test_stranger_granting_registrar_role_is_refused_by_access_control(
    chain: Harness, stranger: MachineRegistryClient
) -> None:
    fns = chain.registry.functions
    with reverts("AccessControlUnauthorizedAccount", account=low(chain.address(STRANGER)), neededRole=ZERO_BYTES32):
        stranger.tx.transact(fns.grantRole(fns.REGISTRAR_ROLE().call(), chain.address(STRANGER)))


# ---------------------------------------------------------------------------------------------- metadata


def test_owner_updates_metadata_commitment(chain: Harness, registered: Registered,
                                           owner: MachineRegistryClient) -> None:
    receipt = owner.update_metadata(PRESS, OTHER_COMMITMENT)

    assert chain.only_event(receipt, "MachineMetadataUpdated") == {
        "machineId": PRESS, "previousCommitment": COMMITMENT, "newCommitment": OTHER_COMMITMENT,
    }
    after = owner.get(PRESS)
    assert after.metadata_commitment == "0x" + OTHER_COMMITMENT.hex()
    assert (after.signer, after.signer_since, after.registered_at) == (KEY_1, registered.at, registered.at)


# ---------------------------------------------------------------------------------------------- ownership


def test_owner_transfers_machine_and_new_owner_controls_it(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    receipt = owner.transfer(PRESS, chain.address(NEW_OWNER))

    assert chain.only_event(receipt, "MachineOwnershipTransferred") == {
        "machineId": PRESS, "previousOwner": chain.address(OWNER), "newOwner": chain.address(NEW_OWNER),
    }
    assert chain.registry.functions.ownerOf(PRESS).call() == chain.address(NEW_OWNER)
    chain.client(NEW_OWNER).update_metadata(PRESS, OTHER_COMMITMENT)
    # The device key is the machine's, not the owner's: it survives the transfer.
    assert owner.key_validity(PRESS, KEY_1) == (registered.at, NO_EXPIRY)


@mutators
def test_old_owner_is_unauthorized_after_transfer(
    chain: Harness, registered: Registered, owner: MachineRegistryClient,
    mutate: Callable[[MachineRegistryClient, MachineId], TxReceipt],
) -> None:
    owner.transfer(PRESS, chain.address(NEW_OWNER))
    with reverts("MachineRegistryUnauthorized", machineId=PRESS, caller=low(chain.address(OWNER))):
        mutate(owner, PRESS)


def test_registrar_transfers_a_machine_it_does_not_own(
    chain: Harness, registered: Registered, admin: MachineRegistryClient
) -> None:
    receipt = admin.transfer(PRESS, chain.address(NEW_OWNER))
    assert chain.only_event(receipt, "MachineOwnershipTransferred") == {
        "machineId": PRESS, "previousOwner": chain.address(OWNER), "newOwner": chain.address(NEW_OWNER),
    }


def test_transfer_to_current_owner_emits_event_with_equal_owners(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    receipt = owner.transfer(PRESS, chain.address(OWNER))
    assert chain.only_event(receipt, "MachineOwnershipTransferred") == {
        "machineId": PRESS, "previousOwner": chain.address(OWNER), "newOwner": chain.address(OWNER),
    }


def test_transfer_to_zero_address_reverts_zero_owner(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    with reverts("MachineRegistryZeroOwner", machineId=PRESS):
        owner.transfer(PRESS, ZERO_ADDRESS)
    assert chain.registry.functions.ownerOf(PRESS).call() == chain.address(OWNER)


# ---------------------------------------------------------------------------------------------- rotation


def test_rotate_key_closes_old_window_and_opens_new_one_at_block_time(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    rotated_at = registered.at + 1000
    receipt = chain.at(rotated_at, lambda: owner.rotate_key(PRESS, KEY_2))

    assert chain.only_event(receipt, "MachineKeyRotated") == {
        "machineId": PRESS, "previousSigner": KEY_1, "newSigner": KEY_2, "rotatedAt": rotated_at,
    }
    after = owner.get(PRESS)
    assert (after.signer, after.signer_since, after.registered_at) == (KEY_2, rotated_at, registered.at)
    assert owner.key_validity(PRESS, KEY_1) == (registered.at, rotated_at)
    assert owner.key_validity(PRESS, KEY_2) == (rotated_at, NO_EXPIRY)


@pytest.mark.parametrize(
    ("offset", "old_valid", "new_valid"),
    [(-1, True, False), (0, False, True), (1, False, True)],
    ids=["before-cutoff", "at-cutoff", "after-cutoff"],
)
def test_report_around_rotation_cutoff_is_valid_under_exactly_one_key(
    chain: Harness, registered: Registered, owner: MachineRegistryClient,
    offset: int, old_valid: bool, new_valid: bool,
) -> None:
    rotated_at = registered.at + 1000
    chain.at(rotated_at, lambda: owner.rotate_key(PRESS, KEY_2))
    t = rotated_at + offset
    assert owner.is_valid_signer(PRESS, KEY_1, t) is old_valid
    assert owner.is_valid_signer(PRESS, KEY_2, t) is new_valid


@pytest.mark.parametrize(("offset", "valid"), [(-1, False), (0, True), (1, True)],
                         ids=["before-registration", "at-registration", "after-registration"])
def test_report_around_registration_is_valid_only_from_registration(
    registered: Registered, owner: MachineRegistryClient, offset: int, valid: bool
) -> None:
    assert owner.is_valid_signer(PRESS, KEY_1, registered.at + offset) is valid


def test_current_key_of_active_machine_accepts_future_timestamps(
    registered: Registered, owner: MachineRegistryClient
) -> None:
    for t in (registered.at + 10**9, 2**40 - 1, 2**40, 2**256 - 1):
        assert owner.is_valid_signer(PRESS, KEY_1, t)


def test_successive_rotations_leave_contiguous_windows(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    first, second = registered.at + 10, registered.at + 500
    chain.at(first, lambda: owner.rotate_key(PRESS, KEY_2))
    chain.at(second, lambda: owner.rotate_key(PRESS, KEY_3))

    assert owner.key_validity(PRESS, KEY_1) == (registered.at, first)
    assert owner.key_validity(PRESS, KEY_2) == (first, second)
    assert owner.key_validity(PRESS, KEY_3) == (second, NO_EXPIRY)
    assert owner.is_valid_signer(PRESS, KEY_2, second - 1)
    assert not owner.is_valid_signer(PRESS, KEY_2, second)


def test_registrar_rotates_a_key_it_does_not_own(
    chain: Harness, registered: Registered, admin: MachineRegistryClient
) -> None:
    receipt = admin.rotate_key(PRESS, KEY_2)
    assert chain.only_event(receipt, "MachineKeyRotated") == {
        "machineId": PRESS, "previousSigner": KEY_1, "newSigner": KEY_2, "rotatedAt": chain.block_time(receipt),
    }


def test_rotate_to_zero_address_reverts_zero_signer(registered: Registered, owner: MachineRegistryClient) -> None:
    with reverts("MachineRegistryZeroSigner", machineId=PRESS):
        owner.rotate_key(PRESS, ZERO_ADDRESS)


def test_rotate_to_current_key_reverts_key_reused(registered: Registered, owner: MachineRegistryClient) -> None:
    with reverts("MachineRegistryKeyReused", machineId=PRESS, signer=low(KEY_1)):
        owner.rotate_key(PRESS, KEY_1)
    assert owner.key_validity(PRESS, KEY_1) == (registered.at, NO_EXPIRY)


def test_rotate_back_to_retired_key_reverts_key_reused_and_leaves_its_window_closed(
    registered: Registered, owner: MachineRegistryClient
) -> None:
    owner.rotate_key(PRESS, KEY_2)
    owner.rotate_key(PRESS, KEY_3)
    windows = {k: owner.key_validity(PRESS, k) for k in (KEY_1, KEY_2, KEY_3)}
    for retired in (KEY_1, KEY_2):
        with reverts("MachineRegistryKeyReused", machineId=PRESS, signer=low(retired)):
            owner.rotate_key(PRESS, retired)
    assert {k: owner.key_validity(PRESS, k) for k in (KEY_1, KEY_2, KEY_3)} == windows


def test_key_retired_on_one_machine_may_be_rotated_to_on_another(
    registered: Registered, owner: MachineRegistryClient
) -> None:
    owner.rotate_key(PRESS, KEY_2)
    owner.register(LATHE, KEY_3)
    owner.rotate_key(LATHE, KEY_1)
    assert owner.get(LATHE).signer == KEY_1


# ---------------------------------------------------------------------------------------------- revocation


def test_revoke_freezes_record_and_closes_current_window_at_block_time(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    rotated_at, revoked_at = registered.at + 100, registered.at + 1000
    chain.at(rotated_at, lambda: owner.rotate_key(PRESS, KEY_2))
    receipt = chain.at(revoked_at, lambda: owner.revoke(PRESS))

    assert chain.only_event(receipt, "MachineRevoked") == {"machineId": PRESS, "revokedAt": revoked_at}
    assert owner.get(PRESS) == Machine(
        machine_id="press-07", owner=chain.address(OWNER), signer=KEY_2, metadata_commitment="0x" + COMMITMENT.hex(),
        registered_at=registered.at, signer_since=rotated_at, revoked_at=revoked_at, status=MachineStatus.REVOKED,
    )
    assert chain.registry.functions.statusOf(PRESS).call() == MachineStatus.REVOKED
    # Still answered, so reports signed before the revocation can be settled and paid to the owner.
    assert chain.registry.functions.ownerOf(PRESS).call() == chain.address(OWNER)
    assert owner.key_validity(PRESS, KEY_2) == (rotated_at, revoked_at)
    assert owner.key_validity(PRESS, KEY_1) == (registered.at, rotated_at)


@pytest.mark.parametrize(("offset", "valid"), [(-1, True), (0, False), (1, False)],
                         ids=["before-revocation", "at-revocation", "after-revocation"])
def test_report_around_revocation_is_valid_only_before_it(
    chain: Harness, registered: Registered, owner: MachineRegistryClient, offset: int, valid: bool
) -> None:
    revoked_at = registered.at + 1000
    chain.at(revoked_at, lambda: owner.revoke(PRESS))
    assert owner.is_valid_signer(PRESS, KEY_1, revoked_at + offset) is valid


def test_retired_key_window_survives_revocation(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    rotated_at = registered.at + 100
    chain.at(rotated_at, lambda: owner.rotate_key(PRESS, KEY_2))
    chain.at(registered.at + 1000, lambda: owner.revoke(PRESS))
    assert owner.is_valid_signer(PRESS, KEY_1, registered.at)
    assert owner.is_valid_signer(PRESS, KEY_1, rotated_at - 1)
    assert not owner.is_valid_signer(PRESS, KEY_1, rotated_at)
    assert not owner.is_valid_signer(PRESS, KEY_2, 2**256 - 1)


@pytest.mark.parametrize("by", [OWNER, ADMIN], ids=["owner", "registrar"])
@mutators
def test_change_of_revoked_machine_reverts_machine_revoked_with_revocation_time(
    chain: Harness, registered: Registered, owner: MachineRegistryClient, by: int,
    mutate: Callable[[MachineRegistryClient, MachineId], TxReceipt],
) -> None:
    revoked_at = registered.at + 1000
    chain.at(revoked_at, lambda: owner.revoke(PRESS))
    before = owner.get(PRESS)
    with reverts("MachineRegistryMachineRevoked", machineId=PRESS, revokedAt=revoked_at):
        mutate(chain.client(by), PRESS)
    assert owner.get(PRESS) == before


def test_change_of_revoked_machine_checks_caller_before_revocation(
    chain: Harness, registered: Registered, owner: MachineRegistryClient, stranger: MachineRegistryClient
) -> None:
    owner.revoke(PRESS)
    with reverts("MachineRegistryUnauthorized", machineId=PRESS, caller=low(chain.address(STRANGER))):
        stranger.revoke(PRESS)


def test_change_of_revoked_machine_checks_revocation_before_arguments(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    revoked_at = chain.block_time(owner.revoke(PRESS))
    with reverts("MachineRegistryMachineRevoked", machineId=PRESS, revokedAt=revoked_at):
        owner.rotate_key(PRESS, ZERO_ADDRESS)
    with reverts("MachineRegistryMachineRevoked", machineId=PRESS, revokedAt=revoked_at):
        owner.rotate_key(PRESS, KEY_1)
    with reverts("MachineRegistryMachineRevoked", machineId=PRESS, revokedAt=revoked_at):
        owner.transfer(PRESS, ZERO_ADDRESS)


# ---------------------------------------------------------------------------------------------- same block


def test_register_rotate_and_revoke_in_one_block_leave_empty_windows(chain: Harness) -> None:
    grant_registrar(chain, OPERATOR)
    fns = chain.registry.functions
    at = chain.latest_time() + 100
    chain.next_block_at(at)
    receipts = chain.same_block(
        (ADMIN, fns.register(PRESS, chain.address(OWNER), KEY_1, COMMITMENT)),
        (OWNER, fns.rotateKey(PRESS, KEY_2)),
        (OPERATOR, fns.revoke(PRESS)),
    )

    assert chain.block_time(receipts[0]) == at
    assert chain.only_event(receipts[2], "MachineRevoked") == {"machineId": PRESS, "revokedAt": at}
    client = chain.client(OWNER)
    assert client.key_validity(PRESS, KEY_1) == (at, at)
    assert client.key_validity(PRESS, KEY_2) == (at, at)
    for key in (KEY_1, KEY_2):
        for t in (at - 1, at, at + 1):
            assert not client.is_valid_signer(PRESS, key, t)


def test_key_rotated_out_in_its_own_block_still_counts_as_used(chain: Harness) -> None:
    fns = chain.registry.functions
    at = chain.latest_time() + 100
    chain.next_block_at(at)
    chain.same_block(
        (ADMIN, fns.register(PRESS, chain.address(OWNER), KEY_1, COMMITMENT)),
        (OWNER, fns.rotateKey(PRESS, KEY_2)),
    )
    owner = chain.client(OWNER)
    assert owner.key_validity(PRESS, KEY_1) == (at, at)
    assert owner.key_validity(PRESS, KEY_2) == (at, NO_EXPIRY)
    with reverts("MachineRegistryKeyReused", machineId=PRESS, signer=low(KEY_1)):
        owner.rotate_key(PRESS, KEY_1)


# ---------------------------------------------------------------------------------------------- property


def test_is_valid_signer_agrees_with_window_model_and_key_validity_at_any_timestamp(
    chain: Harness, owner: MachineRegistryClient
) -> None:
    t0 = chain.latest_time() + 100
    chain.at(t0, lambda: owner.register(PRESS, KEY_1))
    chain.at(t0 + 10, lambda: owner.rotate_key(PRESS, KEY_2))
    chain.at(t0 + 11, lambda: owner.rotate_key(PRESS, KEY_3))  # a one-second window
    chain.at(t0 + 500, lambda: owner.rotate_key(PRESS, KEY_4))
    chain.at(t0 + 900, lambda: owner.revoke(PRESS))
    chain.at(t0 + 901, lambda: owner.register(LATHE, KEY_2))  # a key PRESS retired serves LATHE
    chain.at(t0 + 1000, lambda: owner.rotate_key(LATHE, KEY_5))

    # Python model of the windows [from, until); None = open.
    windows: dict[bytes, dict[str, tuple[int, int | None]]] = {
        PRESS: {KEY_1: (t0, t0 + 10), KEY_2: (t0 + 10, t0 + 11), KEY_3: (t0 + 11, t0 + 500),
                KEY_4: (t0 + 500, t0 + 900)},
        LATHE: {KEY_2: (t0 + 901, t0 + 1000), KEY_5: (t0 + 1000, None)},
        machine_id("never-registered"): {},
    }
    keys = [KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, NEVER_USED, ZERO_ADDRESS]
    validity: dict[tuple[bytes, str], tuple[int, int]] = {}
    for machine in (PRESS, LATHE):
        for key in keys:
            start, end = windows[machine].get(key, (0, 0))
            validity[machine, key] = owner.key_validity(MachineId(machine), key)
            assert validity[machine, key] == (start, NO_EXPIRY if end is None else end)

    boundaries = [t0, t0 + 10, t0 + 11, t0 + 500, t0 + 900, t0 + 901, t0 + 1000]
    timestamps = st.one_of(
        st.sampled_from(boundaries).flatmap(lambda b: st.integers(b - 1, b + 1)),
        st.integers(t0 - 20, t0 + 1100),
        st.integers(0, 2**256 - 1),
    )

    @settings(max_examples=60, deadline=None)
    @given(machine=st.sampled_from(list(windows)), key=st.sampled_from(keys), t=timestamps)
    def check(machine: bytes, key: str, t: int) -> None:
        window = windows[machine].get(key)
        expected = window is not None and window[0] <= t and (window[1] is None or t < window[1])
        actual = chain.registry.functions.isValidSigner(machine, key, t).call()
        assert actual is expected
        if machine in (PRESS, LATHE):  # the documented equivalence with keyValidity
            start, end = validity[machine, key]
            assert actual is (start <= t and (t < end or end == NO_EXPIRY))

    check()


# ---------------------------------------------------------------------------------------------- key listeners


def _deploy(chain: Harness, name: str, *args: Any) -> Contract:
    artifact = chain.session.artifact(name)
    factory = chain.session.chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    built = factory.constructor(*args).build_transaction(
        {"from": chain.address(ADMIN), "gas": 1, "nonce": 0, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0})
    receipt = chain.session.tx.send({"data": built["data"]})
    return chain.session.chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def _new_lease(chain: Harness) -> Contract:
    return _deploy(chain, "EquipmentLease", chain.address(ADMIN), chain.registry.address)


def test_suite_lease_contract_is_a_key_listener(chain: Harness) -> None:
    lease = chain.session.address("EquipmentLease")
    assert chain.registry.functions.isKeyListener(lease).call()
    assert lease in chain.registry.functions.keyListeners().call()
    assert not chain.registry.functions.isKeyListener(chain.address(ADMIN)).call()


def test_admin_adds_a_key_listener_with_an_event(chain: Harness) -> None:
    lease = _new_lease(chain)
    receipt = chain.session.tx.transact(chain.registry.functions.addKeyListener(lease.address))
    assert chain.only_event(receipt, "KeyListenerAdded") == {"listener": lease.address}
    assert chain.registry.functions.isKeyListener(lease.address).call()
    assert chain.registry.functions.keyListeners().call()[-1] == lease.address


def test_stranger_adding_a_key_listener_is_refused_by_access_control(chain: Harness) -> None:
    lease = _new_lease(chain)
    with reverts("AccessControlUnauthorizedAccount", account=low(chain.address(STRANGER)), neededRole=ZERO_BYTES32):
        chain.session.transactor(STRANGER).transact(chain.registry.functions.addKeyListener(lease.address))


def test_registrar_without_admin_role_cannot_add_a_key_listener(chain: Harness) -> None:
    grant_registrar(chain, OPERATOR)
    lease = _new_lease(chain)
    with reverts("AccessControlUnauthorizedAccount", account=low(chain.address(OPERATOR)), neededRole=ZERO_BYTES32):
        chain.session.transactor(OPERATOR).transact(chain.registry.functions.addKeyListener(lease.address))


def test_adding_an_account_or_contract_that_is_no_key_listener_reverts_invalid_listener(chain: Harness) -> None:
    token = chain.session.address("SettlementToken")
    for candidate in (chain.address(STRANGER), token, chain.registry.address):
        with reverts("MachineRegistryInvalidListener", listener=low(candidate)):
            chain.session.tx.transact(chain.registry.functions.addKeyListener(candidate))


def test_adding_a_key_listener_twice_reverts_listener_exists(chain: Harness) -> None:
    lease = chain.session.address("EquipmentLease")
    with reverts("MachineRegistryListenerExists", listener=low(lease)):
        chain.session.tx.transact(chain.registry.functions.addKeyListener(lease))


def test_key_listeners_are_capped_so_a_rotation_stays_bounded(chain: Harness) -> None:
    maximum = chain.registry.functions.MAX_KEY_LISTENERS().call()
    assert maximum == 8
    while len(chain.registry.functions.keyListeners().call()) < maximum:
        chain.session.tx.transact(chain.registry.functions.addKeyListener(_new_lease(chain).address))
    with reverts("MachineRegistryTooManyListeners", max=maximum):
        chain.session.tx.transact(chain.registry.functions.addKeyListener(_new_lease(chain).address))


def test_rotation_and_revocation_with_every_listener_slot_taken_stay_cheap(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    while len(chain.registry.functions.keyListeners().call()) < 8:
        chain.session.tx.transact(chain.registry.functions.addKeyListener(_new_lease(chain).address))
    assert owner.rotate_key(PRESS, KEY_2)["gasUsed"] < 200_000
    assert owner.revoke(PRESS)["gasUsed"] < 200_000


def test_signer_of_returns_the_current_key_and_status_without_reverting(
    chain: Harness, registered: Registered, owner: MachineRegistryClient
) -> None:
    assert tuple(chain.registry.functions.signerOf(PRESS).call()) == (KEY_1, MachineStatus.ACTIVE)
    owner.rotate_key(PRESS, KEY_2)
    owner.revoke(PRESS)
    assert tuple(chain.registry.functions.signerOf(PRESS).call()) == (KEY_2, MachineStatus.REVOKED)
    assert tuple(chain.registry.functions.signerOf(LATHE).call()) == (ZERO_ADDRESS, MachineStatus.UNREGISTERED)
