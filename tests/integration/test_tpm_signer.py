"""The TPM backend against a software TPM the tests start: a non-exportable P-256 key created in the TPM, found
again by its persistent handle after the TPM restarts, whose UsageReport signatures verify with `cryptography`,
with the embedded chain's P256VERIFY and with anvil's."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils import to_checksum_address
from web3 import Web3

from millchain.chain import Chain, connect
from millchain.p256_precompile import P256VERIFY_ADDRESS, VALID
from millchain.signers import (
    Signer,
    SignerError,
    is_low_s,
    p256verify_input,
    sign_usage_report_digest,
    usage_report_p256_hash,
    verify_usage_report_signature,
)
from millchain.signers.config import SignerConfig, open_signer
from millchain.signers.tpm import (
    DEVICE_KEY_ATTRIBUTES,
    FIXED_PARENT,
    FIXED_TPM,
    SENSITIVE_DATA_ORIGIN,
    SIGN,
    USER_WITH_AUTH,
    TpmSigner,
    WrappedTpmSigner,
    create_loaded_key,
    create_storage_primary,
    evict,
    tpm2_pytss,
)
from millchain.tpm.swtpm import SoftwareTpm
from millchain.typed_data import UsageReport, UsageReportHasher, lease_domain
from tests.p256_cases import anvil_chain  # noqa: F401 - fixture
from tests.tpm_fixtures import swtpm  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

HASHER = UsageReportHasher(lease_domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"))
REPORT = UsageReport(lease_id=3, machine_id=b"\x22" * 32, counter=99, runtime_seconds=60, timestamp=1_700_000_000)
PRECOMPILE = to_checksum_address(P256VERIFY_ADDRESS)


@pytest.fixture(scope="module")
def signer(swtpm: SoftwareTpm) -> Iterator[TpmSigner]:  # noqa: F811 - the imported fixture
    with TpmSigner.create(swtpm.tcti, handle=0x81010020) as tpm_signer:
        yield tpm_signer


def _p256verify_call(chain: Chain, signer: Signer, signature: bytes) -> bytes:
    data = p256verify_input(usage_report_p256_hash(HASHER.digest(REPORT)), signature, signer.public_key)
    return bytes(chain.w3.eth.call({"to": PRECOMPILE, "data": Web3.to_hex(data)}))


def test_tpm_key_is_a_non_exportable_p256_signing_key(signer: TpmSigner) -> None:
    assert isinstance(signer, Signer) and signer.key_type == "p256" and len(signer.public_key) == 64
    t = tpm2_pytss()
    with signer.loaded_key() as key:
        public, _, _ = signer.esapi.read_public(key)
    attributes = int(public.publicArea.objectAttributes)
    assert attributes & DEVICE_KEY_ATTRIBUTES == DEVICE_KEY_ATTRIBUTES
    assert int(public.publicArea.parameters.eccDetail.curveID) == int(t.TPM2_ECC.NIST_P256)


def test_tpm_report_signature_verifies_with_cryptography_and_the_embedded_precompile(signer: TpmSigner) -> None:
    digest = HASHER.digest(REPORT)
    signature = sign_usage_report_digest(signer, digest)
    assert is_low_s(signature)
    assert verify_usage_report_signature(signer.public_key, digest, signature)  # OpenSSL + the EIP-7951 checks
    assert _p256verify_call(connect("local"), signer, signature) == VALID


def test_tpm_report_signature_verifies_on_anvils_0x100(signer: TpmSigner, anvil_chain: Chain) -> None:  # noqa: F811
    signature = sign_usage_report_digest(signer, HASHER.digest(REPORT))
    assert _p256verify_call(anvil_chain, signer, signature) == VALID
    tampered = signature[:32] + bytes([signature[32] ^ 0x01]) + signature[33:]  # s changed, whatever its first byte
    assert _p256verify_call(anvil_chain, signer, tampered) == b""


def test_key_survives_a_restart_of_the_tpm_and_is_opened_by_handle(tmp_path: Path) -> None:
    digest = HASHER.digest(REPORT)
    with SoftwareTpm(tmp_path / "tpm") as tpm, TpmSigner.create(tpm.tcti) as created:
        public_key = created.public_key
    with SoftwareTpm(tmp_path / "tpm") as tpm, TpmSigner.open(tpm.tcti) as reopened:  # a power cycle of the box
        assert reopened.public_key == public_key
        assert verify_usage_report_signature(public_key, digest, sign_usage_report_digest(reopened, digest))
        evict(tpm.tcti, reopened.handle)
        with pytest.raises(SignerError, match="no usable key at persistent handle 0x81010010"):
            TpmSigner.open(tpm.tcti)


def test_create_refuses_to_replace_a_key_at_an_occupied_handle(signer: TpmSigner, swtpm: SoftwareTpm) -> None:  # noqa: F811
    with pytest.raises(SignerError, match="0x81010020 is already in use"):
        TpmSigner.create(swtpm.tcti, handle=0x81010020)
    with TpmSigner.open(swtpm.tcti, handle=0x81010020) as again:
        assert again.public_key == signer.public_key


def test_open_refuses_an_exportable_key_posing_as_a_device_key(swtpm: SoftwareTpm) -> None:  # noqa: F811
    """A gateway operator who persists a duplicable key (no fixedTPM/fixedParent, so it could be copied out of
    the TPM) at the device key's handle gets no signer from it."""
    with TpmSigner.create(swtpm.tcti, handle=0x81010021) as any_signer:
        esapi = any_signer.esapi
        t = tpm2_pytss()
        parent = create_storage_primary(esapi)
        exportable = create_loaded_key(esapi, parent, SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | SIGN)
        esapi.evict_control(t.ESYS_TR.OWNER, exportable, 0x81010022)
        esapi.flush_context(exportable)
        esapi.flush_context(parent)
    with pytest.raises(SignerError, match="needs fixedTPM, fixedParent") as refused:
        TpmSigner.open(swtpm.tcti, handle=0x81010022)
    assert f"{SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | SIGN:#010x}" in str(refused.value)
    assert not (SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | SIGN) & (FIXED_TPM | FIXED_PARENT)


