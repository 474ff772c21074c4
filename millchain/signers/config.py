"""Choosing a signer backend from configuration, so the oracle and the CLI never branch on where a key lives.

A TOML table such as ``[machines.device_signer]`` validates into :class:`SignerConfig`; :func:`open_signer` turns
it into a :class:`~millchain.signers.Signer`. Passwords are arguments (read by the caller from the environment
or a prompt), never configuration values, so a config file never holds a secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from millchain.signers import Signer, SignerError

Backend = Literal["software-secp256k1", "software-p256", "tpm"]


class SignerConfig(BaseModel):
    """Where a device key lives: an eth-account keystore (secp256k1), an encrypted PKCS#8 file (P-256), or a
    persistent handle of the TPM at a TCTI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend
    key_file: Path | None = None
    """software-secp256k1: an eth-account keystore; software-p256: an encrypted PKCS#8 PEM file; tpm: a wrapped
    key file (the key's blob encrypted by the TPM; instead of a persistent handle)."""
    tcti: str | None = None
    """tpm: ``device:/dev/tpmrm0`` on an edge box, ``swtpm:host=127.0.0.1,port=…`` for a software TPM."""
    handle: int = Field(default=0x81010010, ge=0x81000000, le=0x81FFFFFF)
    """tpm: the persistent handle the key was created at (ignored when key_file names a wrapped key)."""

    @model_validator(mode="after")
    def _fields_for_backend(self) -> SignerConfig:
        if self.backend == "tpm" and not self.tcti:
            raise ValueError("backend 'tpm' needs tcti (e.g. device:/dev/tpmrm0)")
        if self.backend != "tpm" and self.key_file is None:
            raise ValueError(f"backend {self.backend!r} needs key_file")
        return self


def open_signer(config: SignerConfig, password: str | None = None) -> Signer:
    """The signer ``config`` describes; ``password`` unlocks a software key file (a TPM key needs none)."""
    if config.backend == "tpm":
        from millchain.signers.tpm import TpmSigner, WrappedTpmSigner

        assert config.tcti is not None  # checked by the model
        if config.key_file is not None:
            return WrappedTpmSigner.open(config.tcti, path=config.key_file)
        return TpmSigner.open(config.tcti, handle=config.handle)
    assert config.key_file is not None  # checked by the model
    if password is None:
        raise SignerError(f"the {config.backend} key in {config.key_file} needs its password")
    if config.backend == "software-p256":
        from millchain.signers.software import P256SoftwareSigner

        return P256SoftwareSigner.load(config.key_file, password.encode())
    from millchain.chain import load_keystore
    from millchain.signers.software import Secp256k1SoftwareSigner

    return Secp256k1SoftwareSigner(bytes(load_keystore(config.key_file, password).key))
