"""``invoice-archive verify FILE... [--json] [--trust-store DIR]``

Verifies the signatures of OFD invoices (SES v1/v4/v5, GB/T 35275) and reports
数电票 XML signatures as present-but-not-verifiable.  Exit status: 0 when no
file is tampered or invalid, 1 when one is, 2 when a file cannot be read.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from invoice_archive.formats import InvoiceFormatError, open_ofd
from invoice_archive.formats.limits import DEFAULT_LIMITS
from invoice_archive.formats.package import check_upload
from invoice_archive.verification import (
    TrustStore,
    VerificationReport,
    verify_ofd,
    verify_pdf,
    verify_xml,
)

VERDICT_LABELS = {
    "valid": "有效",
    "valid_with_warning": "有效（有警告）",
    "tampered": "已被篡改",
    "invalid": "签名无效",
    "unsigned": "未签名",
    "present_not_verifiable": "有签名但无法离线验证",
}
MARKS = {"pass": "通过", "fail": "失败", "warning": "警告", "not_checked": "未检查"}
BAD = {"tampered", "invalid"}


class UnreadableFile(Exception):
    """A file that cannot be verified at all; ``code`` is intake's refusal code."""

    def __init__(self, message: str, code: str = "unreadable_file") -> None:
        super().__init__(message)
        self.code = code


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("verify", help="verify the e-signatures of invoice files (OFD / XML)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("files", metavar="FILE", nargs="+", help="OFD or 数电票 XML files")
    p.add_argument("--json", action="store_true", help="one JSON object per file (JSON lines)")
    p.add_argument("--trust-store", metavar="DIR",
                   help="directory of trusted root (and intermediate) certificates; "
                        "without it certificate chains are not checked")
    p.add_argument("-v", "--verbose", action="store_true", help="also list passed checks")
    p.set_defaults(func=run)
    return p


def verify_file(path: Path, trust_store: TrustStore | None) -> VerificationReport:
    try:
        size = path.stat().st_size
        if size > DEFAULT_LIMITS.max_upload_bytes:   # never read a huge file into memory
            check_upload(b"", DEFAULT_LIMITS, size=size)
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"无法读取: {exc.strerror or exc}") from None
    except InvoiceFormatError as exc:
        raise UnreadableFile(f"{exc.code}: {exc.message}", exc.code) from None
    return verify_bytes(data, trust_store)


def verify_bytes(data: bytes, trust_store: TrustStore | None) -> VerificationReport:
    """Verify one file's bytes.  The same safe opener and limits as intake:
    a file intake refuses (bomb, lying header, traversal ...) is refused here
    with the same code, as :class:`UnreadableFile`, never a traceback."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    try:
        check_upload(data, DEFAULT_LIMITS)
        if data.startswith(b"PK"):
            members = open_ofd(data)
            members.check_all()
            return verify_ofd(members, trust_store=trust_store)
        if head.startswith(b"<"):
            return verify_xml(data, trust_store=trust_store)
        if b"%PDF-" in data[:1024]:
            return verify_pdf(data, trust_store=trust_store)
    except InvoiceFormatError as exc:
        raise UnreadableFile(f"不是可读的电子文件 ({exc.code}: {exc.message})", exc.code) from None
    raise UnreadableFile("不支持的文件格式 (neither OFD, XML nor PDF)", "unsupported_format")


def _human(path: Path, report: VerificationReport, verbose: bool, out) -> None:
    print(f"{path}: {VERDICT_LABELS.get(report.verdict, report.verdict)} ({report.verdict})", file=out)
    for s in report.signatures:
        parts = [f"签名 {s.id}", s.version or "?"]
        if s.signing_time:
            parts.append(f"签名时间 {s.signing_time.isoformat()}")
        if s.signer_certificate:
            parts.append(f"签名者 {s.signer_certificate.subject_cn or s.signer_certificate.subject}")
        if s.seal_name:
            parts.append(f"印章 {s.seal_name}")
        parts.append(f"结论 {s.verdict}")
        print("  " + "，".join(parts), file=out)
    passed = 0
    for c in report.checks:
        if c.result == "pass" and not verbose:
            passed += 1
            continue
        where = f" [{c.file}]" if c.file else ""
        sig = f" (签名 {c.signature})" if c.signature else ""
        print(f"  {MARKS[c.result]:<4} {c.code}{sig}{where}: {c.detail}", file=out)
    if passed:
        print(f"  另有 {passed} 项检查通过 (-v 显示)", file=out)


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    trust_store = None
    if getattr(args, "trust_store", None):
        try:
            trust_store = TrustStore.from_directory(args.trust_store)
        except (OSError, ValueError) as exc:
            print(f"信任库无法加载: {exc}", file=sys.stderr)
            return 2
    status = 0
    for name in args.files:
        path = Path(name)
        try:
            report = verify_file(path, trust_store)
        except UnreadableFile as exc:
            status = 2
            if args.json:
                print(json.dumps({"file": str(path), "verdict": None, "error": str(exc),
                                  "code": exc.code, "checks": []}, ensure_ascii=False), file=out)
            else:
                print(f"{path}: 错误: {exc}", file=out)
            continue
        if report.verdict in BAD and status == 0:
            status = 1
        if args.json:
            print(json.dumps({"file": str(path), **report.to_dict()}, ensure_ascii=False), file=out)
        else:
            _human(path, report, getattr(args, "verbose", False), out)
    return status
