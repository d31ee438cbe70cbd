"""``invoice-archive acceptance`` (the zh-CN features against a deployment, with a signed
report), ``invoice-archive verify-report`` (the report checked offline) and
``invoice-archive acceptance-matrix`` (the clause → scenario matrix of docs/acceptance.md)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NEEDS_EXTRA = "验收命令需要 pytest、pytest-bdd 与 bagit：pip install 'invoice-archive[acceptance]'"


def run_acceptance(args: argparse.Namespace) -> int:
    try:
        import bagit  # noqa: F401
        import pytest_bdd  # noqa: F401
    except ImportError:
        print(NEEDS_EXTRA, file=sys.stderr)
        return 2
    from invoice_archive.acceptance.runner import Options, run

    return run(Options(url=args.url, token_file=Path(args.token_file), out=Path(args.out), wait=args.wait,
                       verify_tls=not args.insecure, only=tuple(args.only or ()),
                       pki_dir=Path(args.pki) if args.pki else None))


def run_verify_report(args: argparse.Namespace) -> int:
    from invoice_archive.acceptance.verify import verify_report_dir

    folder = Path(args.report)
    try:
        key = Path(args.public_key).read_bytes()
    except OSError as exc:
        print(f"无法读取公钥 {args.public_key}：{exc.strerror or exc}", file=sys.stderr)
        return 2
    if not folder.is_dir():
        print(f"{folder} 不是报告目录", file=sys.stderr)
        return 2
    check = verify_report_dir(folder, key)
    if args.json:
        print(json.dumps(check.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(f"验收报告 {folder}")
        for result, text in check.lines:
            print(f"  [{result}] {text}")
        print("结论：" + ("通过：报告自生成后未被改动，且由该部署签名" if check.ok else "未通过"))
    return 0 if check.ok else 1


def run_matrix(args: argparse.Namespace) -> int:
    from invoice_archive.acceptance.matrix import documented_matrix

    sys.stdout.write(documented_matrix())
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("acceptance", help="run the zh-CN acceptance features against a deployment (signed report)",
                       description="通过部署的 HTTP 接口运行验收场景，生成报告（HTML、cucumber JSON、JUnit XML），"
                                   "并由部署的签名密钥签名（docs/acceptance.md）")
    p.add_argument("--url", required=True, help="the deployment, e.g. https://invoice.example.cn")
    p.add_argument("--token-file", required=True,
                   help="one role=token or name=token per line (invoice-archive demo-setup's output works as it is)")
    p.add_argument("--out", default="acceptance-report", help="the report's folder (default acceptance-report)")
    p.add_argument("--wait", type=float, default=120.0,
                   help="seconds to wait for the deployment's worker (posting, 入账标识) (default 120)")
    p.add_argument("--insecure", action="store_true", help="do not check the deployment's TLS certificate")
    p.add_argument("--pki", metavar="DIR",
                   help="keep the run's synthetic SM2 PKI in DIR (made on first use) so that a TEST deployment can "
                        "trust DIR/root.pem; without it every run makes its own")
    p.add_argument("--only", action="append", metavar="TEXT",
                   help="run only the scenarios whose feature file, feature or scenario name contains TEXT "
                        "(repeatable), e.g. --only 真实性校验 --only archive/")
    p.set_defaults(func=run_acceptance)
    v = sub.add_parser("verify-report", help="check an acceptance report offline: its files and the deployment's "
                                             "signature")
    v.add_argument("report", metavar="REPORT_DIR")
    v.add_argument("--public-key", required=True, metavar="KEY",
                   help="the deployment's published key (PEM, GET /api/v1/bundle-key)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=run_verify_report)
    m = sub.add_parser("acceptance-matrix", help="print the clause → scenario matrix (docs/acceptance.md)")
    m.set_defaults(func=run_matrix)
