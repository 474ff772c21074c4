"""TPM 2.0 support: a software TPM for development (:mod:`.swtpm`), the structures attestation evidence carries
(:mod:`.structures`) and the evidence itself (:mod:`.attest`). The TPM signer is :mod:`millchain.signers.tpm`."""
