"""Registration-time proof that a device key lives in a TPM: TPM2_Certify evidence from a software TPM, checked
against a trust anchor the tests configure (their own CA, as a machine maker would), and each way a forged or
borrowed bundle is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from eth_abi import encode
from eth_utils import keccak

from millchain.signers import sign_usage_report_digest, verify_usage_report_signature
from millchain.signers.tpm import (
    SENSITIVE_DATA_ORIGIN,
    SIGN,
    USER_WITH_AUTH,
    TpmSigner,
    create_loaded_key,
    create_storage_primary,
    tpm2_pytss,
)
from millchain.tpm.attest import (
    AttestationError,
    ProvisionedKey,
    TpmEvidence,
    certify,
    common_name,
    evidence_hash,
    load_trust_anchors,
    open_or_create_attestation_key,
    provision_tpm_key,
    verify_evidence,
)
from millchain.tpm.structures import parse_certify_info, parse_ecc_public
from millchain.tpm.swtpm import SoftwareTpm
from tests.tpm_fixtures import TestCa, chain_issuer, swtpm  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

MACHINE_ID = hashlib.sha256(b"machine 7").digest()


@dataclass(frozen=True)
class Maker:
    root: TestCa  # the trust anchor the machine maker configures
    attestation_ca: TestCa  # the intermediate that issues AK certificates


@pytest.fixture(scope="module")
def maker() -> Maker:
    root = TestCa.root()
    return Maker(root, root.intermediate())


@pytest.fixture(scope="module")
def provisioned(swtpm: SoftwareTpm, maker: Maker) -> Iterator[ProvisionedKey]:  # noqa: F811
    yield provision_tpm_key(
        swtpm.tcti,
        issue_ak_certificate=chain_issuer(maker.attestation_ca, maker.root),
        trust_anchors=[maker.root.cert],
        qualifying_data=MACHINE_ID,
        handle=0x81010030,
    )


def _refused(evidence: TpmEvidence, maker: Maker, match: str, **kwargs: object) -> None:
    with pytest.raises(AttestationError, match=match):
        verify_evidence(evidence, [maker.root.cert], **kwargs)  # type: ignore[arg-type]


def test_provisioned_key_is_attested_by_the_makers_chain(
    provisioned: ProvisionedKey,
    maker: Maker,
    swtpm: SoftwareTpm,  # noqa: F811
) -> None:
    attested = verify_evidence(provisioned.evidence, [maker.root.cert], expected_qualifying_data=MACHINE_ID)
    assert attested.public_key == provisioned.public_key
    assert attested.evidence_hash == provisioned.evidence_hash == evidence_hash(provisioned.evidence)
    assert "CN=TPM AK of machine 7" in attested.attester and "CN=Test Maker Root CA" in attested.anchor
    assert common_name(maker.root.cert) == "Test Maker Root CA"
    # The attested key is the one persisted at the handle: it signs reports that verify under it.
    with TpmSigner.open(swtpm.tcti, handle=0x81010030) as signer:
        assert signer.public_key == attested.public_key
        digest = b"\x42" * 32
        assert verify_usage_report_signature(attested.public_key, digest, sign_usage_report_digest(signer, digest))


def test_evidence_hash_is_keccak_of_the_abi_encoded_bundle_and_survives_json(provisioned: ProvisionedKey) -> None:
    e = provisioned.evidence
    fields = [e.device_public, e.certify_info, e.signature, e.ak_public, list(e.ak_certificates), e.qualifying_data]
    expected = keccak(encode(["bytes", "bytes", "bytes", "bytes", "bytes[]", "bytes"], fields))
    assert evidence_hash(e) == expected and len(expected) == 32
    again = TpmEvidence.from_json(json.loads(e.dumps()))
    assert again == e and evidence_hash(again) == provisioned.evidence_hash
    assert evidence_hash(replace(e, qualifying_data=b"other")) != provisioned.evidence_hash


def test_certify_info_names_the_device_key_and_carries_the_machine_id(provisioned: ProvisionedKey) -> None:
    info = parse_certify_info(provisioned.evidence.certify_info)
    device = parse_ecc_public(provisioned.evidence.device_public)
    assert info.name == device.name and info.extra_data == MACHINE_ID
    assert device.point == provisioned.public_key


def test_anchor_file_loads_and_an_unrelated_anchor_refuses_the_evidence(provisioned: ProvisionedKey) -> None:
    stranger = TestCa.root("Some Other Root CA")
    anchors = load_trust_anchors(stranger.cert.public_bytes(Encoding.PEM))
    with pytest.raises(AttestationError, match="not at a trust anchor"):
        verify_evidence(provisioned.evidence, anchors)
    with pytest.raises(AttestationError, match="no PEM certificate"):
        load_trust_anchors(b"not a certificate")


def test_lessee_cannot_pass_a_software_key_off_under_genuine_evidence(
    provisioned: ProvisionedKey, maker: Maker
) -> None:
    """A lessee who swaps in the public area of a key made in software (claiming the same attributes) changes the
    key's name, which is no longer what the TPM certified."""
    device = parse_ecc_public(provisioned.evidence.device_public)
    fake = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    raw = device.raw[: -(4 + len(device.x) + len(device.y))]
    raw += b"\x00\x20" + fake.x.to_bytes(32, "big") + b"\x00\x20" + fake.y.to_bytes(32, "big")
    assert parse_ecc_public(raw).object_attributes == device.object_attributes
    _refused(replace(provisioned.evidence, device_public=raw), maker, "certified the object named")


