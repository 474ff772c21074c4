"""The device-key vault: one scrypt derivation per start, bound to each keystore, never weaker than one."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account

from millchain.errors import ConfigError
from oracle import keyvault

PASSWORD = "device-secret"


def keystores(tmp_path: Path, count: int) -> tuple[dict[str, Path], dict[str, bytes]]:
    paths, keys = {}, {}
    for i in range(count):
        account = Account.create()
        path = tmp_path / f"m-{i}.json"
        path.write_text(json.dumps(Account.encrypt(account.key, PASSWORD, kdf="pbkdf2", iterations=1024)))
        paths[f"m-{i}"], keys[f"m-{i}"] = path, bytes(account.key)
    return paths, keys


def test_a_second_start_reads_every_key_from_the_vault_and_none_from_its_keystore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, keys = keystores(tmp_path, 3)
    vault = tmp_path / "outbox.keys"
    assert keyvault.unlock(vault, paths, PASSWORD) == keys
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600
    assert all(key.hex() not in vault.read_text() for key in keys.values())  # encrypted, not in clear

    def no_keystores(path: Path, password: str | None) -> object:
        raise AssertionError(f"{path} was decrypted although the vault holds it")

    monkeypatch.setattr("millchain.chain.load_keystore", no_keystores)
    assert keyvault.unlock(vault, paths, PASSWORD) == keys


def test_a_changed_keystore_is_read_again_and_a_wrong_password_opens_nothing(tmp_path: Path) -> None:
    paths, keys = keystores(tmp_path, 2)
    vault = tmp_path / "outbox.keys"
    keyvault.unlock(vault, paths, PASSWORD)
    rotated = Account.create()
    paths["m-1"].write_text(json.dumps(Account.encrypt(rotated.key, PASSWORD, kdf="pbkdf2", iterations=1024)))
    assert keyvault.unlock(vault, paths, PASSWORD)["m-1"] == bytes(rotated.key)
    # Another password: the vault does not open (authenticated), and the keystores refuse it too.
    with pytest.raises(ConfigError, match="cannot unlock keystore"):
        keyvault.unlock(vault, paths, "not-the-password")
    assert keyvault.unlock(vault, paths, PASSWORD)["m-0"] == keys["m-0"]


def test_the_vault_costs_what_one_keystore_costs_to_brute_force() -> None:
    keystore = {"n": 2**18, "r": 1, "p": 8}  # eth-account's scrypt defaults
    assert 128 * keystore["r"] * keystore["n"] == 128 * keyvault.SCRYPT_R * keyvault.SCRYPT_N
    assert keystore["n"] * keystore["r"] * keystore["p"] == keyvault.SCRYPT_N * keyvault.SCRYPT_R * keyvault.SCRYPT_P


def test_a_prefetched_derivation_is_the_one_unlock_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths, keys = keystores(tmp_path, 2)
    vault = tmp_path / "outbox.keys"
    keyvault.unlock(vault, paths, PASSWORD)
    keyvault.prefetch(vault, PASSWORD)
    calls = []
    real = keyvault._scrypt
    monkeypatch.setattr(keyvault, "_scrypt", lambda *a: calls.append(a) or real(*a))
    assert keyvault.unlock(vault, paths, PASSWORD) == keys
    assert calls == []  # the derivation came from the prefetch thread, started before the patch
