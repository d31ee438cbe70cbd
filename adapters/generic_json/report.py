"""Inbound: an accounting system reports a posted voucher to the service.

The JSON shape (``POST``-ed to the service's API and handed here as a dict)::

    {
      "claim_number": "BX-2024-0031",
      "voucher_number": "0042",
      "voucher_word": "记",
      "fiscal_year": 2024,
      "period": 6,
      "date": "2024-06-28",
      "external_ref": "IA-BX-2024-0031-v1",      # or null
      "prepared_by": "张三",
      "reviewed_by": "李四",                        # or null
      "posted_by": null,
      "attachment_count": 2,                       # optional
      "entries": [
        {"summary": "报销差旅费", "account_code": "6602.01", "account_name": "管理费用-差旅费",
         "debit": "526.00", "credit": "0.00"},
        {"summary": "报销差旅费", "account_code": "1002", "account_name": "银行存款",
         "debit": "0.00", "credit": "526.00"}
      ]
    }

Amounts are strings (never JSON numbers, which readers turn into floats) with
at most two decimals, not negative; each entry has exactly one non-zero side;
debits equal credits. Every problem found is reported at once, in Chinese.
Unknown keys are ignored.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from invoice_archive.ports.accounting import EXTERNAL_REF_RE, AccountingError, ReportEntry, VoucherReport

AMOUNT_RE = re.compile(r"^\d{1,16}(?:\.\d{1,2})?$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: the lengths of the columns the report lands in (invoice_archive.models.voucher)
MAX_LEN = {
    "claim_number": 64, "voucher_number": 32, "voucher_word": 8, "external_ref": 64,
    "prepared_by": 100, "reviewed_by": 100, "posted_by": 100,
    "summary": 500, "account_code": 40, "account_name": 100,
}


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, where: str, message: str) -> None:
        self.items.append({"field": where, "message": message})

    def text(self, where: str, value: Any, *, required: bool = True, key: str | None = None) -> str | None:
        key = key or where
        if value is None:
            if required:
                self.add(where, "不能为空")
            return None
        if not isinstance(value, str):
            self.add(where, f"必须是字符串，收到 {type(value).__name__}")
            return None
        value = value.strip()
        if not value:
            if required:
                self.add(where, "不能为空")
            return None
        if len(value) > MAX_LEN[key]:
            self.add(where, f"过长（{len(value)} 字，最多 {MAX_LEN[key]} 字）")
            return None
        return value

    def integer(self, where: str, value: Any, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(where, f"必须是整数，收到 {value!r}")
            return None
        if not low <= value <= high:
            self.add(where, f"必须在 {low} 到 {high} 之间，收到 {value}")
            return None
        return value

    def amount(self, where: str, value: Any) -> Decimal | None:
        if not isinstance(value, str):
            self.add(where, f"金额必须是字符串（如 \"123.45\"），不能是 {type(value).__name__}")
            return None
        if not AMOUNT_RE.match(value):
            self.add(where, f"金额 {value!r} 格式错误：应为不带符号、最多两位小数的数字，如 \"123.45\"")
            return None
        return Decimal(value).quantize(Decimal("0.01"))


def parse_voucher_report(payload: dict) -> VoucherReport:
    """Validate an inbound voucher report and turn it into a :class:`VoucherReport`.

    Raises ``AccountingError(code="invalid_voucher_report")`` listing every
    problem (``error.raw["problems"]`` holds them as ``{"field", "message"}``).
    """
    if not isinstance(payload, dict):
        raise AccountingError("invalid_voucher_report",
                              f"凭证报告必须是 JSON 对象，收到 {type(payload).__name__}",
                              raw={"problems": [{"field": "", "message": "不是 JSON 对象"}]})
    p = _Problems()
    claim_number = p.text("claim_number", payload.get("claim_number"))
    voucher_number = p.text("voucher_number", payload.get("voucher_number"))
    voucher_word = p.text("voucher_word", payload.get("voucher_word"))
    fiscal_year = p.integer("fiscal_year", payload.get("fiscal_year"), 1900, 9999)
    period = p.integer("period", payload.get("period"), 1, 12)

    date = None
    raw_date = payload.get("date")
    if not isinstance(raw_date, str) or not DATE_RE.match(raw_date):
        p.add("date", f"日期必须是 YYYY-MM-DD 格式的字符串，收到 {raw_date!r}")
    else:
        try:
            date = dt.date.fromisoformat(raw_date)
        except ValueError:
            p.add("date", f"日期 {raw_date} 不存在")

    external_ref = p.text("external_ref", payload.get("external_ref"), required=False)
    if external_ref is not None and not EXTERNAL_REF_RE.match(external_ref):
        p.add("external_ref", f"外部参考号 {external_ref!r} 只能含字母、数字和 -_.")
        external_ref = None
    prepared_by = p.text("prepared_by", payload.get("prepared_by"))
    reviewed_by = p.text("reviewed_by", payload.get("reviewed_by"), required=False)
    posted_by = p.text("posted_by", payload.get("posted_by"), required=False)

    attachment_count = None
    if payload.get("attachment_count") is not None:
        attachment_count = p.integer("attachment_count", payload["attachment_count"], 0, 100000)

    entries: list[ReportEntry] = []
    raw_entries = payload.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        p.add("entries", "必须是非空的分录数组")
        raw_entries = []
    elif len(raw_entries) < 2:
        p.add("entries", "凭证至少需要一条借方分录和一条贷方分录")
    for no, raw in enumerate(raw_entries, 1):
        where = f"entries[{no}]"
        if not isinstance(raw, dict):
            p.add(where, "分录必须是 JSON 对象")
            continue
        before = len(p.items)
        summary = p.text(f"{where}.summary", raw.get("summary"), key="summary")
        account_code = p.text(f"{where}.account_code", raw.get("account_code"), key="account_code")
        account_name = p.text(f"{where}.account_name", raw.get("account_name"), required=False,
                              key="account_name")
        debit = p.amount(f"{where}.debit", raw.get("debit"))
        credit = p.amount(f"{where}.credit", raw.get("credit"))
        if debit is not None and credit is not None and (debit != 0) == (credit != 0):
            p.add(where, f"借方 {debit} 与贷方 {credit} 必须且只能有一方不为零")
        if len(p.items) == before:
            entries.append(ReportEntry(no, summary, account_code, account_name, debit, credit))

    if entries and len(entries) == len(raw_entries):
        debit_total = sum((e.debit for e in entries), Decimal("0.00"))
        credit_total = sum((e.credit for e in entries), Decimal("0.00"))
        if debit_total != credit_total:
            p.add("entries", f"借贷不平衡：借方合计 {debit_total}，贷方合计 {credit_total}，相差 "
                             f"{abs(debit_total - credit_total)}")

    if p.items:
        listed = "；".join(f"{i['field']}: {i['message']}" if i["field"] else i["message"] for i in p.items)
        who = f"报销单 {claim_number} 的" if claim_number else ""
        raise AccountingError("invalid_voucher_report",
                              f"{who}凭证报告有 {len(p.items)} 处错误，请修正后重新发送：{listed}",
                              raw={"problems": p.items})
    return VoucherReport(
        claim_number=claim_number, voucher_number=voucher_number, voucher_word=voucher_word,
        fiscal_year=fiscal_year, period=period, date=date, external_ref=external_ref,
        prepared_by=prepared_by, reviewed_by=reviewed_by, posted_by=posted_by,
        entries=tuple(entries), attachment_count=attachment_count,
    )
