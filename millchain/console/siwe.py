"""Sign-In with Ethereum (EIP-4361) for the console: an allow-listed account signs a one-time message with its
wallet (EIP-191 personal_sign); the console checks it and opens a session.

Checked: the message's shape, its domain (the host the browser used), version 1, the console's chain id, a nonce
this console issued and has not seen used, the issue time (within five minutes), expiration and not-before
times, the address's EIP-55 checksum, that the signature recovers to that address, and that the address is on
the console's allow list.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address

from millchain.errors import MillchainError

NONCE_SECONDS = 300
SESSION_SECONDS = 8 * 3600
CLOCK_SKEW = 300


class SiweError(MillchainError):
    """A sign-in message or signature was refused; the message says which check failed."""


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    statement: str | None
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None = None
    not_before: datetime | None = None


_HEADER = re.compile(r"^(?P<domain>[^\s]+) wants you to sign in with your Ethereum account:$")
_FIELDS = ("URI", "Version", "Chain ID", "Nonce", "Issued At")
_OPTIONAL = ("Expiration Time", "Not Before", "Request ID", "Resources")


def _time(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SiweError(f"{what} {text!r} is not an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise SiweError(f"{what} {text!r} has no time zone")
    return moment


def parse(text: str) -> SiweMessage:
    """An EIP-4361 message; anything off its grammar is refused."""
    lines = text.split("\n")
    if len(lines) < 8:
        raise SiweError("not a Sign-In with Ethereum message (too short)")
    header = _HEADER.match(lines[0])
    if header is None:
        raise SiweError("not a Sign-In with Ethereum message (first line)")
    address = lines[1]
    if lines[2] != "":
        raise SiweError("a blank line must follow the address")
    rest = lines[3:]
    statement = None
    if rest and rest[0] and not rest[0].startswith("URI: "):
        statement = rest[0]
        if len(rest) < 2 or rest[1] != "":
            raise SiweError("a blank line must follow the statement")
        rest = rest[2:]
    elif rest and rest[0] == "":
        rest = rest[1:]
    fields: dict[str, str] = {}
    for line in rest:
        name, sep, value = line.partition(": ")
        if not sep or name not in (*_FIELDS, *_OPTIONAL) or name in fields:
            raise SiweError(f"unexpected line in the message: {line!r}")
        fields[name] = value
    missing = [name for name in _FIELDS if name not in fields]
    if missing:
        raise SiweError(f"the message lacks {', '.join(missing)}")
    if not re.fullmatch(r"[A-Za-z0-9]{8,}", fields["Nonce"]):
        raise SiweError("the nonce must be at least 8 letters or digits")
    try:
        chain_id = int(fields["Chain ID"])
    except ValueError as exc:
        raise SiweError(f"chain id {fields['Chain ID']!r} is not a number") from exc
    return SiweMessage(
        domain=header["domain"],
        address=address,
        statement=statement,
        uri=fields["URI"],
        version=fields["Version"],
        chain_id=chain_id,
        nonce=fields["Nonce"],
        issued_at=_time(fields["Issued At"], "Issued At"),
        expiration_time=_time(fields["Expiration Time"], "Expiration Time") if "Expiration Time" in fields else None,
        not_before=_time(fields["Not Before"], "Not Before") if "Not Before" in fields else None,
    )


class SiweVerifier:
    """Nonces issued, sessions opened; in memory (a restart signs everyone out)."""

    def __init__(self, allowed: set[str], chain_id: int) -> None:
        self.allowed = {a.lower() for a in allowed}
        self.chain_id = chain_id
        self._nonces: dict[str, float] = {}
        self._sessions: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def nonce(self) -> str:
        value = secrets.token_hex(12)
        now = time.time()
        with self._lock:
            self._nonces = {n: t for n, t in self._nonces.items() if t > now}
            self._nonces[value] = now + NONCE_SECONDS
        return value

    def sign_in(self, text: str, signature: str, host: str) -> tuple[str, str]:
        """(session id, address) for a valid signed message, else SiweError naming the failed check."""
        message = parse(text)
        now = datetime.now(UTC)
        if message.domain != host:
            raise SiweError(f"the message is for {message.domain}, this console is {host}")
        if message.version != "1":
            raise SiweError(f"version {message.version!r} is not 1")
        if message.chain_id != self.chain_id:
            raise SiweError(f"chain id {message.chain_id} is not this console's chain ({self.chain_id})")
        if abs((now - message.issued_at).total_seconds()) > CLOCK_SKEW:
            raise SiweError("the message was not issued within the last five minutes")
        if message.expiration_time is not None and message.expiration_time <= now:
            raise SiweError("the message has expired")
        if message.not_before is not None and message.not_before > now:
            raise SiweError("the message is not valid yet")
        if not is_checksum_address(message.address):
            raise SiweError(f"{message.address} is not an EIP-55 checksummed address")
        try:
            signer = Account.recover_message(encode_defunct(text=text), signature=signature)
        except Exception as exc:  # eth-account raises several types for malformed signatures
            raise SiweError(f"the signature cannot be read: {type(exc).__name__}") from exc
        if signer.lower() != message.address.lower():
            raise SiweError("the signature is not the address's")
        with self._lock:  # the nonce last: a refused message does not burn it, a used one is gone for good
            expiry = self._nonces.pop(message.nonce, None)
        if expiry is None or expiry < time.time():
            raise SiweError("the nonce was not issued by this console, or was used or expired")
        if signer.lower() not in self.allowed:
            raise SiweError(f"{signer} is not allowed to open this console")
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session] = (signer, time.time() + SESSION_SECONDS)
        return session, signer

    def account(self, session: str | None) -> str | None:
        if not session:
            return None
        with self._lock:
            found = self._sessions.get(session)
        if found is None or found[1] < time.time():
            return None
        return found[0]
