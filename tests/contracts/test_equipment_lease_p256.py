"""P-256 (secp256r1) device keys — what TPMs and secure elements hold — in MachineRegistry and EquipmentLease on the
embedded chain (which verifies P-256 at 0x100 like a current chain): registration and rotation with the key's
attestation evidence hash, the key id standing where a secp256k1 address stands, reports signed with P-256 alone
and mixed with secp256k1 in one batch, and every bad P-256 signature refused like any other bad report.

Spec: docs/contracts/machine-registry.md ("Key types"), docs/contracts/equipment-lease.md ("P-256 reports").
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from millchain.p256_precompile import P256_N
from millchain.signers import sign_usage_report
from millchain.signers.software import P256SoftwareSigner
from millchain.typed_data import UsageReport
from millchain.types import MachineId, machine_id
from tests.contracts.lease_helpers import (
    ADMIN,
    LESSOR,
    MILL,
    PRESS,
    RELAYER,
    STRANGER,
    ZERO_BYTES32,
    EventDecoder,
    LeaseHarness,
    Opened,
    Skip,
    device_address,
    low,
    reverts,
    settled,
)

pytestmark = pytest.mark.usefixtures("_fresh_head_after_module")

EVIDENCE = keccak(text="tpm2-certify evidence bundle")


def key_id(signer: P256SoftwareSigner) -> str:
    """P256KeyLib.keyId: low 160 bits of keccak256("millchain.p256" . qx . qy)."""
    return "0x" + keccak(b"millchain.p256" + signer.public_key)[12:].hex()


def xy(signer: P256SoftwareSigner) -> tuple[bytes, bytes]:
    return signer.public_key[:32], signer.public_key[32:]


def p256_report(h: LeaseHarness, lease: Opened | int, signer: P256SoftwareSigner, counter: int, runtime: int,
                timestamp: int, *, machine: MachineId | None = None) -> tuple[Any, ...]:
    """A P256SignedUsageReport tuple: (report, r, s, qx, qy), low s."""
    lease_id = lease.lease_id if isinstance(lease, Opened) else lease
    machine = machine or (lease.machine if isinstance(lease, Opened) else None)
    assert machine is not None
    report = UsageReport(lease_id=lease_id, machine_id=machine, counter=counter, runtime_seconds=runtime,
                         timestamp=timestamp)
    signature = sign_usage_report(signer, h.hasher, report)
    qx, qy = xy(signer)
    return ((lease_id, machine, counter, runtime, timestamp), signature[:32], signature[32:], qx, qy)


def p256_machine(h: LeaseHarness, label: str, signer: P256SoftwareSigner, evidence: bytes = EVIDENCE) -> MachineId:
    machine = machine_id(label)
    qx, qy = xy(signer)
    h.tx(ADMIN).transact(h.registry.functions.registerP256(machine, h.address(LESSOR), qx, qy, evidence,
                                                           ZERO_BYTES32))
    return machine


def registry_events(h: LeaseHarness, receipt: Any) -> list[tuple[str, dict[str, Any]]]:
    return EventDecoder(h.registry)(receipt)


# ---------------------------------------------------------------------------------------------- registry


def test_register_p256_records_the_key_under_its_key_id_with_the_evidence_hash(h: LeaseHarness) -> None:
    signer = P256SoftwareSigner.generate()
    machine = machine_id("p256-register")
    qx, qy = xy(signer)
    receipt = h.tx(ADMIN).transact(h.registry.functions.registerP256(machine, h.address(LESSOR), qx, qy, EVIDENCE,
                                                                     ZERO_BYTES32))
    kid = key_id(signer)
    assert registry_events(h, receipt) == [
        ("MachineRegistered", {"machineId": machine, "owner": h.address(LESSOR),
                               "signer": h.session.chain.w3.to_checksum_address(kid),
                               "metadataCommitment": ZERO_BYTES32}),
        ("MachineP256KeySet", {"machineId": machine, "keyId": h.session.chain.w3.to_checksum_address(kid),
                               "qx": qx, "qy": qy, "evidenceHash": EVIDENCE}),
    ]
    fns = h.registry.functions
    checksummed = h.session.chain.w3.to_checksum_address(kid)
    assert fns.p256KeyId(qx, qy).call() == checksummed
    assert tuple(fns.p256KeyOf(checksummed).call()) == (qx, qy)
    assert fns.evidenceHashOf(machine, checksummed).call() == EVIDENCE
    assert fns.keyTypeOf(checksummed).call() == 1  # KeyType.P256
    assert fns.keyTypeOf(device_address(b"\x01" * 32)).call() == 0  # Secp256k1
    assert low(fns.signerOf(machine).call()[0]) == kid


def test_another_machine_registered_with_the_same_key_cannot_change_its_attestation(h: LeaseHarness) -> None:
    """Auditor's PoC on the first version, which fixed a key's evidence hash at its first registration: anyone
    could front-run a TPM-attested registration with a machine of their own and the same public key, so that the
    genuine machine showed as not attested. Evidence is now per machine."""
    signer = P256SoftwareSigner.generate()
    qx, qy = xy(signer)
    squatter, genuine = machine_id("p256-squatter"), machine_id("p256-genuine")
    h.tx(STRANGER).transact(h.registry.functions.registerP256(squatter, h.address(STRANGER), qx, qy, ZERO_BYTES32,
                                                              ZERO_BYTES32))
    h.tx(ADMIN).transact(h.registry.functions.registerP256(genuine, h.address(LESSOR), qx, qy, EVIDENCE,
                                                           ZERO_BYTES32))
    kid = h.session.chain.w3.to_checksum_address(key_id(signer))
    fns = h.registry.functions
    assert (fns.evidenceHashOf(genuine, kid).call(), fns.evidenceHashOf(squatter, kid).call()) == (
        EVIDENCE, ZERO_BYTES32)


def test_register_p256_with_a_point_off_the_curve_reverts_invalid_key(h: LeaseHarness) -> None:
    signer = P256SoftwareSigner.generate()
    qx, qy = xy(signer)
    bad_y = ((int.from_bytes(qy, "big") + 1) % 2**256).to_bytes(32, "big")
    machine = machine_id("p256-bad-point")
    for x, y in ((qx, bad_y), (ZERO_BYTES32, ZERO_BYTES32)):
        with reverts("MachineRegistryInvalidP256Key", machineId=machine, qx=x, qy=y):
            h.tx(ADMIN).transact(h.registry.functions.registerP256(machine, h.address(LESSOR), x, y, EVIDENCE,
                                                                   ZERO_BYTES32))


def test_rotation_from_secp256k1_to_p256_cuts_off_the_old_key_and_moves_the_running_lease(h: LeaseHarness) -> None:
    lease = h.opened(machine=MILL)
    t = h.anchor(lease, 1_000)
    old_key = h.signers[MILL]
    signer = P256SoftwareSigner.generate()
    qx, qy = xy(signer)
    receipt = h.at(t + 10, lambda: h.tx(LESSOR).transact(
        h.registry.functions.rotateKeyP256(MILL, qx, qy, ZERO_BYTES32)))
    kid = h.session.chain.w3.to_checksum_address(key_id(signer))
    assert registry_events(h, receipt) == [
        ("MachineKeyRotated", {"machineId": MILL, "previousSigner": device_address(old_key), "newSigner": kid,
                               "rotatedAt": t + 10}),
        ("MachineP256KeySet", {"machineId": MILL, "keyId": kid, "qx": qx, "qy": qy, "evidenceHash": ZERO_BYTES32}),
    ]
    # the old secp256k1 key after the cut-off is refused; the P-256 key bills
    late = h.report(lease, 1_010, 5, t + 11, key=old_key)
    with reverts("EquipmentLeaseInvalidSigner", leaseId=lease.lease_id, machineId=MILL,
                 signer=low(device_address(old_key)), timestamp=t + 11):
        h.submit(late, at=t + 12)
    receipt = h.send("submitUsageP256", p256_report(h, lease, signer, 1_020, 10, t + 13), by=RELAYER, at=t + 13)
    assert h.events(receipt) == [settled(lease, 1_020, 20, lease.terms.bill(20, 10, 0))]


# ---------------------------------------------------------------------------------------------- lease


def test_p256_signed_reports_anchor_and_bill_a_lease(h: LeaseHarness) -> None:
    signer = P256SoftwareSigner.generate()
    machine = p256_machine(h, "p256-press", signer)
    lease = h.opened(machine=machine)
    t = lease.opened_at
    receipt = h.send("submitUsageP256", p256_report(h, lease, signer, 500, 0, t + 1), by=RELAYER, at=t + 2)
    assert h.events(receipt) == [settled(lease, 500, 0, 0)]
    receipt = h.send("submitUsageP256", p256_report(h, lease, signer, 600, 30, t + 31), by=RELAYER, at=t + 32)
    assert h.events(receipt) == [settled(lease, 600, 100, lease.terms.bill(100, 30, 0))]
    assert h.get(lease.lease_id)["lastCounter"] == 600


def test_bad_p256_signatures_are_refused_like_any_bad_report(h: LeaseHarness) -> None:
    signer, other = P256SoftwareSigner.generate(), P256SoftwareSigner.generate()
    machine = p256_machine(h, "p256-lathe", signer)
    lease = h.opened(machine=machine)
    t = lease.opened_at
    good = p256_report(h, lease, signer, 500, 0, t + 1)
    report, r, s, qx, qy = good
    high_s = (report, r, (P256_N - int.from_bytes(s, "big")).to_bytes(32, "big"), qx, qy)
    tampered = ((report[0], report[1], 501, report[3], report[4]), r, s, qx, qy)
    wrong_key = (report, r, s, *xy(other))
    for bad in (high_s, tampered, wrong_key):
        with reverts("EquipmentLeaseInvalidSignature", leaseId=lease.lease_id):
            h.send("submitUsageP256", bad, by=RELAYER)
    by_other = p256_report(h, lease, other, 500, 0, t + 1)
    with reverts("EquipmentLeaseInvalidSigner", leaseId=lease.lease_id, machineId=machine,
                 signer=key_id(other), timestamp=t + 1):
        h.send("submitUsageP256", by_other, by=RELAYER)
    receipt = h.at(t + 2, lambda: h.transact(h.lease.functions.submitUsageBatchMixed(
        [], [high_s, tampered, by_other, good]), by=RELAYER))
    rep = UsageReport(lease_id=lease.lease_id, machine_id=machine, counter=500, runtime_seconds=0, timestamp=t + 1)

    def skip(counter: int, reason: Skip) -> tuple[str, dict[str, Any]]:
        return ("UsageReportSkipped", {"leaseId": lease.lease_id, "counter": counter, "timestamp": rep.timestamp,
                                       "reason": reason})

    assert h.events(receipt) == [skip(500, Skip.INVALID_SIGNATURE), skip(501, Skip.INVALID_SIGNATURE),
                                 skip(500, Skip.INVALID_SIGNER), settled(lease, 500, 0, 0)]


def test_mixed_batch_settles_secp256k1_and_p256_reports_of_many_leases(h: LeaseHarness) -> None:
    signer = P256SoftwareSigner.generate()
    machine = p256_machine(h, "p256-mill", signer)
    k1 = h.opened(machine=PRESS)
    r1 = h.opened(machine=machine)
    t = max(k1.opened_at, r1.opened_at) + 1
    k1_reports = [h.report(k1, 100, 0, t), h.report(k1, 110, 5, t + 5)]
    r1_reports = [p256_report(h, r1, signer, 7, 0, t), p256_report(h, r1, signer, 17, 5, t + 5)]
    h.next_block_at(t + 6)
    call = h.lease.functions.submitUsageBatchMixed([r.as_tuple() for r in k1_reports], r1_reports)
    assert int(call.call(h.dry_run_options(), block_identifier="pending")) == 4
    receipt = h.transact(call, by=RELAYER)
    assert h.events(receipt) == [settled(k1, 100, 0, 0), settled(k1, 110, 10, k1.terms.bill(10, 5, 0)),
                                 settled(r1, 7, 0, 0), settled(r1, 17, 10, r1.terms.bill(10, 5, 0))]


def test_p256_report_above_the_rate_is_an_anomaly_carrying_its_key(h: LeaseHarness) -> None:
    signer = P256SoftwareSigner.generate()
    machine = p256_machine(h, "p256-drill", signer)
    lease = h.opened(machine=machine)
    t = lease.opened_at
    h.send("submitUsageP256", p256_report(h, lease, signer, 0, 0, t + 1), by=RELAYER, at=t + 1)
    jump = p256_report(h, lease, signer, 10**6, 10, t + 11)
    receipt = h.send("submitUsageP256", jump, by=RELAYER, at=t + 11)
    (report, r, s, qx, qy) = jump
    assert h.events(receipt) == [("P256UsageAnomalyDetected", {
        "leaseId": lease.lease_id,
        "report": {"report": dict(zip(("leaseId", "machineId", "counter", "runtimeSeconds", "timestamp"), report,
                                      strict=True)), "r": r, "s": s, "qx": qx, "qy": qy},
        "units": 10**6, "maxUnits": lease.terms.max_units(10), "runtimeDelta": 10, "maxRuntimeDelta": 11})]

