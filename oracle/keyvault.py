"""The device-key vault: every gateway machine's key, decrypted once from its keystore and kept in one file
encrypted under one scrypt derivation, so a restart costs one key derivation instead of one per machine.

Keystores stay the source of truth and are never weakened: the vault is derived from them with the same
password, its scrypt costs what an eth-account keystore's does (the same memory, 32 MB, and the same work,
n x r x p = 2**21: n = 2**15, r = 8, p = 8, since OpenSSL's scrypt refuses r = 1 with n = 2**18), it is
authenticated (AES-256-GCM: a changed byte fails the whole file), written 0600 next to the outbox, and bound to
each keystore by a SHA-256 of the keystore file: a keystore that changed, was added or was removed is read
again from itself and the vault is rewritten. A vault that cannot be opened (another password, damaged) is
ignored and rebuilt from the keystores. Deleting it costs one slow start, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("oracle.keyvault")

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 8
"""As hard to brute-force as one eth-account keystore (n = 2**18, r = 1, p = 8): 128 x r x n bytes of memory and
n x r x p block mixes, the same for both."""
VERSION = 1


_prefetched: dict[tuple[str, bytes, int, int, int], Future[bytes]] = {}
_prefetch_lock = threading.Lock()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=64 * 1024 * 1024)


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    with _prefetch_lock:
        future = _prefetched.pop((password, salt, n, r, p), None)
    return future.result() if future is not None else _scrypt(password, salt, n, r, p)


def prefetch(vault: Path, password: str | None) -> None:
    """Start deriving the vault's key in a background thread (OpenSSL's scrypt releases the GIL), so the
    derivation overlaps the seconds the service spends importing and connecting; :func:`unlock` then takes the
    result. Does nothing without a password or a readable vault."""
    if password is None:
        return
    try:
        body = json.loads(vault.read_text(encoding="utf-8"))
        params = (password, bytes.fromhex(body["salt"]), int(body["n"]), int(body["r"]), int(body["p"]))
    except (OSError, ValueError, KeyError, TypeError):
        return
    future: Future[bytes] = Future()

    def run() -> None:
        try:
            future.set_result(_scrypt(*params))
        except BaseException as exc:  # handed to whoever takes the result
            future.set_exception(exc)

    with _prefetch_lock:
        _prefetched[params] = future
    threading.Thread(target=run, name="oracle-vault-kdf", daemon=True).start()


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _open(path: Path, password: str) -> dict[str, dict[str, str]]:
    """The vault's entries, {machine: {"keystore": sha256, "key": hex}}; empty if there is no usable vault."""
    if not path.is_file():
        return {}
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("version") != VERSION:
            return {}
        key = _derive(password, bytes.fromhex(body["salt"]), int(body["n"]), int(body["r"]), int(body["p"]))
        plain = AESGCM(key).decrypt(bytes.fromhex(body["nonce"]), bytes.fromhex(body["ciphertext"]), b"millchain-vault")
        entries: dict[str, dict[str, str]] = json.loads(plain)["keys"]
        return entries
    except (InvalidTag, ValueError, KeyError, TypeError) as exc:
        log.warning("key vault %s cannot be opened (%s); rebuilding it from the keystores", path, type(exc).__name__)
        return {}


def _write(path: Path, password: str, entries: Mapping[str, Mapping[str, str]]) -> None:
    salt, nonce = secrets.token_bytes(32), secrets.token_bytes(12)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    ciphertext = AESGCM(key).encrypt(nonce, json.dumps({"keys": entries}).encode(), b"millchain-vault")
    body = {
        "version": VERSION,
        "kdf": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        "ciphertext": ciphertext.hex(),
    }
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(body, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def unlock(vault: Path, keystores: Mapping[str, Path], password: str | None) -> dict[str, bytes]:
    """Each machine's private key: from the vault where its keystore is unchanged, else from the keystore
    (decrypted in parallel), after which the vault is rewritten. Raises ConfigError for a keystore that
    cannot be unlocked."""
    from millchain.chain import load_keystore  # web3 and eth-account: imported once the prefetch runs

    if password is None:
        # No password in the environment: each keystore asks for its own (load_keystore prompts), no vault.
        return {name: bytes(load_keystore(path, None).key) for name, path in keystores.items()}
    entries = _open(vault, password)
    prints = {name: fingerprint(path) for name, path in keystores.items()}
    keys: dict[str, bytes] = {}
    stale = []
    for name in keystores:
        entry = entries.get(name)
        if entry is not None and entry.get("keystore") == prints[name]:
            keys[name] = bytes.fromhex(entry["key"])
        else:
            stale.append(name)
    if stale:
        with ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 1)) as pool:
            unlocked = list(pool.map(lambda n: load_keystore(keystores[n], password), stale))
        for name, account in zip(stale, unlocked, strict=True):
            keys[name] = bytes(account.key)
    if stale or set(entries) != set(keystores):
        _write(vault, password, {name: {"keystore": prints[name], "key": keys[name].hex()} for name in keystores})
        log.info("key vault %s written (%d of %d keys read from their keystores)", vault, len(stale), len(keys))
    return keys
