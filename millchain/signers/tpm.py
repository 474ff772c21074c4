"""A P-256 device key that never leaves a TPM 2.0 (tpm2-pytss ESAPI over any TCTI).

The key is created inside the TPM under the owner hierarchy's storage key with ``fixedTPM | fixedParent |
sensitiveDataOrigin | userWithAuth | sign``: the TPM generated its private part and will never export it, not even
wrapped for another TPM. It is made persistent with TPM2_EvictControl at a handle (default 0x81010010), so the
oracle on an edge box opens it again by that handle after a restart or a power cycle. Whoever runs code on the box
can ask the TPM to sign while they hold the box, but cannot take the key away; see docs/tpm.md and
docs/security.md for what that bounds.

The same code runs against swtpm (``swtpm:host=127.0.0.1,port=…``, :mod:`millchain.tpm.swtpm`) and a real
chip (``device:/dev/tpmrm0``). tpm2-pytss is an optional dependency: ``pip install 'millchain[tpm]'``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from millchain.signers import KeyType, SignerError, _check_digest, normalize_low_s

if TYPE_CHECKING:
    from tpm2_pytss import ESAPI

DEFAULT_KEY_HANDLE = 0x81010010
"""The persistent handle the device key is stored at unless told otherwise (owner range 0x8101xxxx)."""
PERSISTENT_MIN, PERSISTENT_MAX = 0x81000000, 0x81FFFFFF

# TPMA_OBJECT bits (TPM 2.0 Part 2, 8.3); the names tpm2-pytss gives them, as plain ints for the pure parsers.
FIXED_TPM = 0x00000002
FIXED_PARENT = 0x00000010
SENSITIVE_DATA_ORIGIN = 0x00000020
USER_WITH_AUTH = 0x00000040
RESTRICTED = 0x00010000
DECRYPT = 0x00020000
SIGN = 0x00040000
NON_EXPORTABLE = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN
"""The attributes that make a key one the TPM generated and will not let out: what attestation must show."""
DEVICE_KEY_ATTRIBUTES = NON_EXPORTABLE | USER_WITH_AUTH | SIGN


def tpm2_pytss() -> Any:
    """The tpm2_pytss module, or a SignerError that says how to get it."""
    try:
        import tpm2_pytss as module
    except ImportError as exc:  # the extra is not installed, or libtss2 is missing
        raise SignerError(
            f"the TPM backend needs tpm2-pytss and libtss2 (pip install 'millchain[tpm]'; Debian: libtss2-dev): {exc}"
        ) from exc
    return module


def connect(tcti: str) -> ESAPI:
    """An ESAPI context on ``tcti`` (``swtpm:host=…,port=…``, ``device:/dev/tpmrm0``, ``mssim:…``)."""
    t = tpm2_pytss()
    try:
        return t.ESAPI(tcti)
    except t.TSS2_Exception as exc:
        raise SignerError(f"cannot open the TPM at TCTI {tcti!r}: {exc}") from exc


def _ecdsa_sha256_scheme() -> Any:
    t = tpm2_pytss()
    scheme = t.TPMT_SIG_SCHEME(scheme=t.TPM2_ALG.ECDSA)
    scheme.details.any.hashAlg = t.TPM2_ALG.SHA256
    return scheme


def create_storage_primary(esapi: ESAPI) -> Any:
    """The owner hierarchy's P-256 storage key (transient). The TPM derives it from the owner seed and the
    template, so the same template gives the same key every time: it need not be persisted."""
    t = tpm2_pytss()
    template = t.TPM2B_PUBLIC.parse(
        "ecc256:aes128cfb", objectAttributes=t.TPMA_OBJECT.DEFAULT_TPM2_TOOLS_CREATEPRIMARY_ATTRS
    )
    handle, *_ = esapi.create_primary(t.TPM2B_SENSITIVE_CREATE(), template)
    return handle


def _key_template(attributes: int) -> Any:
    """The TPM2B_PUBLIC template of a P-256 ECDSA/SHA-256 signing key with ``attributes``."""
    t = tpm2_pytss()
    template = t.TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256", objectAttributes=t.TPMA_OBJECT(attributes))
    # A signing key has no symmetric algorithm; the parser gives restricted keys one (right only for storage keys).
    template.publicArea.parameters.eccDetail.symmetric.algorithm = t.TPM2_ALG.NULL
    return template


def create_loaded_key(esapi: ESAPI, parent: Any, attributes: int) -> Any:
    """Create a P-256 ECDSA/SHA-256 key with ``attributes`` under ``parent`` and load it; the transient handle."""
    t = tpm2_pytss()
    private, public, *_ = esapi.create(parent, t.TPM2B_SENSITIVE_CREATE(), _key_template(attributes))
    return esapi.load(parent, private, public)


def persist_new_key(esapi: ESAPI, attributes: int, handle: int) -> Any:
    """Create a P-256 key with ``attributes`` under the storage key and make it persistent at ``handle``; its
    ESYS_TR. The transient objects are flushed whatever happens (a TPM has room for only a few)."""
    t = tpm2_pytss()
    parent = create_storage_primary(esapi)
    try:
        transient = create_loaded_key(esapi, parent, attributes)
        try:
            return esapi.evict_control(t.ESYS_TR.OWNER, transient, handle)
        finally:
            esapi.flush_context(transient)
    finally:
        esapi.flush_context(parent)


@contextmanager
def _closed_on_error(esapi: ESAPI, what: str) -> Iterator[None]:
    """Close ``esapi`` if the block fails; a TPM error becomes a SignerError starting with ``what``."""
    t = tpm2_pytss()
    try:
        yield
    except t.TSS2_Exception as exc:
        esapi.close()
        raise SignerError(f"{what}: {exc}") from exc
    except BaseException:
        esapi.close()
        raise


def public_point(public: Any) -> bytes:
    """``x ‖ y`` (64 bytes) of a P-256 TPM2B_PUBLIC."""
    ecc = public.publicArea.unique.ecc
    return bytes(ecc.x).rjust(32, b"\x00") + bytes(ecc.y).rjust(32, b"\x00")


def _check_handle(handle: int) -> None:
    if not PERSISTENT_MIN <= handle <= PERSISTENT_MAX:
        raise SignerError(f"persistent handle {handle:#x} is outside 0x81000000..0x81ffffff")


class TpmSigner:
    """The device key at a persistent handle of a TPM; ``sign`` gives ``r ‖ s`` with low s."""

    def __init__(self, esapi: ESAPI, key: Any, handle: int | None, *, location: str | None = None) -> None:
        """Use :meth:`create` or :meth:`open`; this checks that the key is a non-exportable P-256 signing key."""
        t = tpm2_pytss()
        location = location or f"persistent handle {handle:#x}"
        public, name, _ = esapi.read_public(key)
        area = public.publicArea
        attributes = int(area.objectAttributes)
        if int(area.type) != int(t.TPM2_ALG.ECC) or int(area.parameters.eccDetail.curveID) != int(t.TPM2_ECC.NIST_P256):
            raise SignerError(f"the object at {location} is not a P-256 key")
        if attributes & DEVICE_KEY_ATTRIBUTES != DEVICE_KEY_ATTRIBUTES or attributes & (RESTRICTED | DECRYPT):
            raise SignerError(
                f"the key at {location} has attributes {attributes:#010x}; a device key needs fixedTPM, fixedParent, "
                "sensitiveDataOrigin, userWithAuth and sign, and neither restricted nor decrypt"
            )
        self._esapi = esapi
        self._key = key
        self.handle = handle
        """The persistent handle of the key, or None for a wrapped key loaded from a file."""
        self.location = location
        self.name = bytes(name)
        """The key's TPM name (nameAlg ‖ H(public area)): what TPM2_Certify attests."""
        self.public_area = public.publicArea.marshal()
        """The marshalled TPMT_PUBLIC: attestation evidence carries it so a verifier can recompute the name."""
        self._public = public_point(public)
        self._scheme = _ecdsa_sha256_scheme()
        self._ticket = t.TPMT_TK_HASHCHECK(tag=t.TPM2_ST.HASHCHECK, hierarchy=t.TPM2_RH.NULL)

    @classmethod
    def create(cls, tcti: str, *, handle: int = DEFAULT_KEY_HANDLE) -> TpmSigner:
        """Create a new device key in the TPM and persist it at ``handle``; refuses a handle already in use (an
        existing key is never replaced by accident: evict it with ``tpm2_evictcontrol`` first)."""
        _check_handle(handle)
        esapi = connect(tcti)
        with _closed_on_error(esapi, f"the TPM refused to create a device key at {handle:#x}"):
            if handle in persistent_handles(esapi):
                raise SignerError(f"persistent handle {handle:#x} is already in use; open it or choose another")
            signer = cls(esapi, persist_new_key(esapi, DEVICE_KEY_ATTRIBUTES, handle), handle)
        return signer

    @classmethod
    def open(cls, tcti: str, *, handle: int = DEFAULT_KEY_HANDLE) -> TpmSigner:
        """The device key persisted at ``handle`` (after a restart of the oracle or of the box)."""
        _check_handle(handle)
        esapi = connect(tcti)
        with _closed_on_error(esapi, f"no usable key at persistent handle {handle:#x} of the TPM at {tcti!r}"):
            signer = cls(esapi, esapi.tr_from_tpmpublic(handle), handle)
        return signer

    @property
    def esapi(self) -> ESAPI:
        """The open ESAPI context (attestation certifies the key through it)."""
        return self._esapi

    @contextmanager
    def loaded_key(self) -> Iterator[Any]:
        """The ESYS_TR of the key, loaded in this context for the block (attestation certifies it through this)."""
        yield self._key

    @property
    def key_type(self) -> KeyType:
        return "p256"

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, digest: bytes) -> bytes:
        _check_digest(digest)
        t = tpm2_pytss()
        try:
            with self.loaded_key() as key:
                signature = self._esapi.sign(key, t.TPM2B_DIGEST(digest), self._scheme, self._ticket)
        except t.TSS2_Exception as exc:
            raise SignerError(f"the TPM refused to sign with the key at {self.location}: {exc}") from exc
        ecdsa = signature.signature.ecdsa
        r = bytes(ecdsa.signatureR).rjust(32, b"\x00")
        s = bytes(ecdsa.signatureS).rjust(32, b"\x00")
        return normalize_low_s(r + s)

    def close(self) -> None:
        """Release the ESAPI context (the key stays persisted in the TPM)."""
        self._esapi.close()

    def __enter__(self) -> TpmSigner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location}, public_key=0x{self._public.hex()})"


