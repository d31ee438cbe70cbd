"""``invoice-archive inspect FILE... [--json] [--thorough] [--lines]``

Reads e-invoice files (OFD / XML / PDF) with :mod:`invoice_archive.formats` and
prints what was read: a table per file, or with ``--json`` one JSON object per
line per file (the field names of ``InvoiceDocument.to_dict()``, as in the
samples' expected.json, plus ``file``). Exit status: 0 when every file was
read, 1 when any file was refused (its error code is printed), 2 when a file
could not be opened at all.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from invoice_archive.formats import (
    KIND_LABELS,
    InvoiceDocument,
    InvoiceFormatError,
    read_invoice,
)

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
    p.add_argument("files", metavar="FILE", nargs="+", help="OFD, 数电票 XML or PDF files")
    p.add_argument("--json", action="store_true", help="one JSON object per file (JSON lines)")
    p.add_argument("--thorough", action="store_true", help="also cross-check the OFD page text")
    p.add_argument("--lines", action="store_true", help="list the invoice lines in the table")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    status = 0
    for name in args.files:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            status = max(status, 2)
            _report_error(args, out, err, name, "unreadable_file", f"无法打开文件：{exc.strerror or exc}", {})
            continue
        try:
            doc = read_invoice(data, filename=path.name, thorough=getattr(args, "thorough", False))
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
    out.writelines(f"  警告: {warning}\n" for warning in doc.warnings)


def _pad(text: str, width: int) -> str:
    """Pad for display: CJK characters are two columns wide."""
    cols = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
    return text + " " * max(0, width - cols)
