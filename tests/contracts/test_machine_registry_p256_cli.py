"""`millchain machine register | rotate-key | show` with P-256 device keys, through the console script on the
embedded chain: the key given as hex (x ‖ y or 04 ‖ x ‖ y), its key id as the machine's signer, the evidence hash
and whether `show` calls the key hardware-attested."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from eth_utils import keccak

from millchain.identity import MachineRegistryClient, p256_key_id
from millchain.session import Session
from millchain.signers.software import P256SoftwareSigner
from millchain.types import machine_id
from tests.cli_runner import run_cli_on

EVIDENCE = "0x" + keccak(text="evidence bundle").hex()


@pytest.fixture
def cli(local: Session, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str, str]]:
    return run_cli_on(local, capsys, monkeypatch)


def test_register_with_a_p256_public_key_shows_its_type_key_id_and_attestation(
    cli: Callable[..., tuple[int, str, str]], local: Session,
) -> None:
    key = P256SoftwareSigner.generate().public_key
    code, out, err = cli("machine", "register", "p256-cli-01", "--p256-public-key", "04" + key.hex(),
                         "--evidence-hash", EVIDENCE, "--json")
    assert code == 0, err
    machine = json.loads(out)
    assert (machine["key_type"], machine["signer"], machine["p256_public_key"], machine["evidence_hash"],
            machine["hardware_attested"]) == ("p256", p256_key_id(key), "0x" + key.hex(), EVIDENCE, True)
    code, out, _ = cli("machine", "show", "p256-cli-01")
    assert code == 0
    assert "p256" in out and "hardware attested" in out and "yes" in out
    assert MachineRegistryClient(local).get(machine_id("p256-cli-01")).signer == p256_key_id(key)


def test_rotate_key_to_a_p256_key_without_evidence_is_not_hardware_attested(
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    device = "0x" + "ab" * 20
    assert cli("machine", "register", "p256-cli-02", "--signer", device)[0] == 0
    key = P256SoftwareSigner.generate().public_key
    code, out, err = cli("machine", "rotate-key", "p256-cli-02", "--p256-public-key", key.hex(), "--json")
    assert code == 0, err
    machine = json.loads(out)
    assert (machine["key_type"], machine["signer"], machine["hardware_attested"]) == (
        "p256", p256_key_id(key), False)
    code, out, _ = cli("machine", "show", "p256-cli-02")
    assert "no (no attestation evidence registered)" in out


def test_register_needs_exactly_one_key_and_a_well_formed_p256_key(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = cli("machine", "register", "p256-cli-03")
    assert code == 1 and "give one of --signer ADDRESS (secp256k1), --p256-public-key HEX (P-256) or --tpm TCTI" in err
    code, _, err = cli("machine", "register", "p256-cli-03", "--p256-public-key", "12" * 63)
    assert code == 1 and "got 63 bytes" in err
    code, _, err = cli("machine", "register", "p256-cli-03", "--p256-public-key", "12" * 64)
    assert code == 1 and err.startswith("error: MachineRegistryInvalidP256Key(")
