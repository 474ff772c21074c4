"""TPM signing rate through the TPM backend, and what it means for a gateway holding many machines' keys.

    python -m scripts.bench_tpm [--seconds 10] [--tcti device:/dev/tpmrm0] [--update]

Without ``--tcti`` a software TPM (swtpm) is started in a temp dir; with it, the TPM at that TCTI is used (a key is
created at a spare persistent handle and evicted afterwards). Each signature is a whole UsageReport signature as
the oracle makes it: ``sign_usage_report_digest`` (SHA-256 of the EIP-712 digest, TPM2_Sign, low-s). Printed:
signatures/s and per-signature latency (p50, p95) with a persistent key, the rate with a wrapped key loaded for each
signature (how a gateway holds more machines' keys than the TPM has persistent slots), the software P-256 backend
for comparison, and the number of
machines one TPM serves when each machine's cumulative counter is signed once per batch window (older readings are
redundant, so only what is sent is signed): machines = rate * window.

swtpm is an emulator running on the host CPU; a discrete TPM chip is far slower (the issue's figure: tens of
signatures a second). The capacity formula holds for either — put the measured rate of the real chip in it.
The snapshot (scripts/bench_tpm.json) records the last accepted run; a regression of more than 20 % fails.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from millchain.signers import Signer, sign_usage_report_digest, verify_usage_report_signature
from millchain.signers.software import P256SoftwareSigner
from millchain.signers.tpm import TpmSigner, WrappedTpmSigner, evict
from millchain.tpm.swtpm import SoftwareTpm
from scripts.snapshots import conclude, judge, load

SNAPSHOT = Path(__file__).with_name("bench_tpm.json")
BENCH_HANDLE = 0x810100FE
"""A spare persistent handle for the benchmark's key, evicted at the end."""
WINDOWS_S = (1, 10, 60)
COMPARED = ("tpm_signatures_per_s", "tpm_wrapped_signatures_per_s", "software_p256_signatures_per_s")


def bench(signer: Signer, seconds: float) -> dict[str, float]:
    """Sign distinct UsageReport digests for ``seconds``; rate and latency percentiles (ms)."""
    latencies: list[float] = []
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        digest = hashlib.sha256(i.to_bytes(8, "big")).digest()
        t0 = time.perf_counter()
        signature = sign_usage_report_digest(signer, digest)
        latencies.append(time.perf_counter() - t0)
        i += 1
    elapsed = time.perf_counter() - started
    # The last one is checked, so the figure is for signatures that verify, not for calls that returned.
    assert verify_usage_report_signature(signer.public_key, digest, signature)
    quantiles = statistics.quantiles(latencies, n=20)
    return {"signatures_per_s": i / elapsed, "p50_ms": statistics.median(latencies) * 1e3,
            "p95_ms": quantiles[18] * 1e3}  # fmt: skip


def bench_tpm(tcti: str, seconds: float) -> dict[str, float]:
    with TpmSigner.create(tcti, handle=BENCH_HANDLE) as signer:
        try:
            return bench(signer, seconds)
        finally:
            evict(tcti, BENCH_HANDLE)


def bench_wrapped(tcti: str, seconds: float) -> float:
    """A wrapped key (a gateway's many-machines mode): TPM2_Load, TPM2_Sign and a flush per signature."""
    with tempfile.TemporaryDirectory() as folder, WrappedTpmSigner.create(tcti, path=Path(folder) / "k") as signer:
        return bench(signer, seconds)["signatures_per_s"]


def compare(results: dict[str, float], snapshot: dict[str, float]) -> list[str]:
    return [problem for key in COMPARED for problem in judge(key, results[key], before=snapshot.get(key))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="signing time per backend (default 10)")
    parser.add_argument("--tcti", help="a real TPM's TCTI (default: start swtpm)")
    parser.add_argument("--update", action="store_true", help="record these figures as the new snapshot")
    args = parser.parse_args()

    if args.tcti:
        tpm = bench_tpm(args.tcti, args.seconds)
        wrapped = bench_wrapped(args.tcti, args.seconds)
        source = args.tcti
    else:
        with tempfile.TemporaryDirectory() as folder, SoftwareTpm(Path(folder)) as swtpm:
            tpm = bench_tpm(swtpm.tcti, args.seconds)
            wrapped = bench_wrapped(swtpm.tcti, args.seconds)
        source = "swtpm (software TPM on this host)"
    software = bench(P256SoftwareSigner.generate(), args.seconds)
    rate = tpm["signatures_per_s"]
    results: dict[str, float] = {
        "tpm_signatures_per_s": rate,
        "tpm_p50_ms": tpm["p50_ms"],
        "tpm_p95_ms": tpm["p95_ms"],
        "tpm_wrapped_signatures_per_s": wrapped,
        "software_p256_signatures_per_s": software["signatures_per_s"],
        "seconds": args.seconds,
        "cpus": float(os.cpu_count() or 0),
        "load_average_1m": os.getloadavg()[0],
    }
    print(f"TPM ({source}): {rate:,.0f} signatures/s, p50 {tpm['p50_ms']:.2f} ms, p95 {tpm['p95_ms']:.2f} ms")
    print(f"TPM, wrapped key loaded per signature (a gateway's many-machines mode): {wrapped:,.0f} signatures/s")
    print(f"software P-256 (OpenSSL): {software['signatures_per_s']:,.0f} signatures/s")
    for window in WINDOWS_S:
        print(f"one signature per machine per {window} s batch window: this TPM serves {rate * window:,.0f} machines")
    print("a deployment of N machines needs N / window signatures/s from the TPM")

    snapshot = load(SNAPSHOT) if not args.tcti else {}  # a real TPM is not compared with the swtpm snapshot
    conclude(SNAPSHOT, {"source": source, **results}, compare(results, snapshot), update=args.update)


if __name__ == "__main__":
    main()
