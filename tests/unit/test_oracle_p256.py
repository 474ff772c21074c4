"""The oracle's P-256 pieces without a chain: the {r, s} payload, the machine config naming a signer backend, the
intake's verification (low s, the registered key, refused by name) and the mixed batch's calldata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from web3 import Web3

from millchain.identity import p256_key_id
from millchain.project import Project
from millchain.signers import P256_N, is_low_s, sign_usage_report
from millchain.signers.config import SignerConfig
from millchain.signers.software import P256SoftwareSigner
from millchain.typed_data import UsageReport, UsageReportHasher, lease_domain
from oracle.config import MachineSettings
from oracle.outbox import PendingReading
from oracle.p256 import MixedBatchEncoder, P256ReportSigner, verify_p256_reading
from oracle.telemetry import InvalidTelemetry, parse_payload

HASHER = UsageReportHasher(lease_domain(31337, "0x" + "42" * 20))
REPORT = UsageReport(lease_id=7, machine_id=b"m".ljust(32, b"\0"), counter=1010, runtime_seconds=60,
                     timestamp=1_800_000_000)  # fmt: skip


def _payload(signature: dict[str, str]) -> bytes:
    return json.dumps({"counter": 1, "runtime": 1, "timestamp": 2, "signature": signature}).encode()


def test_a_p256_signature_is_r_and_s_and_both_forms_at_once_are_refused() -> None:
    raw = parse_payload(_payload({"r": "0x" + "11" * 32, "s": "0x" + "22" * 32}))
    assert (raw.p256, raw.signature) == (True, (b"\x11" * 32, b"\x22" * 32))
    assert parse_payload(_payload({"r": "0x" + "11" * 32, "vs": "0x" + "22" * 32})).p256 is False
    with pytest.raises(InvalidTelemetry, match="both s \\(P-256\\) and vs \\(secp256k1\\)"):
        parse_payload(_payload({"r": "0x" + "11" * 32, "s": "0x" + "22" * 32, "vs": "0x" + "22" * 32}))


def test_intake_verification_normalises_high_s_and_names_a_foreign_or_missing_key() -> None:
    device = P256SoftwareSigner.generate()
    signature = sign_usage_report(device, HASHER, REPORT)
    r, s = signature[:32], int.from_bytes(signature[32:], "big")
    high = (P256_N - s).to_bytes(32, "big")
    assert not is_low_s(r + high)
    assert verify_p256_reading(HASHER, REPORT, r, high, device.public_key) == (r, signature[32:])
    other = P256SoftwareSigner.generate().public_key
    with pytest.raises(InvalidTelemetry, match=f"does not verify under the registered key {p256_key_id(other)}"):
        verify_p256_reading(HASHER, REPORT, r, signature[32:], other)
    with pytest.raises(InvalidTelemetry, match="registered key is not P-256") as caught:
        verify_p256_reading(HASHER, REPORT, r, signature[32:], None)
    assert caught.value.reason == "bad_signature"


def test_gateway_p256_signer_answers_with_the_registry_key_id_and_a_verifying_low_s_signature() -> None:
    key = P256SoftwareSigner.generate()
    signer = P256ReportSigner(key, HASHER)
    signed = signer.sign(REPORT)
    assert signer.address == p256_key_id(key.public_key)
    assert verify_p256_reading(HASHER, REPORT, signed.r, signed.vs, key.public_key) == (signed.r, signed.vs)


def test_machine_config_takes_a_signer_backend_instead_of_a_keystore(tmp_path: Path) -> None:
    tpm = SignerConfig(backend="tpm", tcti="swtpm:host=127.0.0.1,port=2321", handle=0x81010030)
    machine = MachineSettings(name="press", machine_id="press", device_signer=tpm)
    assert machine.device_signer == tpm and machine.device_keystore is None
    with pytest.raises(ValidationError, match="gateway signing needs device_keystore or device_signer \\(one\\)"):
        MachineSettings(name="press", machine_id="press", device_signer=tpm, device_keystore=tmp_path / "k.json")
    with pytest.raises(ValidationError, match="a secp256k1 key goes in device_keystore"):
        secp = SignerConfig(backend="software-secp256k1", key_file=tmp_path / "k.json")
        MachineSettings(name="press", machine_id="press", device_signer=secp)


def test_a_mixed_batch_puts_p256_machines_with_their_key_and_the_rest_as_secp256k1(compiled: Project) -> None:
    abi = json.loads((compiled.build_dir / "contracts" / "EquipmentLease.json").read_text())["abi"]
    key = P256SoftwareSigner.generate().public_key

    def reading(machine: str, counter: int) -> PendingReading:
        return PendingReading(id=counter, machine=machine, machine_id=machine.encode().ljust(32, b"\0"), lease_id=1,
                              counter=counter, runtime=1, timestamp=2, r=b"\1" * 32, vs=b"\2" * 32,
                              received_at=0.0)  # fmt: skip

    data = MixedBatchEncoder(abi).calldata([reading("a", 1), reading("b", 2), reading("a", 3)], {"b": key})
    lease = Web3().eth.contract(address="0x5FbDB2315678afecb367f032d93F642f64180aa3", abi=abi)
    fn, args = lease.decode_function_input(data)
    assert fn.fn_name == "submitUsageBatchMixed"
    assert [report["report"]["counter"] for report in args["reports"]] == [1, 3]
    assert [(report["report"]["counter"], report["qx"] + report["qy"]) for report in args["p256Reports"]] == [(2, key)]
