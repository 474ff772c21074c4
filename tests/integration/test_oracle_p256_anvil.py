"""The oracle with P-256 device keys on real parts (anvil, Mosquitto, swtpm): a machine that signs its readings
with P-256 (a secure element's key) and a machine whose key the gateway holds in its TPM are billed exactly, in the
same batches as a secp256k1 machine (submitUsageBatchMixed); a high-s P-256 signature is normalised, a P-256
signature by another key is refused by name."""

from __future__ import annotations

import json
import time
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from millchain.fleet import LESSOR
from millchain.identity import MachineRegistryClient
from millchain.leasing import LeaseClient
from millchain.node import AnvilNode, free_port
from millchain.session import Session
from millchain.signers import P256_N, sign_usage_report
from millchain.signers.config import SignerConfig
from millchain.signers.software import P256SoftwareSigner
from millchain.signers.tpm import TpmSigner
from millchain.tpm.swtpm import SoftwareTpm
from millchain.typed_data import UsageReport
from millchain.types import machine_id
from oracle.config import MachineSettings
from oracle.sources.mqtt import telemetry_topic
from tests.integration.test_oracle_resilience import Running, wait_for
from tests.oracle_fixtures import MosquittoBroker
from tests.oracle_floor import DEVICE_PASSWORD, PRICE_PER_UNIT, Floor, build_floor
from tests.tpm_fixtures import swtpm  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

TPM_HANDLE = 0x81010030


@pytest.fixture(autouse=True)
def device_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORACLE_DEVICE_PASSWORD", DEVICE_PASSWORD)


def _rejected(oracle: Running) -> dict[str, float]:
    assert oracle.service is not None
    samples = oracle.service.metrics.rejected.collect()[0].samples
    return {s.labels["reason"]: s.value for s in samples if s.name.endswith("_total")}


def test_p256_device_signed_and_gateway_tpm_machines_are_billed_exactly_beside_a_secp256k1_machine(
    anvil_session: Session,
    anvil: AnvilNode,
    mosquitto: MosquittoBroker,
    swtpm: SoftwareTpm,  # noqa: F811
    tmp_path: Path,
) -> None:
    floor: Floor = build_floor(anvil_session, tmp_path, 3)
    secp, device, gateway = floor.leases
    registry = MachineRegistryClient(anvil_session, LESSOR)
    element = P256SoftwareSigner.generate()  # the machine's secure element
    registry.rotate_key_p256(machine_id(device), element.public_key)
    with TpmSigner.create(swtpm.tcti, handle=TPM_HANDLE) as tpm_key:  # made in the gateway's TPM at commissioning
        registry.rotate_key_p256(machine_id(gateway), tpm_key.public_key)
    base = floor.settings(tmp_path, anvil.url, mqtt={"host": mosquitto.host, "port": mosquitto.port})
    fields: dict[str, dict[str, object]] = {
        device: {"signing": "device", "device_keystore": None},
        gateway: {"device_keystore": None,
                  "device_signer": SignerConfig(backend="tpm", tcti=swtpm.tcti, handle=TPM_HANDLE)},
    }  # fmt: skip
    machines = [MachineSettings(**{**m.model_dump(), **fields.get(m.name, {})}) for m in base.machines]
    settings = base.model_copy(update={"machines": machines})
    hasher = LeaseClient(anvil_session).hasher
    head = int(anvil_session.chain.w3.eth.get_block("latest")["timestamp"])
    t0 = max([head, *(int(floor.lease_state(n).last_timestamp) for n in floor.leases)]) + 1
    # The readings span 20 s after the new keys' start: the chain's clock is moved past them, so each settles at
    # its own time (a reading dated after its block settles at the block's time, which would squeeze 20 s of
    # counting into one second and read as an anomaly) without the test waiting 20 s.
    anvil_session.chain.w3.provider.make_request("evm_increaseTime", [t0 + 25 - head])  # type: ignore[arg-type]
    anvil_session.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def body(name: str, counter: int, k: int, *, signer: P256SoftwareSigner | None = None, high_s: bool = False) -> str:
        payload: dict[str, object] = {"counter": counter, "runtime": 10 * k, "timestamp": t0 + 10 * k}
        if signer is not None:
            report = UsageReport(lease_id=floor.leases[name], machine_id=machine_id(name), counter=counter,
                                 runtime_seconds=10 * k, timestamp=t0 + 10 * k)  # fmt: skip
            signature = sign_usage_report(signer, hasher, report)
            r, s = signature[:32], int.from_bytes(signature[32:], "big")
            if high_s:  # the same signature to the curve; the lease only takes the low form
                s = P256_N - s
            payload["signature"] = {"r": "0x" + r.hex(), "s": "0x" + s.to_bytes(32, "big").hex()}
            payload["leaseId"] = hex(floor.leases[name])
        return json.dumps(payload)

    def send(name: str, text: str) -> None:
        topic = telemetry_topic(settings.mqtt.topic_prefix, name)
        publish.single(topic, text, qos=1, hostname=mosquitto.host, port=mosquitto.port)

    with Running(settings, real_adapters=True) as oracle:
        assert oracle.service is not None
        wait_for(lambda: bool(oracle.service.sources[0].connected), 10, "the broker connection")  # type: ignore[union-attr,attr-defined]
        for k, counter in enumerate((1000, 1010, 1025)):
            send(secp, body(secp, counter, k))
            send(gateway, body(gateway, counter, k))
            send(device, body(device, counter, k, signer=element, high_s=k == 1))
        # A reading signed by another P-256 key: refused by name, never billed.
        send(device, body(device, 1500, 3, signer=P256SoftwareSigner.generate()))
        wait_for(lambda: all(floor.lease_state(n).last_counter == 1025 for n in floor.leases), 60,
                 "the three machines' readings to settle")  # fmt: skip
        wait_for(lambda: _rejected(oracle).get("bad_signature") == 1, 10, "the forged reading to be refused")
        time.sleep(1)  # had the forged reading got through, it would settle within a batch window
        # Only the forged one: the high-s reading was normalised and verified, not refused.
        assert _rejected(oracle) == {"bad_signature": 1}
    for name in floor.leases:
        lease = floor.lease_state(name)
        assert (lease.last_counter, lease.earnings) == (1025, 25 * PRICE_PER_UNIT), name


