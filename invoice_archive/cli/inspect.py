"""``invoice-archive inspect FILE... [--json] [--thorough] [--lines] [--summary]``

Reads e-invoice files (OFD / XML / PDF) with :mod:`invoice_archive.formats` and
prints what was read: a table per file, or with ``--json`` one JSON object per
line per file (the field names of ``InvoiceDocument.to_dict()``, as in the
samples' expected.json, plus ``file``). Exit status: 0 when every file was
read, 1 when any file was refused (its error code is printed), 2 when a file
could not be opened at all.

``--summary`` takes files and folders (searched recursively) and prints, for a
month's downloads, how many files were read (by kind), refused (by code) and
verified (by verdict), with the files that need attention; exit status 1 when
any file was refused or its signature is tampered or invalid.  Every file goes
through intake's limits (size, members, ratios, lying headers) and the same
codes; no file makes the command fail with a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from invoice_archive.formats import (
    KIND_LABELS,
    InvoiceDocument,
    InvoiceFormatError,
    read_invoice,
)
from invoice_archive.formats.limits import DEFAULT_LIMITS
from invoice_archive.formats.package import check_upload

_ROWS = (
    ("种类", "kind"),
    ("业务键", "business_key"),
    ("发票代码", "code"),
    ("发票号码", "number"),
    ("校验码", "check_code"),
    ("开票日期", "issue_date"),
    ("销售方", "seller_name"),
    ("销售方税号", "seller_tax_id"),
    ("购买方", "buyer_name"),
    ("购买方税号", "buyer_tax_id"),
    ("金额", "amount_excl_tax"),
    ("税额", "tax"),
    ("价税合计", "total"),
    ("明细行数", "line_count"),
    ("红字", "red"),
    ("原发票号码", "original_number"),
    ("页数", "pages"),
    ("开票人", "clerk"),
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "inspect",
        help="read invoice files (OFD / XML / PDF) and show their fields",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("files", metavar="FILE", nargs="+",
                   help="OFD, 数电票 XML or PDF files (with --summary: also folders)")
    p.add_argument("--json", action="store_true", help="one JSON object per file (JSON lines)")
    p.add_argument("--thorough", action="store_true", help="also cross-check the OFD page text")
    p.add_argument("--lines", action="store_true", help="list the invoice lines in the table")
    p.add_argument("--summary", action="store_true",
                   help="files and folders: count read / refused (by code) / verified (by verdict)")
    p.add_argument("--trust-store", metavar="DIR",
                   help="--summary: trusted root certificates for the signature check")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if getattr(args, "summary", False):
        return run_summary(args, out, err)
    status = 0
    for name in args.files:
        path = Path(name)
        try:
            data = _read_file(path)
        except OSError as exc:
            status = max(status, 2)
            _report_error(args, out, err, name, "unreadable_file", f"无法打开文件：{exc.strerror or exc}", {})
            continue
        try:
            if data is None:
                check_upload(b"", DEFAULT_LIMITS, size=path.stat().st_size)
            doc = read_invoice(data, filename=path.name, thorough=getattr(args, "thorough", False),
                               whole_package=True)
        except InvoiceFormatError as exc:
            status = max(status, 1)
            _report_error(args, out, err, name, exc.code, exc.message, exc.detail)
            continue
        if args.json:
            payload = {"file": name, **doc.to_dict()}
            out.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
        else:
            _table(out, name, doc, getattr(args, "lines", False))
    return status


def _read_file(path: Path) -> bytes | None:
    """The file's bytes, or None when it is over the upload limit (not read)."""
    if path.stat().st_size > DEFAULT_LIMITS.max_upload_bytes:
        return None
    return path.read_bytes()


# --- --summary: a folder of downloads ----------------------------------------

_SUFFIXES = {".ofd", ".xml", ".pdf", ".zip"}


def _walk(names: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in _SUFFIXES))
        else:
            files.append(path)
    return files