SRK_HANDLE = 0x81000001
"""Where the storage root key is persisted (TCG's recommended SRK handle); wrapped keys are loaded under it."""
WRAPPED_KEY_FORMAT = "millchain-tpm-wrapped-key/1"


def storage_root_key(esapi: ESAPI) -> Any:
    """The persistent storage root key at 0x81000001, created from the owner seed and persisted the first time.
    One persistent SRK serves every wrapped key, so loading one needs a single transient slot."""
    t = tpm2_pytss()
    if SRK_HANDLE in persistent_handles(esapi):
        return esapi.tr_from_tpmpublic(SRK_HANDLE)
    transient = create_storage_primary(esapi)
    try:
        return esapi.evict_control(t.ESYS_TR.OWNER, transient, SRK_HANDLE)
    finally:
        esapi.flush_context(transient)


class WrappedTpmSigner(TpmSigner):
    """A device key created in the TPM and kept outside it as a *wrapped* blob: its private part encrypted by the
    TPM's storage root key, useless to anyone without this TPM (fixedTPM: the TPM never decrypts it for export).

    A TPM has room for a handful of persistent objects; a gateway holding the keys of hundreds of machines keeps
    each machine's blob in a file and the TPM loads it for each signature (one transient slot, flushed after). The
    file holds no secret in clear, but losing it loses the key: back it up like any key file."""

    def __init__(self, esapi: ESAPI, parent: Any, public: Any, private: Any, path: Path) -> None:
        key = esapi.load(parent, private, public)
        try:
            super().__init__(esapi, key, None, location=f"wrapped key file {path}")
        finally:
            esapi.flush_context(key)
        self._parent, self._private, self._public_blob = parent, private, public
        self.path = path

    @classmethod
    def create(cls, tcti: str, *, path: Path) -> WrappedTpmSigner:  # type: ignore[override]
        """Create a device key in the TPM and write its wrapped blob to ``path`` (a new file, mode 0600)."""
        if path.exists():
            raise SignerError(f"{path} already exists; refusing to overwrite a key file")
        t = tpm2_pytss()
        esapi = connect(tcti)
        with _closed_on_error(esapi, f"the TPM refused to create a wrapped device key for {path}"):
            parent = storage_root_key(esapi)
            template = _key_template(DEVICE_KEY_ATTRIBUTES)
            private, public, *_ = esapi.create(parent, t.TPM2B_SENSITIVE_CREATE(), template)
            record = {"format": WRAPPED_KEY_FORMAT, "parent": bytes(esapi.tr_get_name(parent)).hex(),
                      "public": public.marshal().hex(), "private": private.marshal().hex()}  # fmt: skip
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            signer = cls(esapi, parent, public, private, path)
        return signer

    @classmethod
    def open(cls, tcti: str, *, path: Path) -> WrappedTpmSigner:  # type: ignore[override]
        """The wrapped device key in ``path``, for the TPM at ``tcti`` (the one that created it)."""
        t = tpm2_pytss()
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("format") != WRAPPED_KEY_FORMAT:
                raise ValueError(f"format {record.get('format')!r}")
            public, _ = t.TPM2B_PUBLIC.unmarshal(bytes.fromhex(record["public"]))
            private, _ = t.TPM2B_PRIVATE.unmarshal(bytes.fromhex(record["private"]))
            parent_name = bytes.fromhex(record["parent"])
        except FileNotFoundError:
            raise SignerError(f"wrapped key file {path} does not exist") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SignerError(f"{path} is not a wrapped TPM key file ({exc})") from exc
        esapi = connect(tcti)
        with _closed_on_error(esapi, f"the TPM at {tcti!r} cannot load the wrapped key in {path}"):
            parent = storage_root_key(esapi)
            if bytes(esapi.tr_get_name(parent)) != parent_name:
                raise SignerError(f"{path} was wrapped by another TPM's storage key (or the owner seed changed)")
            signer = cls(esapi, parent, public, private, path)
        return signer

    @contextmanager
    def loaded_key(self) -> Iterator[Any]:
        key = self._esapi.load(self._parent, self._private, self._public_blob)
        try:
            yield key
        finally:
            self._esapi.flush_context(key)


def persistent_handles(esapi: ESAPI) -> set[int]:
    """The persistent handles in use in the TPM."""
    t = tpm2_pytss()
    more, data = True, set()
    start = PERSISTENT_MIN
    while more:
        more, caps = esapi.get_capability(t.TPM2_CAP.HANDLES, start, 64)
        handles = [int(h) for h in caps.data.handles]
        data.update(handles)
        if not handles:
            break
        start = max(handles) + 1
    return data


def evict(tcti: str, handle: int) -> None:
    """Remove the persistent key at ``handle`` from the TPM (retiring a device key; it cannot be recovered)."""
    _check_handle(handle)
    t = tpm2_pytss()
    esapi = connect(tcti)
    try:
        key = esapi.tr_from_tpmpublic(handle)
        esapi.evict_control(t.ESYS_TR.OWNER, key, handle)
    except t.TSS2_Exception as exc:
        raise SignerError(f"cannot evict the key at {handle:#x}: {exc}") from exc
    finally:
        esapi.close()