def test_tampered_certify_info_fails_the_ak_signature(provisioned: ProvisionedKey, maker: Maker) -> None:
    info = bytearray(provisioned.evidence.certify_info)
    info[-1] ^= 1
    _refused(replace(provisioned.evidence, certify_info=bytes(info)), maker, "does not verify")


def test_evidence_from_another_registration_is_refused(provisioned: ProvisionedKey, maker: Maker) -> None:
    other_machine = hashlib.sha256(b"machine 8").digest()
    _refused(provisioned.evidence, maker, "not 0x" + other_machine.hex(), expected_qualifying_data=other_machine)
    _refused(replace(provisioned.evidence, qualifying_data=other_machine), maker, "extra data is not")


def test_ak_certificate_for_another_key_is_refused(provisioned: ProvisionedKey, maker: Maker) -> None:
    """A CA-issued certificate for some other key does not vouch for the AK that signed the evidence."""
    other = maker.attestation_ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key())
    chain = (other.public_bytes(Encoding.DER), *provisioned.evidence.ak_certificates[1:])
    _refused(replace(provisioned.evidence, ak_certificates=chain), maker, "another key than the evidence's AK")


def test_expired_and_not_yet_valid_certificates_are_refused(provisioned: ProvisionedKey, maker: Maker) -> None:
    _refused(provisioned.evidence, maker, "is not valid at", at=dt.datetime.now(dt.UTC) + dt.timedelta(days=400))
    _refused(provisioned.evidence, maker, "is not valid at", at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


def test_ak_certificate_issued_by_a_non_ca_is_refused(provisioned: ProvisionedKey, maker: Maker) -> None:
    """An end-entity certificate of the maker cannot hand out AK certificates."""
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    not_a_ca = TestCa(leaf_key, maker.attestation_ca.issue(leaf_key.public_key(), "Some device", ca=False))
    ak_area = parse_ecc_public(provisioned.evidence.ak_public)
    ak_key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(ak_area.x, "big"), int.from_bytes(ak_area.y, "big"), ec.SECP256R1()
    ).public_key()
    chain = tuple(
        c.public_bytes(Encoding.DER) for c in (not_a_ca.issue(ak_key), not_a_ca.cert, maker.attestation_ca.cert)
    )
    _refused(replace(provisioned.evidence, ak_certificates=chain), maker, "is not a CA")


def test_genuine_tpm_evidence_for_an_exportable_key_is_refused(
    provisioned: ProvisionedKey,
    maker: Maker,
    swtpm: SoftwareTpm,  # noqa: F811
) -> None:
    """The TPM honestly certifies a key made without fixedTPM/fixedParent (one that could be duplicated out of
    it); the verifier reads the attributes from the certified name and refuses it as a device key."""
    with TpmSigner.open(swtpm.tcti, handle=0x81010030) as signer:
        esapi = signer.esapi
        parent = create_storage_primary(esapi)
        exportable = create_loaded_key(esapi, parent, SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH | SIGN)
        ak, ak_public = open_or_create_attestation_key(signer)
        public, _, _ = esapi.read_public(exportable)
        t = tpm2_pytss()
        attest, signature = esapi.certify(exportable, ak, t.TPM2B_DATA(MACHINE_ID), certify_scheme())
        esapi.flush_context(exportable)
        esapi.flush_context(parent)
    ecdsa = signature.signature.ecdsa
    evidence = replace(
        provisioned.evidence,
        device_public=public.publicArea.marshal(),
        certify_info=bytes(attest),
        signature=bytes(ecdsa.signatureR).rjust(32, b"\x00") + bytes(ecdsa.signatureS).rjust(32, b"\x00"),
        ak_public=ak_public,
    )
    _refused(evidence, maker, "lacks fixedTPM, fixedParent")


def test_certify_through_the_module_gives_evidence_the_verifier_accepts(
    provisioned: ProvisionedKey,
    maker: Maker,
    swtpm: SoftwareTpm,  # noqa: F811
) -> None:
    """Certifying again (a fresh nonce, the same persisted AK) gives new evidence for the same key."""
    with TpmSigner.open(swtpm.tcti, handle=0x81010030) as signer:
        ak, ak_public = open_or_create_attestation_key(signer)
        assert ak_public == provisioned.evidence.ak_public  # the AK was persisted, not made anew
        info, signature = certify(signer, ak, b"fresh nonce")
    evidence = replace(provisioned.evidence, certify_info=info, signature=signature, qualifying_data=b"fresh nonce")
    assert verify_evidence(evidence, [maker.root.cert]).public_key == provisioned.public_key
    assert evidence_hash(evidence) != provisioned.evidence_hash


def certify_scheme() -> object:
    t = tpm2_pytss()
    scheme = t.TPMT_SIG_SCHEME(scheme=t.TPM2_ALG.ECDSA)
    scheme.details.any.hashAlg = t.TPM2_ALG.SHA256
    return scheme
