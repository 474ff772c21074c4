"""The signer interface and its software backends: layouts, low s, the UsageReport rule for P-256 (ECDSA over
sha256(eip712Digest)), agreement with typed_data's signer and with P256VERIFY, and keys kept out of sight."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from eth_account import Account
from pydantic import ValidationError

from millchain.chain import write_keystore
from millchain.p256_precompile import P256_N, VALID, p256_verify
from millchain.signers import (
    Signer,
    SignerError,
    is_low_s,
    normalize_low_s,
    p256verify_input,
    sign_usage_report,
    sign_usage_report_digest,
    usage_report_p256_hash,
    verify_usage_report_signature,
)
from millchain.signers.config import SignerConfig, open_signer
from millchain.signers.software import P256SoftwareSigner, Secp256k1SoftwareSigner
from millchain.typed_data import (
    DeviceSigner,
    SignedUsageReport,
    UsageReport,
    UsageReportHasher,
    lease_domain,
    recover_signer,
)

HASHER = UsageReportHasher(lease_domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"))
REPORT = UsageReport(lease_id=7, machine_id=b"\x11" * 32, counter=1234, runtime_seconds=3600, timestamp=1_700_000_000)
K1_KEY = b"\x07" * 32
P256_KEY = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())


def _cryptography_verifies(public_key: bytes, hash32: bytes, signature: bytes) -> bool:
    key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(public_key[:32], "big"), int.from_bytes(public_key[32:], "big"), ec.SECP256R1()
    ).public_key()
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, hash32, ec.ECDSA(Prehashed(hashes.SHA256())))
    except Exception:
        return False
    return True


def test_every_backend_satisfies_the_signer_protocol() -> None:
    assert isinstance(Secp256k1SoftwareSigner(K1_KEY), Signer)
    assert isinstance(P256SoftwareSigner(P256_KEY), Signer)


def test_secp256k1_signer_gives_typed_data_signers_report_signature() -> None:
    signer = Secp256k1SoftwareSigner(K1_KEY)
    legacy = DeviceSigner(K1_KEY, HASHER).sign(REPORT)
    signature = sign_usage_report_digest(signer, HASHER.digest(REPORT))
    assert signature == legacy.r + legacy.vs
    assert signer.address == DeviceSigner(K1_KEY, HASHER).address
    signed = SignedUsageReport(report=REPORT, r=signature[:32], vs=signature[32:])
    assert recover_signer(HASHER, signed) == Account.from_key(K1_KEY).address == signer.address


def test_p256_report_signature_is_ecdsa_over_sha256_of_the_eip712_digest() -> None:
    signer = P256SoftwareSigner(P256_KEY)
    digest = HASHER.digest(REPORT)
    signature = sign_usage_report_digest(signer, digest)
    assert len(signature) == 64 and is_low_s(signature)
    assert usage_report_p256_hash(digest) == hashlib.sha256(digest).digest()
    assert _cryptography_verifies(signer.public_key, hashlib.sha256(digest).digest(), signature)
    assert not _cryptography_verifies(signer.public_key, digest, signature)  # not over the raw digest
    assert p256_verify(p256verify_input(hashlib.sha256(digest).digest(), signature, signer.public_key)) == VALID
    assert verify_usage_report_signature(signer.public_key, digest, signature)


def test_p256_signer_always_returns_low_s() -> None:
    signer = P256SoftwareSigner(P256_KEY)
    # ECDSA's nonce is random, so about half of raw signatures are high-s; 40 draws all come back low.
    assert all(is_low_s(signer.sign(hashlib.sha256(bytes([i])).digest())) for i in range(40))


def test_high_s_twin_verifies_in_the_precompile_but_not_as_a_report_signature() -> None:
    signer = P256SoftwareSigner(P256_KEY)
    digest = HASHER.digest(REPORT)
    low = sign_usage_report_digest(signer, digest)
    high = low[:32] + (P256_N - int.from_bytes(low[32:], "big")).to_bytes(32, "big")
    assert not is_low_s(high)
    assert p256_verify(p256verify_input(usage_report_p256_hash(digest), high, signer.public_key)) == VALID
    assert not verify_usage_report_signature(signer.public_key, digest, high)
    assert normalize_low_s(high) == low


def test_report_signature_of_another_report_does_not_verify() -> None:
    signer = P256SoftwareSigner(P256_KEY)
    signature = sign_usage_report_digest(signer, HASHER.digest(REPORT))
    other = REPORT.model_copy(update={"counter": REPORT.counter + 1})
    assert not verify_usage_report_signature(signer.public_key, HASHER.digest(other), signature)


@pytest.mark.parametrize("signer", [Secp256k1SoftwareSigner(K1_KEY), P256SoftwareSigner(P256_KEY)],
                         ids=["secp256k1", "p256"])  # fmt: skip
def test_digest_of_the_wrong_length_is_refused(signer: Signer) -> None:
    with pytest.raises(SignerError, match="32 bytes, got 31"):
        signer.sign(b"\x00" * 31)


def test_normalize_refuses_s_out_of_range() -> None:
    with pytest.raises(SignerError, match=r"outside \[1, n-1\]"):
        normalize_low_s(b"\x01" * 32 + P256_N.to_bytes(32, "big"))


def test_p256_key_file_is_encrypted_owner_only_and_round_trips(tmp_path: Path) -> None:
    signer = P256SoftwareSigner(P256_KEY)
    path = tmp_path / "device.pem"
    signer.save(path, b"correct horse")
    text = path.read_text()
    assert "ENCRYPTED PRIVATE KEY" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = P256_KEY.private_numbers().private_value.to_bytes(32, "big")
    assert secret not in path.read_bytes() and secret.hex() not in text
    assert P256SoftwareSigner.load(path, b"correct horse").public_key == signer.public_key


def test_p256_key_is_never_written_without_a_password_or_over_a_file(tmp_path: Path) -> None:
    signer = P256SoftwareSigner(P256_KEY)
    with pytest.raises(SignerError, match="without a password"):
        signer.save(tmp_path / "a.pem", b"")
    (tmp_path / "b.pem").write_text("keep me")
    with pytest.raises(SignerError, match="refusing to overwrite"):
        signer.save(tmp_path / "b.pem", b"pw")
    assert (tmp_path / "b.pem").read_text() == "keep me"


def test_errors_and_reprs_never_show_the_private_key(tmp_path: Path) -> None:
    secret_hex = P256_KEY.private_numbers().private_value.to_bytes(32, "big").hex()
    path = tmp_path / "device.pem"
    P256SoftwareSigner(P256_KEY).save(path, b"right")
    with pytest.raises(SignerError) as wrong:
        P256SoftwareSigner.load(path, b"wrong")
    assert "wrong password" in str(wrong.value) and "BEGIN" not in str(wrong.value)
    assert secret_hex not in repr(P256SoftwareSigner(P256_KEY))
    assert K1_KEY.hex() not in repr(Secp256k1SoftwareSigner(K1_KEY))
    with pytest.raises(SignerError) as bad:
        Secp256k1SoftwareSigner(b"\x00" * 32)
    assert "00" * 32 not in str(bad.value)


def test_p256_signer_refuses_a_key_on_another_curve() -> None:
    with pytest.raises(SignerError, match="secp256r1"):
        P256SoftwareSigner(ec.generate_private_key(ec.SECP256K1()))


def test_sign_usage_report_equals_signing_its_digest() -> None:
    signer = P256SoftwareSigner(P256_KEY)
    signature = sign_usage_report(signer, HASHER, REPORT)
    assert verify_usage_report_signature(signer.public_key, HASHER.digest(REPORT), signature)
    k1 = Secp256k1SoftwareSigner(K1_KEY)
    assert sign_usage_report(k1, HASHER, REPORT) == sign_usage_report_digest(k1, HASHER.digest(REPORT))


def test_config_opens_each_software_backend_from_its_encrypted_file(tmp_path: Path) -> None:
    P256SoftwareSigner(P256_KEY).save(tmp_path / "p256.pem", b"pw")
    write_keystore(tmp_path / "k1.json", Account.from_key(K1_KEY), "pw")
    p256 = open_signer(SignerConfig(backend="software-p256", key_file=tmp_path / "p256.pem"), "pw")
    k1 = open_signer(SignerConfig(backend="software-secp256k1", key_file=tmp_path / "k1.json"), "pw")
    assert (p256.key_type, p256.public_key) == ("p256", P256SoftwareSigner(P256_KEY).public_key)
    assert (k1.key_type, k1.public_key) == ("secp256k1", Secp256k1SoftwareSigner(K1_KEY).public_key)
    with pytest.raises(SignerError, match="needs its password"):
        open_signer(SignerConfig(backend="software-p256", key_file=tmp_path / "p256.pem"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"backend": "tpm"}, "needs tcti"),
        ({"backend": "software-p256"}, "needs key_file"),
        ({"backend": "tpm", "tcti": "device:/dev/tpmrm0", "handle": 0x80000000}, "greater than or equal"),
        ({"backend": "hsm", "key_file": "k"}, "software-secp256k1"),
    ],
)
def test_config_names_what_is_missing_or_wrong(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SignerConfig.model_validate(fields)
