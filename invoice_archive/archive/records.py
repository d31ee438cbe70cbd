"""The accounting archive beyond vouchers (pure: port data in, XML out; docs/records.md).

会计档案管理办法 第六条 names four kinds of accounting record: 会计凭证, 会计账簿,
财务会计报告 and 其他会计资料. The archive keeps each in its own class (类别号's
first part, DA/T 94-2022 8.3):

==  ============  ==================================================================
PZ  会计凭证      记账凭证 with their original vouchers (services/archive.py)
ZB  会计账簿      总账, 明细账, 日记账 (and 固定资产卡片, 其他辅助性账簿)
BG  财务会计报告  monthly, quarterly, half-year (10 years) and annual (永久) reports
QT  其他会计资料  bank statements and stray bank receipts, bank reconciliations, tax
                  returns, and the archive's own lists: 移交清册, 保管清册, 销毁清册,
                  鉴定意见书
==  ============  ==================================================================

Every record is one item (件). Its first file is the record itself as XML (role
``record``): a root element naming the kind, with 文号 (its document number,
unique per kind: GD-1-8), 题名, 会计年度, 会计期间, the people who made it, then the
content. An original received from outside (a bank statement's OFD or XML) follows
byte for byte (role ``original``), then the DA/T 94 metadata.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoice_archive.archive.retention import CATEGORIES

#: 类别号's first part per class, and what the class holds (会计档案管理办法 第六条)
CLASSES = {"PZ": "会计凭证", "ZB": "会计账簿", "BG": "财务会计报告", "QT": "其他会计资料"}
RECORD_SCHEME = "{cls}·{year}·{retention}"


@dataclass(frozen=True)
class RecordKind:
    key: str              # record_kind on the item, and the XML's 类型
    name: str             # what a clerk calls it
    category: str         # the 附表1 row's key (retention, GD-2-9)
    archive_class: str    # PZ / ZB / BG / QT
    prefix: str           # of its 文号
    root: str             # the record XML's root element

    @property
    def category_name(self) -> str:
        return CATEGORIES[self.category].name


_KINDS = (
    RecordKind("general_ledger", "总账", "ledger", "ZB", "ZZ", "会计账簿"),
    RecordKind("subsidiary_ledger", "明细账", "ledger", "ZB", "MXZ", "会计账簿"),
    RecordKind("cash_journal", "现金日记账", "ledger", "ZB", "XJRJZ", "会计账簿"),
    RecordKind("bank_journal", "银行存款日记账", "ledger", "ZB", "YHRJZ", "会计账簿"),
    RecordKind("monthly_report", "月度财务会计报告", "monthly_report", "BG", "YB", "财务会计报告"),
    RecordKind("quarterly_report", "季度财务会计报告", "monthly_report", "BG", "JB", "财务会计报告"),
    RecordKind("half_year_report", "半年度财务会计报告", "monthly_report", "BG", "BNB", "财务会计报告"),
    RecordKind("annual_report", "年度财务会计报告", "annual_report", "BG", "NB", "财务会计报告"),
    # a bank receipt not filed with a voucher is an original voucher (附表1 row 1) kept on its own
    RecordKind("bank_statement", "银行对账单", "bank_statement", "QT", "DZD", "银行对账单"),
    RecordKind("bank_receipt", "银行电子回单", "original_voucher", "QT", "HD", "银行电子回单"),
    RecordKind("transfer_list", "会计档案移交清册", "transfer_list", "QT", "YJ", "会计档案移交清册"),
    RecordKind("custody_list", "会计档案保管清册", "custody_list", "QT", "BGQC", "会计档案保管清册"),
    RecordKind("destruction_list", "会计档案销毁清册", "destruction_list", "QT", "XH", "会计档案销毁清册"),
    RecordKind("appraisal_opinion", "会计档案鉴定意见书", "appraisal_opinion", "QT", "JD", "会计档案鉴定意见书"),
)
KINDS: Mapping[str, RecordKind] = {k.key: k for k in _KINDS}
LEDGERS = ("general_ledger", "subsidiary_ledger", "cash_journal", "bank_journal")
REPORTS = ("monthly_report", "quarterly_report", "half_year_report", "annual_report")
STATEMENT_TITLES = {"balance_sheet": "资产负债表", "income_statement": "利润表", "cash_flow_statement": "现金流量表"}


def class_code(kind: str, fiscal_year: int, retention: str) -> str:
    """The 类别号 of a record of ``kind``: 形式·年度·期限, as a voucher's (ZB·2024·D30)."""
    return RECORD_SCHEME.format(cls=KINDS[kind].archive_class, year=fiscal_year, retention=retention)