def test_handles_outside_the_persistent_range_are_refused(swtpm: SoftwareTpm) -> None:  # noqa: F811
    with pytest.raises(SignerError, match=r"outside 0x81000000\.\.0x81ffffff"):
        TpmSigner.open(swtpm.tcti, handle=0x80000001)


def test_config_opens_the_tpm_key_by_handle(signer: TpmSigner, swtpm: SoftwareTpm) -> None:  # noqa: F811
    opened = open_signer(SignerConfig(backend="tpm", tcti=swtpm.tcti, handle=0x81010020))
    assert isinstance(opened, TpmSigner) and opened.public_key == signer.public_key
    opened.close()


def test_wrapped_keys_for_many_machines_sign_from_files_and_survive_a_restart(tmp_path: Path) -> None:
    """A gateway holding more machines' keys than a TPM has persistent slots keeps each as a TPM-wrapped file."""
    digest = HASHER.digest(REPORT)
    paths = [tmp_path / "keys" / f"machine-{i}.tpmkey" for i in range(12)]
    with SoftwareTpm(tmp_path / "tpm") as tpm:
        created = [WrappedTpmSigner.create(tpm.tcti, path=p) for p in paths]
        public_keys = [s.public_key for s in created]
        for s in created:
            s.close()
    assert len(set(public_keys)) == 12
    record = json.loads(paths[0].read_text())
    assert stat.S_IMODE(paths[0].stat().st_mode) == 0o600 and set(record) == {"format", "parent", "public", "private"}
    with SoftwareTpm(tmp_path / "tpm") as tpm:  # restart: nothing of the 12 keys was left in the TPM but the SRK
        for path, public_key in zip(paths, public_keys, strict=True):
            with open_signer(SignerConfig(backend="tpm", tcti=tpm.tcti, key_file=path)) as signer:
                assert isinstance(signer, WrappedTpmSigner) and signer.public_key == public_key
                assert verify_usage_report_signature(public_key, digest, sign_usage_report_digest(signer, digest))
        with pytest.raises(SignerError, match="refusing to overwrite"):
            WrappedTpmSigner.create(tpm.tcti, path=paths[0])


def test_wrapped_key_is_useless_to_another_tpm(tmp_path: Path) -> None:
    """A lessee who copies the key file off the gateway has a blob only that gateway's TPM can load."""
    path = tmp_path / "machine.tpmkey"
    with SoftwareTpm(tmp_path / "gateway-tpm") as tpm:
        WrappedTpmSigner.create(tpm.tcti, path=path).close()
    with SoftwareTpm(tmp_path / "other-tpm") as other, pytest.raises(SignerError, match="another TPM's storage key"):
        WrappedTpmSigner.open(other.tcti, path=path)
