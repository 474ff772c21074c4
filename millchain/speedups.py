"""Opt-in speed-ups a long-running process or a chain in this process asks for; importing millchain changes
nothing process-wide."""

from __future__ import annotations

import importlib.util
import os

_ENV = "ETH_HASH_BACKEND"


def use_c_keccak() -> str | None:
    """Make eth-hash's shared keccak (used by web3, eth-account, eth-utils) pysha3's C one, for this process only.

    eth-hash picks pycryptodome over pysha3 when both are installed (pycryptodome comes with eth-keyfile), and
    its per-call cffi setup makes each keccak ~6x slower; web3 hashes on every contract call it builds and every
    event it decodes. Unlike setting ETH_HASH_BACKEND this leaves the environment, and so child processes,
    alone. An explicit ETH_HASH_BACKEND wins. Returns the backend now in use ("pysha3"), or None if unchanged.
    """
    if os.environ.get(_ENV) or importlib.util.find_spec("sha3") is None:
        return None
    from eth_hash.auto import keccak
    from eth_hash.utils import load_backend

    backend = load_backend("pysha3")
    # Keccak256 binds its backend's functions on first use; rebind both the auto backend and the bound ones.
    setattr(keccak._backend, "keccak256", backend.keccak256)  # noqa: B010 - the attributes AutoBackend sets
    setattr(keccak._backend, "preimage", backend.preimage)  # noqa: B010
    keccak.hasher = backend.keccak256
    keccak.preimage = backend.preimage
    return "pysha3"
