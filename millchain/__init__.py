"""millchain: the SDK for the suite's contracts (compile, deploy, lease, attest, settle).

Importing it has no process-wide side effect; long-running processes opt in to speed-ups
(:func:`millchain.speedups.use_c_keccak`: the oracle at start-up, the embedded chain)."""
