"""millchain: the SDK for the suite's contracts (compile, deploy, lease, attest, settle)."""

import importlib.util
import os

# eth-hash takes pycryptodome over pysha3 when both are installed (pycryptodome comes with eth-keyfile), and
# its per-call cffi setup makes each keccak ~6x slower than pysha3's C one; web3 hashes on every contract
# call it builds and every event it decodes. Chosen before anything hashes; an explicit setting wins.
if "ETH_HASH_BACKEND" not in os.environ and importlib.util.find_spec("sha3") is not None:
    os.environ["ETH_HASH_BACKEND"] = "pysha3"
