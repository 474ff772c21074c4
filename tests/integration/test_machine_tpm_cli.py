"""`millchain machine register | rotate-key --tpm` and `machine show --evidence`, through the console script on the
embedded chain with a software TPM: the key is created and certified in the TPM, the evidence is checked against
the maker's trust anchor before anything is registered, the registry records the bundle's hash, and anyone holding
the bundle and the anchor can later tell whether the key is hardware-attested and by whom."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from millchain.errors import ContractRevert
from millchain.identity import MachineRegistryClient, p256_key_id
from millchain.session import Session
from millchain.signers import sign_usage_report_digest, verify_usage_report_signature
from millchain.signers.tpm import TpmSigner
from millchain.tpm.attest import TpmEvidence, evidence_hash
from millchain.tpm.swtpm import SoftwareTpm
from millchain.types import machine_id
from tests.cli_runner import run_cli_on
from tests.tpm_fixtures import TestCa, swtpm  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

Cli = Callable[..., tuple[int, str, str]]


@dataclass(frozen=True)
class MakerFiles:
    anchor: Path  # the root the maker configures as trust anchor
    ca_cert: Path  # the factory's attestation CA (an intermediate under the root)
    ca_key: Path
    stranger_anchor: Path  # a root the factory CA does not chain to


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def maker(tmp_path_factory: pytest.TempPathFactory) -> MakerFiles:
    d = tmp_path_factory.mktemp("maker")
    root = TestCa.root("Maker Root CA")
    factory = root.intermediate("Maker Factory Attestation CA")
    return MakerFiles(
        anchor=_pem(d / "anchor.pem", root.cert.public_bytes(Encoding.PEM)),
        ca_cert=_pem(d / "ca.pem", factory.cert.public_bytes(Encoding.PEM)),
        ca_key=_pem(d / "ca.key", factory.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())),
        stranger_anchor=_pem(d / "stranger.pem", TestCa.root("Some Other Root").cert.public_bytes(Encoding.PEM)),
    )


@pytest.fixture
def cli(local: Session, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return run_cli_on(local, capsys, monkeypatch)


def _tpm_args(tpm: SoftwareTpm, maker: MakerFiles, handle: int, out: Path) -> list[str]:
    return ["--tpm", tpm.tcti, "--tpm-handle", hex(handle), "--maker-ca-cert", str(maker.ca_cert),
            "--maker-ca-key", str(maker.ca_key), "--trust-anchor", str(maker.anchor),
            "--evidence-out", str(out)]  # fmt: skip


def test_register_tpm_attests_registers_and_show_names_attester_and_anchor(
    cli: Cli,
    local: Session,
    swtpm: SoftwareTpm,  # noqa: F811
    maker: MakerFiles,
    tmp_path: Path,
) -> None:
    out = tmp_path / "evidence.json"
    code, stdout, err = cli("machine", "register", "tpm-cli-01", *_tpm_args(swtpm, maker, 0x81010020, out), "--json")
    assert code == 0, err
    registered = json.loads(stdout)
    bundle = TpmEvidence.from_json(json.loads(out.read_text()))
    with TpmSigner.open(swtpm.tcti, handle=0x81010020) as signer:
        key = signer.public_key
        digest = hashlib.sha256(b"a usage report digest").digest()
        assert verify_usage_report_signature(key, digest, sign_usage_report_digest(signer, digest))
    assert (registered["key_type"], registered["signer"], registered["p256_public_key"],
            registered["evidence_hash"]) == ("p256", p256_key_id(key), "0x" + key.hex(),
                                             "0x" + evidence_hash(bundle).hex())  # fmt: skip
    assert bundle.qualifying_data == bytes(machine_id("tpm-cli-01"))

    code, stdout, err = cli("machine", "show", "tpm-cli-01", "--evidence", str(out),
                            "--trust-anchor", str(maker.anchor), "--json")  # fmt: skip
    assert code == 0, err
    shown = json.loads(stdout)
    assert (shown["hardware_attested"], shown["attester"], shown["anchor"]) == (
        True,
        "TPM AK of machine tpm-cli-01",
        "Maker Root CA",
    )
    code, stdout, _ = cli("machine", "show", "tpm-cli-01", "--evidence", str(out), "--trust-anchor", str(maker.anchor))
    assert code == 0
    assert "hardware attested: yes — key certified by 'TPM AK of machine tpm-cli-01' under trust anchor " \
           "'Maker Root CA'" in stdout  # fmt: skip

    # Another verifier trusting only some other root does not take the maker's word.
    code, stdout, _ = cli("machine", "show", "tpm-cli-01", "--evidence", str(out),
                          "--trust-anchor", str(maker.stranger_anchor), "--json")  # fmt: skip
    assert code == 1
    shown = json.loads(stdout)
    assert (
        shown["hardware_attested"] is False
        and "not at a trust anchor ('CN=Some Other Root" in shown["attestation_error"]
    )


def test_register_tpm_refuses_before_registering_when_the_evidence_does_not_reach_the_anchor(
    cli: Cli,
    local: Session,
    swtpm: SoftwareTpm,  # noqa: F811
    maker: MakerFiles,
    tmp_path: Path,
) -> None:
    out = tmp_path / "evidence.json"
    args = _tpm_args(swtpm, maker, 0x81010021, out)
    args[args.index("--trust-anchor") + 1] = str(maker.stranger_anchor)
    code, _, err = cli("machine", "register", "tpm-cli-02", *args)
    assert code == 1
    assert "not at a trust anchor ('CN=Some Other Root" in err
    assert not out.exists()
    with pytest.raises(ContractRevert, match="MachineRegistryUnknownMachine"):
        MachineRegistryClient(local).get(machine_id("tpm-cli-02"))


def test_rotate_key_tpm_records_the_new_bundle_and_the_old_one_no_longer_matches(
    cli: Cli,
    local: Session,
    swtpm: SoftwareTpm,  # noqa: F811
    maker: MakerFiles,
    tmp_path: Path,
) -> None:
    first, second, foreign = tmp_path / "first.json", tmp_path / "second.json", tmp_path / "foreign.json"
    assert cli("machine", "register", "tpm-cli-03", *_tpm_args(swtpm, maker, 0x81010022, first))[0] == 0
    assert cli("machine", "register", "tpm-cli-04", *_tpm_args(swtpm, maker, 0x81010023, foreign))[0] == 0
    code, stdout, err = cli("machine", "rotate-key", "tpm-cli-03", *_tpm_args(swtpm, maker, 0x81010024, second),
                            "--json")  # fmt: skip
    assert code == 0, err
    rotated = json.loads(stdout)
    with TpmSigner.open(swtpm.tcti, handle=0x81010024) as signer:
        assert rotated["signer"] == p256_key_id(signer.public_key)
    anchor = ["--trust-anchor", str(maker.anchor)]
    assert cli("machine", "show", "tpm-cli-03", "--evidence", str(second), *anchor)[0] == 0
    code, stdout, _ = cli("machine", "show", "tpm-cli-03", "--evidence", str(first), *anchor)
    recorded = "0x" + evidence_hash(TpmEvidence.from_json(json.loads(second.read_text()))).hex()
    assert code == 1 and f"but the registry recorded {recorded} for the current key" in stdout
    # A genuine bundle of another machine is refused too (its hash is not this machine's record).
    code, stdout, _ = cli("machine", "show", "tpm-cli-03", "--evidence", str(foreign), *anchor)
    assert code == 1 and "hardware attested: NO" in stdout


def test_tpm_option_needs_anchor_evidence_out_and_exactly_one_ak_certificate_source(
    cli: Cli,
    swtpm: SoftwareTpm,  # noqa: F811
    maker: MakerFiles,
    tmp_path: Path,
) -> None:
    code, _, err = cli("machine", "register", "tpm-cli-05", "--tpm", swtpm.tcti, "--p256-public-key", "11" * 64)
    assert code == 1 and "give one of --signer ADDRESS (secp256k1), --p256-public-key HEX" in err
    code, _, err = cli("machine", "register", "tpm-cli-05", "--tpm", swtpm.tcti, "--trust-anchor", str(maker.anchor))
    assert code == 1 and "--tpm needs --trust-anchor PEM (to check the evidence) and --evidence-out FILE" in err
    code, _, err = cli("machine", "register", "tpm-cli-05", "--tpm", swtpm.tcti, "--trust-anchor", str(maker.anchor),
                       "--evidence-out", str(tmp_path / "e.json"), "--maker-ca-cert", str(maker.ca_cert))  # fmt: skip
    assert code == 1 and "either --maker-ca-cert PEM with --maker-ca-key PEM" in err
