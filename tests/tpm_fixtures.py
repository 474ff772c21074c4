"""A software TPM per test module and a test certificate authority, for the TPM signer and attestation tests.

swtpm's own certificates are self-made, so the tests play the machine maker: their CA is the trust anchor and it
issues the attestation key's certificate (in production the maker's enrolment service does, after checking the AK
against the TPM's endorsement key; docs/tpm.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from millchain.tpm.attest import AkCertificateIssuer
from millchain.tpm.swtpm import SoftwareTpm


@pytest.fixture(scope="module")
def swtpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftwareTpm]:
    """A fresh software TPM on free ports, its state in a temp dir; stopped after the module."""
    tpm = SoftwareTpm(tmp_path_factory.mktemp("swtpm")).start()
    try:
        yield tpm
    finally:
        tpm.stop()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Machine Maker"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])  # fmt: skip


@dataclass
class TestCa:
    """A CA certificate and its key; ``issue`` signs certificates for other keys."""

    __test__ = False  # not a test class, despite the name
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def root(cls, cn: str = "Test Maker Root CA", *, days: int = 3650) -> TestCa:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _build(_name(cn), _name(cn), key.public_key(), key, ca=True, days=days)
        return cls(key, cert)

    def intermediate(self, cn: str = "Test Maker Attestation CA") -> TestCa:
        key = ec.generate_private_key(ec.SECP256R1())
        return TestCa(key, _build(_name(cn), self.cert.subject, key.public_key(), self.key, ca=True, days=365))

    def issue(self, public_key: ec.EllipticCurvePublicKey, cn: str = "TPM AK of machine 7", *, ca: bool = False,
              days: int = 365, start: dt.datetime | None = None) -> x509.Certificate:  # fmt: skip
        return _build(_name(cn), self.cert.subject, public_key, self.key, ca=ca, days=days, start=start)


def _build(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
           signing_key: ec.EllipticCurvePrivateKey, *, ca: bool, days: int,
           start: dt.datetime | None = None) -> x509.Certificate:  # fmt: skip
    start = start or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signing_key, hashes.SHA256())
    )


def chain_issuer(*chain: TestCa) -> AkCertificateIssuer:
    """An ``issue_ak_certificate`` callback: the AK certificate by ``chain[0]`` plus the CA certificates above it
    except the root (the anchor)."""

    def issue(ak: ec.EllipticCurvePublicKey) -> Sequence[x509.Certificate]:
        return [chain[0].issue(ak), *(ca.cert for ca in chain[:-1])]

    return issue
