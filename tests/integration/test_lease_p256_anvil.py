"""P-256 device keys on a real anvil (1.7.x: P256VERIFY at 0x100, EIP-7951) through the SDK's normal path: a
machine registered by its P-256 public key, a lease billed by P-256-signed reports alone and in one batch with a
secp256k1 lease, a forged P-256 signature skipped — the same results the embedded chain gives
(tests/contracts/test_equipment_lease_p256.py)."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from millchain.identity import MachineRegistryClient, p256_key_id
from millchain.leasing import LeaseClient, LeaseTerms, SkipReason
from millchain.p256_precompile import has_p256verify
from millchain.session import Session
from millchain.signers import sign_usage_report
from millchain.signers.software import P256SoftwareSigner
from millchain.typed_data import DeviceSigner, P256SignedUsageReport, UsageReport
from millchain.types import machine_id

pytestmark = pytest.mark.integration

LESSOR, LESSEE, RELAYER = 1, 2, 3


def test_p256_and_secp256k1_reports_bill_in_one_batch_on_anvil(anvil_session: Session) -> None:
    session = anvil_session
    session.deploy()
    assert has_p256verify(session.chain.w3)
    registry = MachineRegistryClient(session, LESSOR)
    device = P256SoftwareSigner.generate()
    forger = P256SoftwareSigner.generate()
    k1_device = DeviceSigner(b"\x07" * 32, LeaseClient(session).hasher)
    tpm_press, k1_press = machine_id("anvil-p256-press"), machine_id("anvil-k1-press")
    registry.register_p256(tpm_press, device.public_key, evidence_hash=b"\x11" * 32)
    registry.register(k1_press, k1_device.address)
    assert registry.get(tpm_press).signer == p256_key_id(device.public_key)
    assert registry.get(tpm_press).hardware_attested

    token = session.contract("SettlementToken")
    lessee_address = session.chain.account(LESSEE).address
    session.tx.transact(token.functions.mint(lessee_address, 10**12))
    lessor, lessee, relayer = (LeaseClient(session, i) for i in (LESSOR, LESSEE, RELAYER))
    now = int(session.chain.w3.eth.get_block("latest")["timestamp"])
    terms = LeaseTerms(token=token.address, price_per_unit=1_000, max_rate_per_hour=3_600_000, ends_at=now + 86_400,
                       heartbeat=3_600)
    leases = {m: lessor.offer(m, terms) for m in (tpm_press, k1_press)}
    for lease_id in leases.values():
        lessee.open(lease_id, 10**9)

    def p256(signer: P256SoftwareSigner, counter: int, at: int) -> P256SignedUsageReport:
        report = UsageReport(lease_id=leases[tpm_press], machine_id=tpm_press, counter=counter, runtime_seconds=0,
                             timestamp=at)
        return P256SignedUsageReport.from_signature(report, sign_usage_report(signer, relayer.hasher, report),
                                                    signer.public_key)

    def k1(counter: int, at: int) -> object:
        return k1_device.sign(UsageReport(lease_id=leases[k1_press], machine_id=k1_press, counter=counter,
                                          runtime_seconds=0, timestamp=at))

    t = session.chain.advance_time(5)  # readings newer than the opening block
    relayer.submit_p256(p256(device, 100, t))  # anchors
    relayer.submit(k1(500, t))  # type: ignore[arg-type]
    t2 = session.chain.advance_time(10)
    forged = p256(forger, 10**6, t2)
    forged = P256SignedUsageReport(forged.report, forged.r, forged.s, device.public_key)  # claims the device's key
    receipt = relayer.submit_batch_mixed([k1(510, t2)], [forged, p256(device, 105, t2)])  # type: ignore[list-item]
    events = [(e.event, dict(e.args))
              for e in relayer.contract.events.UsageSettled().process_receipt(receipt, errors=DISCARD)]
    skipped = relayer.contract.events.UsageReportSkipped().process_receipt(receipt, errors=DISCARD)
    assert [(a["leaseId"], a["counter"], a["units"]) for _, a in events] == [
        (leases[k1_press], 510, 10), (leases[tpm_press], 105, 5)]
    assert [(s["args"]["counter"], SkipReason(s["args"]["reason"])) for s in skipped] == [
        (10**6, SkipReason.INVALID_SIGNATURE)]
    assert relayer.get(leases[tpm_press]).earnings == 5 * 1_000