def span_text(kind: str, fiscal_year: int, period: int) -> tuple[str, str]:
    """(the span in a 文号, the span in a 题名) of a ledger or a report."""
    if kind == "quarterly_report":
        quarter = "一二三四"[period // 3 - 1]
        return f"{fiscal_year}-Q{period // 3}", f"{fiscal_year}年第{quarter}季度"
    if kind == "half_year_report":
        return f"{fiscal_year}-H1", f"{fiscal_year}年上半年"
    if kind == "annual_report":
        return f"{fiscal_year}", f"{fiscal_year}年度"
    return f"{fiscal_year}-{period:02d}", f"{fiscal_year}年{period}月"


def document_number(kind: str, fiscal_year: int, period: int) -> str:
    """A ledger's or report's 文号: ZZ-2024-07, JB-2024-Q3, NB-2024."""
    return f"{KINDS[kind].prefix}-{span_text(kind, fiscal_year, period)[0]}"


def title(kind: str, fiscal_year: int, period: int) -> str:
    """2024年7月总账, 2024年第三季度财务会计报告, 2024年度财务会计报告."""
    span = span_text(kind, fiscal_year, period)[1]
    return f"{span}财务会计报告" if kind in REPORTS else f"{span}{KINDS[kind].name}"


def _add(parent: ET.Element, tag: str, value: Any = None, **attrs: Any) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: "" if v is None else str(v) for k, v in attrs.items()})
    if value is not None:
        el.text = str(value)
    return el


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _dump(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _head(kind: str, number: str, title_text: str, fiscal_year: int, period: int,
          people: Iterable[tuple[str, str | None]]) -> ET.Element:
    root = ET.Element(KINDS[kind].root)
    for tag, value in (("文号", number), ("题名", title_text), ("类型", KINDS[kind].name),
                       ("会计年度", fiscal_year), ("会计期间", period)):
        _add(root, tag, value)
    for tag, value in people:
        _add(root, tag, value or "")
    return root


def ledger_xml(book: Any, *, source_system: str) -> bytes:
    """A ledger (port LedgerBook) as the archive keeps it: each line with its account,
    date, voucher number, summary, debit, credit, 借/贷/平 and balance."""
    kind = book.kind
    root = _head(kind, document_number(kind, book.fiscal_year, book.period),
                 title(kind, book.fiscal_year, book.period), book.fiscal_year, book.period,
                 (("编制人", book.prepared_by), ("审核人", book.reviewed_by)))
    for tag, value in (("账簿", book.book or ""), ("本位币", book.currency), ("源系统", source_system),
                       ("源系统标识", book.system_id or "")):
        _add(root, tag, value)
    lines = _add(root, "账页", 行数=len(book.lines))
    for n, ln in enumerate(book.lines, start=1):
        _add(lines, "行", None, 行号=n, 类型=ln.kind, 科目编码=ln.account_code, 科目名称=ln.account_name or "",
             日期=ln.date.isoformat() if ln.date else "", 凭证号=ln.voucher_number or "", 摘要=ln.summary,
             借方=_money(ln.debit), 贷方=_money(ln.credit), 方向=ln.direction, 余额=_money(ln.balance))
    _add(root, "本期借方合计", _money(book.debit_total))
    _add(root, "本期贷方合计", _money(book.credit_total))
    return _dump(root)


def report_xml(report: Any, *, source_system: str) -> bytes:
    """A financial report (port FinancialReport) with each of its statements, and the
    three people who sign it (单位负责人, 会计机构负责人, 制表人)."""
    kind = report.kind
    root = _head(kind, document_number(kind, report.fiscal_year, report.period),
                 title(kind, report.fiscal_year, report.period), report.fiscal_year, report.period,
                 (("编制人", report.prepared_by), ("审核人", report.chief_accountant),
                  ("单位负责人", report.head), ("会计机构负责人", report.chief_accountant)))
    for tag, value in (("本位币", report.currency), ("源系统", source_system), ("源系统标识", report.system_id or "")):
        _add(root, tag, value)
    for statement in report.statements:
        el = _add(root, "报表", None, 类型=statement.kind, 名称=statement.title or STATEMENT_TITLES[statement.kind])
        for item in statement.items:
            _add(el, "项目", None, 行次=item.line_no, 项目名称=item.name, 科目编码=item.code or "",
                 本期金额=_money(item.current), 上期金额=_money(item.prior))
    return _dump(root)


def received_record_xml(kind: str, *, number: str, title_text: str, fiscal_year: int, period: int,
                        fields: Mapping[str, Any], original_name: str, original_sha256: str) -> bytes:
    """A bank statement or receipt received through intake: what the reader found in it,
    and the original file (filed beside it byte for byte) with its digest."""
    root = _head(kind, number, title_text, fiscal_year, period, (("编制人", fields.get("issuer")),))
    for tag, key in (("开具单位", "issuer"), ("账号", "account"), ("户名", "account_name"), ("日期", "date"),
                     ("金额", "amount"), ("币种", "currency"), ("期末余额", "closing_balance"),
                     ("业务键", "business_key"), ("签名校验结果", "verdict")):
        _add(root, tag, fields.get(key) if fields.get(key) is not None else "")
    _add(root, "原件", None, 文件名=original_name, SHA256=original_sha256)
    return _dump(root)


__all__ = ["CLASSES", "KINDS", "LEDGERS", "REPORTS", "RecordKind", "class_code", "document_number",
           "ledger_xml", "received_record_xml", "report_xml", "span_text", "title"]
