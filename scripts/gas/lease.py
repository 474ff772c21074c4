"""Gas of EquipmentLease operations.

Targets (issue 3): one report in its own transaction <= 50,000 gas in steady state; a batch of 100 reports for
100 leases <= 14,000 gas per report; offer, open and close <= 150,000 each. Issue 14: a P-256-signed report
(P256VERIFY at 0x100) <= 45,000 in its own transaction, <= 21,000 in a batch of 100 (submitUsageBatchMixed).
Where a batched report's gas goes:
the "Gas" section of docs/contracts/equipment-lease.md.

Steady state: every lease measured here was anchored by an earlier report, so a measured report writes a
warm, non-zero storage word (the anchor alone writes it from its opening value). `open` is the first lease the
contract ever opens (the one that also creates the contract's token balance: the worst case); `openWithPermit`
a later one. Report timestamps are the chain's clock, moved on a second before each reading, so the scenario runs
as is on the embedded chain and on anvil.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from web3.contract import Contract
from web3.types import TxReceipt

from millchain.deployments import ContractSpec
from millchain.identity import MachineRegistryClient
from millchain.session import Session
from millchain.signers import sign_usage_report
from millchain.signers.software import P256SoftwareSigner
from millchain.tx import Transactor
from millchain.typed_data import DeviceSigner, UsageReport, UsageReportHasher, lease_domain, permit_typed_data
from millchain.types import MachineId, machine_id

TARGETS: dict[str, int] = {
    "submitUsage_steady": 50_000,
    "offer": 150_000,
    "open": 150_000,
    "close": 150_000,
    "submitUsageBatch100_per_report": 14_000,
    "submitUsageP256_steady": 45_000,
    "submitUsageBatchMixed100_p256_per_report": 21_000,
}

LESSOR, LESSEE, RELAYER, PERMIT_LESSEE = 5, 6, 7, 8
"""Dev accounts no other scenario touches: a token balance another scenario left would change the figures
(a transfer to a non-zero balance is 17,100 gas cheaper), and `python -m scripts.gas` runs every scenario on one
chain while the snapshot test gives each its own. Account 0 deployed the suite and mints."""
BATCH = 100
DEPOSIT = 10**12
PRICE_PER_UNIT = 10**6
PRICE_PER_HOUR = 36 * 10**5
MAX_RATE_PER_HOUR = 3_600_000  # 1,000 units a second: every report below is plausible
DAY = 86_400
SETUP_GAS = 500_000
"""Gas limit of the set-up transactions, given so they skip eth_estimateGas: the scenario sends some 300 of them."""


def measure(session: Session) -> dict[str, int]:
    lease = _deploy_lease(session)
    lessor, lessee, relayer = (session.transactor(i) for i in (LESSOR, LESSEE, RELAYER))
    registry = MachineRegistryClient(session, LESSOR)
    token = session.contract("SettlementToken")
    session.tx.transact(token.functions.mint(lessee.address, 10**30))
    lessee.transact(token.functions.approve(lease.address, 2**256 - 1))
    hasher = UsageReportHasher(lease_domain(session.chain.chain_id, lease.address))
    meter = _Meter(session, hasher)
    figures: dict[str, int] = {}

    # One lease through its whole life; its offer and open are the contract's first.
    press = meter.add(registry, machine_id("gas-lease-press"))
    lease_id, receipt = _offer(session, lease, lessor, press)
    figures["offer"] = receipt["gasUsed"]
    figures["open"] = lessee.transact(lease.functions.open(lease_id, DEPOSIT))["gasUsed"]
    relayer.transact(lease.functions.submitUsage(meter.report(lease_id, press)))  # the anchor
    figures["submitUsage_steady"] = relayer.transact(
        lease.functions.submitUsage(meter.report(lease_id, press)))["gasUsed"]

    # A hundred leases of a hundred machines, anchored by one batch, then billed by the measured one.
    machines = [meter.add(registry, machine_id(f"gas-lease-line-{n:03d}")) for n in range(BATCH)]
    leases = []
    for machine in machines:
        batch_lease_id, _ = _offer(session, lease, lessor, machine, gas=SETUP_GAS)
        lessee.transact(lease.functions.open(batch_lease_id, DEPOSIT), gas=SETUP_GAS)
        leases.append(batch_lease_id)
    relayer.transact(lease.functions.submitUsageBatch(meter.reports(leases, machines)))
    batch = relayer.transact(lease.functions.submitUsageBatch(meter.reports(leases, machines)))
    _require_all_settled(lease, batch)
    figures["submitUsageBatch100_per_report"] = batch["gasUsed"] // BATCH

    # The same with P-256 device keys (as a TPM or secure element holds them): one lease alone, then a hundred.
    p256 = [meter.add_p256(registry, machine_id(f"gas-lease-p256-{n:03d}")) for n in range(BATCH + 1)]
    p256_leases = []
    for machine in p256:
        p256_lease_id, _ = _offer(session, lease, lessor, machine, gas=SETUP_GAS)
        lessee.transact(lease.functions.open(p256_lease_id, DEPOSIT), gas=SETUP_GAS)
        p256_leases.append(p256_lease_id)
    relayer.transact(lease.functions.submitUsageP256(meter.p256_report(p256_leases[0], p256[0])))  # the anchor
    figures["submitUsageP256_steady"] = relayer.transact(
        lease.functions.submitUsageP256(meter.p256_report(p256_leases[0], p256[0])))["gasUsed"]
    relayer.transact(lease.functions.submitUsageBatchMixed([], meter.p256_reports(p256_leases[1:], p256[1:])))
    mixed = relayer.transact(lease.functions.submitUsageBatchMixed([], meter.p256_reports(p256_leases[1:], p256[1:])))
    _require_all_settled(lease, mixed)
    figures["submitUsageBatchMixed100_p256_per_report"] = mixed["gasUsed"] // BATCH

    figures["topUp"] = lessee.transact(lease.functions.topUp(lease_id, 10**9))["gasUsed"]
    figures["withdrawEarnings"] = lessor.transact(lease.functions.withdrawEarnings(lease_id))["gasUsed"]
    _advance(session, 31 * DAY)  # past endsAt
    figures["close"] = lessee.transact(lease.functions.close(lease_id))["gasUsed"]
    _advance(session, DAY)  # past the grace period
    figures["withdrawRefund"] = lessee.transact(lease.functions.withdrawRefund(lease_id))["gasUsed"]

    lathe = meter.add(registry, machine_id("gas-lease-lathe"))
    permit_lease_id, _ = _offer(session, lease, lessor, lathe)
    figures["openWithPermit"] = _open_with_permit(session, lease, token, permit_lease_id)["gasUsed"]
    return figures


class _Meter:
    """The devices of the scenario's machines and their cumulative counters, one reading a second apart."""

    def __init__(self, session: Session, hasher: UsageReportHasher) -> None:
        self.session = session
        self.hasher = hasher
        self.devices: dict[bytes, DeviceSigner] = {}
        self.p256_devices: dict[bytes, P256SoftwareSigner] = {}
        self.counter = 1_000
        self.runtime = 500
        self.last_timestamp = 0

    def add(self, registry: MachineRegistryClient, machine: MachineId) -> MachineId:
        device = DeviceSigner(keccak(b"millchain-gas-device:" + machine), self.hasher)
        owner = registry.tx.address
        registry.tx.transact(registry.contract.functions.register(machine, owner, device.address, b"\0" * 32),
                             gas=SETUP_GAS)
        self.devices[machine] = device
        return machine

    def add_p256(self, registry: MachineRegistryClient, machine: MachineId) -> MachineId:
        """A machine whose key is P-256, registered by its public key (no attestation evidence here)."""
        device = P256SoftwareSigner.generate()
        key = device.public_key
        registry.tx.transact(registry.contract.functions.registerP256(
            machine, registry.tx.address, key[:32], key[32:], b"\0" * 32, b"\0" * 32), gas=SETUP_GAS)
        self.p256_devices[machine] = device
        return machine

    def p256_report(self, lease_id: int, machine: MachineId) -> Any:
        return self.p256_reports([lease_id], [machine])[0]

    def p256_reports(self, lease_ids: Sequence[int], machines: Sequence[MachineId]) -> list[Any]:
        counter, runtime, timestamp = self._next_reading()
        signed = []
        for lease_id, machine in zip(lease_ids, machines, strict=True):
            report = UsageReport(lease_id=lease_id, machine_id=machine, counter=counter, runtime_seconds=runtime,
                                 timestamp=timestamp)
            device = self.p256_devices[machine]
            signature = sign_usage_report(device, self.hasher, report)
            signed.append((report.as_tuple(), signature[:32], signature[32:], device.public_key[:32],
                           device.public_key[32:]))
        return signed

    def _next_reading(self) -> tuple[int, int, int]:
        """A reading newer than any before: counters up, dated at the chain's latest block after moving the clock on
        a second (so it is never ahead of the block it settles in: a reading dated ahead takes the reference path,
        and on anvil, whose blocks may share a second, one dated after a same-second block is refused)."""
        _advance(self.session, 1)
        now = int(self.session.chain.w3.eth.get_block("latest")["timestamp"])
        self.last_timestamp = max(now, self.last_timestamp + 1)
        self.counter += 10
        self.runtime += 1
        return self.counter, self.runtime, self.last_timestamp

    def report(self, lease_id: int, machine: MachineId) -> Any:
        return self.reports([lease_id], [machine])[0]

    def reports(self, lease_ids: Sequence[int], machines: Sequence[MachineId]) -> list[Any]:
        counter, runtime, timestamp = self._next_reading()
        return [
            self.devices[machine].sign(UsageReport(lease_id=lease_id, machine_id=machine, counter=counter,
                                                   runtime_seconds=runtime, timestamp=timestamp)).as_tuple()
            for lease_id, machine in zip(lease_ids, machines, strict=True)
        ]