def summarize(names: list[str], trust_store=None) -> dict[str, Any]:
    """Read and verify every file: counts by kind, refusal code and verdict,
    and the files that need attention (refused, tampered, invalid)."""
    from .verify import UnreadableFile, verify_bytes

    files = _walk(names)
    kinds: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    attention: list[dict[str, str]] = []
    for path in files:
        try:
            data = _read_file(path)
            if data is None:
                check_upload(b"", DEFAULT_LIMITS, size=path.stat().st_size)
        except OSError as exc:
            refused["unreadable_file"] += 1
            attention.append({"file": str(path), "code": "unreadable_file",
                              "message": f"无法打开文件：{exc.strerror or exc}"})
            continue
        except InvoiceFormatError as exc:
            refused[exc.code] += 1
            attention.append({"file": str(path), "code": exc.code, "message": exc.message})
            continue
        try:
            doc = read_invoice(data, filename=path.name, whole_package=True)
            kinds[doc.kind] += 1
        except InvoiceFormatError as exc:
            refused[exc.code] += 1
            attention.append({"file": str(path), "code": exc.code, "message": exc.message})
            if exc.code != "not_an_invoice":   # a broken file has no signature to judge
                verdicts["not_verified"] += 1
                continue
        try:
            verdict = verify_bytes(data, trust_store).verdict
        except UnreadableFile:   # read as a document, yet not verifiable: counted, not hidden
            verdict = "not_verified"
        verdicts[verdict] += 1
        if verdict in ("tampered", "invalid"):
            attention.append({"file": str(path), "code": f"signature_{verdict}",
                              "message": VERDICT_NOTES[verdict]})
    return {
        "files": len(files), "read": sum(kinds.values()), "refused": sum(refused.values()),
        "kinds": dict(kinds.most_common()), "refused_by_code": dict(refused.most_common()),
        "verdicts": dict(verdicts.most_common()), "attention": attention,
    }


VERDICT_NOTES = {
    "tampered": "签名后文件被修改：不能报销，请向开具方重新索取",
    "invalid": "电子签名无效：不能报销，请向开具方核实",
}


def run_summary(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from invoice_archive.verification import TrustStore

    from .verify import VERDICT_LABELS

    trust_store = None
    if getattr(args, "trust_store", None):
        try:
            trust_store = TrustStore.from_directory(args.trust_store)
        except (OSError, ValueError) as exc:
            err.write(f"信任库无法加载: {exc}\n")
            return 2
    result = summarize(args.files, trust_store)
    if args.json:
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
    else:
        out.write(f"共 {result['files']} 个文件：读取 {result['read']} 个，拒收 {result['refused']} 个\n")
        for kind, n in result["kinds"].items():
            out.write(f"  读取  {_pad(KIND_LABELS.get(kind, kind), 28)} {n:>6}  ({kind})\n")
        for code, n in result["refused_by_code"].items():
            out.write(f"  拒收  {_pad(code, 28)} {n:>6}\n")
        for verdict, n in result["verdicts"].items():
            label = VERDICT_LABELS.get(verdict, "未验签（文件无法打开）")
            out.write(f"  验签  {_pad(label, 28)} {n:>6}  ({verdict})\n")
        if result["attention"]:
            out.write("需要处理的文件：\n")
            for item in result["attention"]:
                out.write(f"  {item['file']}: {item['code']}: {item['message']}\n")
    bad = result["refused"] or any(v in ("tampered", "invalid") for v in result["verdicts"])
    return 1 if bad else 0


def _report_error(
    args: argparse.Namespace, out: TextIO, err: TextIO, name: str, code: str, message: str, detail: dict[str, Any]
) -> None:
    if args.json:
        payload = {"file": name, "error": {"code": code, "message": message, "detail": detail}}
        out.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    err.write(f"{name}: 拒收 {code}: {message}\n")


# Labels that differ for bank vouchers (seller = payee, buyer = payer).
_BANK_LABELS = {
    "code": "银行机构代码",
    "number": "回单编号",
    "check_code": "回单校验码",
    "issue_date": "签发日期",
    "seller_name": "收款人",
    "buyer_name": "付款人",
    "total": "交易金额",
}


def _table(out: TextIO, name: str, doc: InvoiceDocument, with_lines: bool) -> None:
    data = doc.to_dict()
    bank = doc.family.startswith("bank")
    out.write(f"== {name} ({doc.source_format.upper()})\n")
    for label, key in _ROWS:
        if bank:
            label = _BANK_LABELS.get(key, label)
        value = data[key]
        if value is None or value == "":
            continue
        if key == "kind":
            value = f"{value} {KIND_LABELS.get(value, '')}"
        if key == "red":
            value = "是" if value else "否"
        out.write(f"  {_pad(label, 12)} {value}\n")
    if with_lines:
        for i, line in enumerate(doc.lines, 1):
            rate = line.tax_rate_text or ("" if line.tax_rate is None else str(line.tax_rate))
            out.write(f"  {i:>3}. {line.name or ''}  {line.amount or ''}  {rate}  {line.tax or ''}\n")
    if doc.confidence == "low":
        out.write(f"  {_pad('置信度', 12)} 低（部分字段按票面版式读取：{'、'.join(doc.layout_fields)}）\n")
    out.writelines(f"  警告: {warning}\n" for warning in doc.warnings)


def _pad(text: str, width: int) -> str:
    """Pad for display: CJK characters are two columns wide."""
    cols = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
    return text + " " * max(0, width - cols)
