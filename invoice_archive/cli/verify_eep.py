"""``invoice-archive verify-eep ITEM.eep.xml [--public-key KEY] [--json]``

Checks a DA/T 48 electronic-record encapsulation offline (no database, no
network): against DA/T 48 Appendix A's schema (lxml), the X.509 certificate in
证书, the 电子签名块 (of every layer of a 修改型 EEP) and the 锁定签名 over the
bytes they name, with the service's published key (without one, with the key the
certificate carries), and every embedded file against its recorded size, SHA-256
and SM3.  Exit status: 0 everything passed; 1 a check failed; 2 the file or key
cannot be read.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "verify-eep", help="offline check of a DA/T 48 EEP (archive item as XML encapsulation)",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("eep", metavar="ITEM.eep.xml", help="the encapsulation to check")
    p.add_argument("--public-key", metavar="KEY",
                   help="the service's published public key (PEM, GET /api/v1/bundle-key); without it the "
                        "signatures are checked with the key in the EEP's certificate (证书)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from invoice_archive.archive.eep import verify_eep

    try:
        data = Path(args.eep).read_bytes()
        key = Path(args.public_key).read_bytes() if args.public_key else None
    except OSError as exc:
        print(f"无法读取 {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    checks = verify_eep(data, key)
    ok = bool(checks) and all(c.result == "pass" for c in checks)
    if args.json:
        print(json.dumps({"file": str(args.eep), "status": "pass" if ok else "fail",
                          "checks": [c.__dict__ for c in checks]}, ensure_ascii=False, indent=2))
    else:
        print(args.eep)
        for c in checks:
            print(f"  [{'通过' if c.result == 'pass' else '失败'}] {c.code}: {c.detail}")
        print("结论: " + ("全部通过" if ok else "未通过"))
    return 0 if ok else 1