def _deploy_lease(session: Session) -> Contract:
    """The suite's EquipmentLease, deployed (once) against its MachineRegistry if the suite does not have it."""
    registry = session.address("MachineRegistry")
    spec = ContractSpec("EquipmentLease", lambda done, deployer: [deployer, registry])
    session.deployer().deploy(spec, {})
    lease = session.contract("EquipmentLease")
    session.subscribe_to_key_changes(registry, lease.address)
    return lease


def _offer(
    session: Session, lease: Contract, lessor: Transactor, machine: MachineId, *, gas: int | None = None
) -> tuple[int, TxReceipt]:
    now = int(session.chain.w3.eth.get_block("latest")["timestamp"])
    terms = (session.address("SettlementToken"), PRICE_PER_UNIT, PRICE_PER_HOUR, 10**9, MAX_RATE_PER_HOUR,
             now + 30 * DAY, 3600, 3600)
    receipt = lessor.transact(lease.functions.offer(machine, terms), gas=gas)
    lease_id = lease.events.LeaseOffered().process_receipt(receipt)[0]["args"]["leaseId"]
    return int(lease_id), receipt


def _open_with_permit(session: Session, lease: Contract, token: Contract, lease_id: int) -> TxReceipt:
    """Opens with an ERC-2612 permit from an account that never approved the lease contract."""
    holder = session.transactor(PERMIT_LESSEE)
    session.tx.transact(token.functions.mint(holder.address, DEPOSIT))
    deadline = int(session.chain.w3.eth.get_block("latest")["timestamp"]) + DAY
    permit = permit_typed_data(token, holder.address, lease.address, DEPOSIT,
                               token.functions.nonces(holder.address).call(), deadline)
    signed = Account.sign_message(encode_typed_data(full_message=permit), holder.account.key)
    return holder.transact(lease.functions.openWithPermit(
        lease_id, DEPOSIT, deadline, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")))


def _require_all_settled(lease: Contract, receipt: TxReceipt) -> None:
    """A benchmark of skipped reports would measure the wrong thing."""
    settled = lease.events.UsageSettled().process_receipt(receipt)
    if len(settled) != BATCH or any(event["args"]["units"] == 0 for event in settled):
        raise RuntimeError(f"the measured batch settled {len(settled)} of {BATCH} reports with units")


def _advance(session: Session, seconds: int) -> None:
    """Moves the chain's clock forward and mines a block at the new time."""
    chain = session.chain
    if chain.tester is not None:
        chain.tester.time_travel(int(chain.w3.eth.get_block("latest")["timestamp"]) + seconds)
        chain.tester.mine_blocks(1)
    else:
        chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
