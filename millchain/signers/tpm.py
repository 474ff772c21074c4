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

from collections.abc import Iterator
from contextlib import contextmanager
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


def create_loaded_key(esapi: ESAPI, parent: Any, attributes: int) -> Any:
    """Create a P-256 ECDSA/SHA-256 key with ``attributes`` under ``parent`` and load it; the transient handle."""
    t = tpm2_pytss()
    template = t.TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256", objectAttributes=t.TPMA_OBJECT(attributes))
    # A signing key has no symmetric algorithm; the parser gives restricted keys one (right only for storage keys).
    template.publicArea.parameters.eccDetail.symmetric.algorithm = t.TPM2_ALG.NULL
    private, public, *_ = esapi.create(parent, t.TPM2B_SENSITIVE_CREATE(), template)
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

    def __init__(self, esapi: ESAPI, key: Any, handle: int) -> None:
        """Use :meth:`create` or :meth:`open`; this checks that the key is a non-exportable P-256 signing key."""
        t = tpm2_pytss()
        public, name, _ = esapi.read_public(key)
        area = public.publicArea
        attributes = int(area.objectAttributes)
        if int(area.type) != int(t.TPM2_ALG.ECC) or int(area.parameters.eccDetail.curveID) != int(t.TPM2_ECC.NIST_P256):
            raise SignerError(f"the object at {handle:#x} is not a P-256 key")
        if attributes & DEVICE_KEY_ATTRIBUTES != DEVICE_KEY_ATTRIBUTES or attributes & (RESTRICTED | DECRYPT):
            raise SignerError(
                f"the key at {handle:#x} has attributes {attributes:#010x}; a device key needs fixedTPM, fixedParent, "
                "sensitiveDataOrigin, userWithAuth and sign, and neither restricted nor decrypt"
            )
        self._esapi = esapi
        self._key = key
        self.handle = handle
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

    @property
    def key_handle(self) -> Any:
        """The ESYS_TR of the key in this context."""
        return self._key

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
            signature = self._esapi.sign(self._key, t.TPM2B_DIGEST(digest), self._scheme, self._ticket)
        except t.TSS2_Exception as exc:
            raise SignerError(f"the TPM refused to sign with the key at {self.handle:#x}: {exc}") from exc
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
        return f"TpmSigner(handle={self.handle:#x}, public_key=0x{self._public.hex()})"


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