def test_a_p256_device_signed_machine_on_opc_ua_is_billed_exactly_and_a_forged_reading_refused(
    anvil_session: Session, anvil: AnvilNode, tmp_path: Path
) -> None:
    from asyncua import ua
    from asyncua.sync import Server, ThreadLoop

    floor: Floor = build_floor(anvil_session, tmp_path, 1)
    [name] = floor.leases
    element = P256SoftwareSigner.generate()
    MachineRegistryClient(anvil_session, LESSOR).rotate_key_p256(machine_id(name), element.public_key)
    head = int(anvil_session.chain.w3.eth.get_block("latest")["timestamp"])
    t0 = max(head, int(floor.lease_state(name).last_timestamp)) + 1
    anvil_session.chain.w3.provider.make_request("evm_increaseTime", [t0 + 25 - head])  # type: ignore[arg-type]
    anvil_session.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    hasher = LeaseClient(anvil_session).hasher

    def signed(counter: int, k: int, signer: P256SoftwareSigner) -> str:
        report = UsageReport(lease_id=floor.leases[name], machine_id=machine_id(name), counter=counter,
                             runtime_seconds=10 * k, timestamp=t0 + 10 * k)  # fmt: skip
        signature = sign_usage_report(signer, hasher, report)
        r, s = "0x" + signature[:32].hex(), "0x" + signature[32:].hex()
        return json.dumps({"counter": counter, "runtime": 10 * k, "timestamp": t0 + 10 * k,
                           "leaseId": hex(floor.leases[name]), "signature": {"r": r, "s": s}})  # fmt: skip

    with ThreadLoop() as tloop:
        server = Server(tloop=tloop)
        endpoint = f"opc.tcp://127.0.0.1:{free_port()}/millchain/signed"
        server.set_endpoint(endpoint)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = server.register_namespace("urn:millchain:test:signed-machine")
        node_id = f"ns={idx};s=Machine.SignedReading"
        machine = server.nodes.objects.add_object(ua.NodeId.from_string(f"ns={idx};s=Machine"), "Machine")
        node = machine.add_variable(
            ua.NodeId.from_string(node_id), "SignedReading", ua.Variant("", ua.VariantType.String)
        )
        server.start()
        try:
            base = floor.settings(tmp_path, anvil.url)
            opcua = {"endpoint": endpoint, "signed_reading_node": node_id, "locked_node": None, "interval_s": 0.1}
            device = MachineSettings(**{**base.machines[0].model_dump(), "source": "opcua", "signing": "device",
                                        "device_keystore": None, "opcua": opcua})  # fmt: skip
            settings = base.model_copy(update={"machines": [device]})
            with Running(settings, real_adapters=True) as oracle:
                node.write_value(ua.Variant(signed(1000, 0, element), ua.VariantType.String))
                wait_for(lambda: floor.lease_state(name).last_counter == 1000, 30, "the anchor over OPC UA")
                node.write_value(ua.Variant(signed(1025, 2, element), ua.VariantType.String))
                wait_for(lambda: floor.lease_state(name).last_counter == 1025, 30, "the reading over OPC UA")
                node.write_value(ua.Variant(signed(1500, 3, P256SoftwareSigner.generate()), ua.VariantType.String))
                wait_for(lambda: _rejected(oracle).get("bad_signature") == 1, 10, "the forged reading to be refused")
                time.sleep(1)
        finally:
            server.stop()
    lease = floor.lease_state(name)
    assert (lease.last_counter, lease.earnings) == (1025, 25 * PRICE_PER_UNIT)
