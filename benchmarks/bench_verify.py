#!/usr/bin/env python
"""Signature verification benchmark (``make bench-verify``).

Measures, as medians:

* full verification of a signed invoice (``verify_ofd`` on its zip members;
  also including the unzip), on the real signed samples in ../shared (when
  present) and on synthetic invoices signed by the test CA (SES v4 and
  GB/T 35275).  "cold" clears the certificate-parse cache and the seal memo
  before every run (a never-seen issuer); "warm" is the steady state of a
  service verifying many invoices from the same issuers.
* one SM2-with-SM3 verification over the same signatures with: the main-path
  backend (OpenSSL libcrypto via ctypes), gmssl-pyx (GmSSL C extension), the
  pure-Python ``gmssl`` package (bench-only dependency) and the
  ``openssl pkeyutl -verify -rawin -digest sm3`` command line (includes the
  process start, which is the point: that is what shelling out costs).

Targets: full verification <= 2 ms per invoice, SM2 verify <= 1 ms.
``--strict`` exits 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from io import BytesIO
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from invoice_archive.synth.ofd import build_ofd_invoice  # noqa: E402
from invoice_archive.verification import sm, verify_ofd  # noqa: E402
from invoice_archive.verification.certs import parse_certificate  # noqa: E402
from invoice_archive.verification.ofd import clear_caches  # noqa: E402
from invoice_archive.verification.ses import SESSignature, parse_signed_value  # noqa: E402
from tests.support import testca  # noqa: E402

SAMPLES = PROJECT.parent / "shared" / "samples" / "invoices"
TARGET_FULL_MS = 2.0
TARGET_SM2_MS = 1.0


def median_ms(fn, n: int, before=None) -> float:
    times = []
    for _ in range(n):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def load_invoices() -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    expected = SAMPLES / "expected.json"
    if expected.is_file():
        for e in json.loads(expected.read_text("utf-8"))["samples"]:
            p = SAMPLES / e["file"]
            if e["signature"] in {"valid", "valid_with_warning"} and p.suffix == ".ofd":
                out.append((f"real:{e['file']}", p.read_bytes()))
    else:
        print(f"(real samples not found at {SAMPLES}: synthetic only)")
    pki = testca.build_pki()
    inv = build_ofd_invoice()
    out.append(("synthetic:ses_v4", testca.sign_ofd(inv, pki.signer, testca.SealSpec(pki.seal_maker))))
    out.append(("synthetic:gbt35275", testca.sign_ofd(inv, pki.signer, variant="gbt35275")))
    return out


def signer_signatures(name: str, data: bytes) -> list[tuple[str, bytes, bytes, bytes]]:
    """(label, public key, message, DER signature) of every signer signature."""
    out = []
    for m, v in members_of(data).items():
        if not m.endswith("SignedValue.dat"):
            continue
        s = parse_signed_value(v)
        cert = parse_certificate(s.signer_cert)
        msg = s.tbs_raw if isinstance(s, SESSignature) else s.signed_attrs_as_set
        out.append((f"{name}:{m.split('/')[-2]}", cert.public_key, msg,
                    sm.normalize_signature(s.signature)[0]))
    return out


def bench_openssl_cli(pub: bytes, msg: bytes, sig: bytes, n: int) -> float | None:
    exe = shutil.which("openssl")
    if not exe:
        return None
    with tempfile.TemporaryDirectory() as d:
        dp = Path(d)
        b64 = base64.encodebytes(sm.spki_from_point(pub)).decode()
        (dp / "pub.pem").write_text(f"-----BEGIN PUBLIC KEY-----\n{b64}-----END PUBLIC KEY-----\n")
        (dp / "msg").write_bytes(msg)
        (dp / "sig").write_bytes(sig)
        cmd = [exe, "pkeyutl", "-verify", "-pubin", "-inkey", str(dp / "pub.pem"), "-rawin",
               "-digest", "sm3", "-pkeyopt", "distid:1234567812345678",
               "-in", str(dp / "msg"), "-sigfile", str(dp / "sig")]
        r = subprocess.run(cmd, capture_output=True)
        if r.returncode != 0:
            return None
        return median_ms(lambda: subprocess.run(cmd, capture_output=True, check=True), n)


def pure_gmssl():
    try:
        from gmssl import sm2 as pure_sm2
    except ImportError:
        return None

    def verify(pub: bytes, msg: bytes, sig: bytes) -> bool:
        c = pure_sm2.CryptSM2(private_key=None, public_key=pub.hex(), asn1=False)
        return bool(c.verify_with_sm3(sm.raw_rs(sig).hex(), msg))
    return verify


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--iterations", type=int, default=200, help="runs per measurement")
    ap.add_argument("--slow-iterations", type=int, default=7,
                    help="runs for pure-Python gmssl and the openssl command line")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    n, slow = args.iterations, args.slow_iterations

    print(f"SM2 backend on the main path: {sm.backend_name()}; SM3: "
          f"{'hashlib' if sm.sm3.__name__ == '<lambda>' else 'gmssl-pyx'}")
    invoices = load_invoices()

    # --- full verification
    print(f"\nFull verification, median ms per invoice ({n} runs each)")
    print(f"{'invoice':58} {'verdict':19} {'cold':>7} {'warm':>7} {'+unzip':>7}")
    cold_all, warm_all, unzip_all = [], [], []
    for name, data in invoices:
        members = members_of(data)
        verdict = verify_ofd(members).verdict
        cold = median_ms(lambda: verify_ofd(members), n, before=clear_caches)
        warm = median_ms(lambda: verify_ofd(members), n)
        unz = median_ms(lambda: verify_ofd(members_of(data)), n)
        cold_all.append(cold)
        warm_all.append(warm)
        unzip_all.append(unz)
        print(f"{name[:58]:58} {verdict:19} {cold:7.3f} {warm:7.3f} {unz:7.3f}")
    full_cold = statistics.median(cold_all)
    full_warm = statistics.median(warm_all)
    print(f"{'MEDIAN over invoices':58} {'':19} {full_cold:7.3f} {full_warm:7.3f} "
          f"{statistics.median(unzip_all):7.3f}")

    # --- SM2 verify
    sigs = [s for name, data in invoices for s in signer_signatures(name, data)]
    for _label, pub, msg, sig in sigs:   # sanity: every backend agrees it verifies
        assert sm.sm2_verify(pub, msg, sig), _label
    main_path = statistics.median(
        median_ms(lambda: sm.sm2_verify(p, m, s), n) for _l, p, m, s in sigs)
    pyx = statistics.median(
        median_ms(lambda: sm.gmssl_backend.verify(p, m, s), n) for _l, p, m, s in sigs)
    print(f"\nSM2-with-SM3 verify of the signer signatures ({len(sigs)} signatures), "
          "median ms per verification")
    rows = [("main path: OpenSSL libcrypto (ctypes)", main_path),
            ("gmssl-pyx (GmSSL C extension)", pyx)]
    pure = pure_gmssl()
    sample = sigs[: max(1, min(len(sigs), 3))]
    if pure is not None:
        for _l, p, m, s in sample:
            assert pure(p, m, s), "pure-Python gmssl disagrees"
        rows.append(("gmssl (pure Python, bench only)", statistics.median(
            median_ms(lambda: pure(p, m, s), slow) for _l, p, m, s in sample)))
    else:
        rows.append(("gmssl (pure Python): not installed (pip install 'gmssl>=3.2,<4')", None))
    cli = [bench_openssl_cli(p, m, s, slow) for _l, p, m, s in sample]
    cli = [c for c in cli if c is not None]
    rows.append(("openssl pkeyutl -verify -rawin -digest sm3 (per process)",
                 statistics.median(cli) if cli else None))
    for label, ms in rows:
        if ms is None:
            print(f"  {label}")
        else:
            print(f"  {label:58} {ms:9.3f} ms   x{ms / main_path:7.1f} vs main path")

    ok_full = full_cold <= TARGET_FULL_MS and full_warm <= TARGET_FULL_MS
    ok_sm2 = main_path <= TARGET_SM2_MS
    print(f"\nTargets: full verification <= {TARGET_FULL_MS} ms: "
          f"{'MET' if ok_full else 'MISSED'} (cold {full_cold:.3f}, warm {full_warm:.3f}); "
          f"SM2 verify <= {TARGET_SM2_MS} ms: {'MET' if ok_sm2 else 'MISSED'} ({main_path:.3f})")
    return 0 if (ok_full and ok_sm2) or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
