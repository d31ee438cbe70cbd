"""Ledgers (会计账簿) and financial reports (财务会计报告) made from posted vouchers.

An accounting system's books of a period are a function of its posted vouchers:
the general ledger (总账) sums each first-level account, the subsidiary ledger
(明细账) lists each account's postings with a running balance, the cash and bank
journals (现金日记账, 银行存款日记账) are the subsidiary ledger of 1001 and 1002,
and the statements add balances and movements up by account class. The adapters
whose systems have no export of their own (Kingdee K/3 Cloud and Yonyou U8 here:
their report services are not documented for third parties, docs/records.md)
read the vouchers with the queries they already use and build the books with
these functions; the fakes build theirs with the same functions, so what an
adapter exports can be held against what the fake holds.

Only posted vouchers (记账, ``RemoteStatus.POSTED``) count. Opening balances are
the sums of every posted voucher before the period (the fakes have no opening
balances entered outside vouchers; a real system's 初始余额 is a limitation noted
in docs/records.md). Everything is deterministic: the same vouchers give the same
books, line for line.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal

from invoice_archive.ports.accounting import (
    FinancialReport, LedgerBook, LedgerLine, RemoteStatus, RemoteVoucher, ReportItem, Statement, reports_due,
)

ZERO = Decimal("0.00")
#: 新会计准则 account classes by the first digit of the code: 1 资产, 2 负债, 3 共同, 4 所有者权益,
#: 5 成本 (shown with the assets, as 存货), 6 损益
ASSET_CLASSES, LIABILITY_CLASSES, EQUITY_CLASSES, PROFIT_CLASSES = ("1", "3", "5"), ("2",), ("4",), ("6",)
#: 损益类 accounts whose balance is on the credit side (revenue and gains): 60xx, 61xx, 63xx
REVENUE_PREFIXES = ("60", "61", "63")
JOURNALS = {"cash_journal": "1001", "bank_journal": "1002"}


def top_level(code: str) -> str:
    """The first-level account (一级科目) of an account code: before the first dot
    (K/3 Cloud's ``6602.01``), else the first four digits (``660201`` -> ``6602``)."""
    return code.split(".", 1)[0] if "." in code else code[:4]


def _under(code: str, parent: str) -> bool:
    return code == parent or code.startswith(parent + ".") or ("." not in code and code.startswith(parent))


def _number_key(v: RemoteVoucher) -> tuple:
    number = v.voucher_number
    return (v.date, v.voucher_word, int(number) if str(number).isdigit() else 0, str(number), str(v.system_id))


def _display(v: RemoteVoucher) -> str:
    number = str(v.voucher_number)
    return f"{v.voucher_word}-{int(number):04d}" if number.isdigit() else f"{v.voucher_word}-{number}"


class _Postings:
    """The posted vouchers of one system up to a period, as (voucher, entry) rows."""

    def __init__(self, vouchers: Iterable[RemoteVoucher], fiscal_year: int, period: int) -> None:
        self.year, self.period = fiscal_year, period
        posted = sorted((v for v in vouchers if v.status == RemoteStatus.POSTED
                         and (v.fiscal_year, v.period) <= (fiscal_year, period)), key=_number_key)
        self.rows = [(v, e) for v in posted for e in v.entries]
        self.names: dict[str, str] = {}
        for _, e in self.rows:
            if e.account_name and e.account_code not in self.names:
                self.names[e.account_code] = e.account_name

    def name(self, code: str, chart: Mapping[str, str]) -> str | None:
        return chart.get(code) or self.names.get(code)

    def net(self, match, *, before: tuple[int, int] | None = None, span: tuple[tuple[int, int], tuple[int, int]]
            | None = None) -> tuple[Decimal, Decimal]:
        """(debit, credit) of the entries whose account matches, before a (year, period)
        or within a span of (year, period) pairs, both ends included."""
        debit = credit = ZERO
        for v, e in self.rows:
            at = (v.fiscal_year, v.period)
            if before is not None and not at < before:
                continue
            if span is not None and not span[0] <= at <= span[1]:
                continue
            if match(e.account_code):
                debit += e.debit
                credit += e.credit
        return debit, credit


def _ledger_lines(p: _Postings, accounts: list[str], match_of, chart: Mapping[str, str], *,
                  with_entries: bool) -> list[LedgerLine]:
    lines: list[LedgerLine] = []
    start, here = (p.year, 1), (p.year, p.period)
    for code in accounts:
        match = match_of(code)
        name = p.name(code, chart)
        d0, c0 = p.net(match, before=(p.year, p.period))
        opening = d0 - c0
        d_ytd, c_ytd = p.net(match, span=(start, here))
        d_p, c_p = p.net(match, span=(here, here))
        if not (opening or d_ytd or c_ytd):
            continue
        lines.append(LedgerLine("opening", code, name, "期初余额", ZERO, ZERO, opening))
        balance = opening
        if with_entries:
            for v, e in p.rows:
                if (v.fiscal_year, v.period) != here or not match(e.account_code):
                    continue
                balance += e.debit - e.credit
                lines.append(LedgerLine("entry", code, name, e.summary, e.debit, e.credit, balance,
                                        date=v.date, voucher_number=_display(v)))
        closing = opening + d_p - c_p
        lines.append(LedgerLine("total", code, name, "本期合计", d_p, c_p, closing))
        lines.append(LedgerLine("total", code, name, "本年累计", d_ytd, c_ytd, closing))
    return lines


def ledgers_from_vouchers(vouchers: Iterable[RemoteVoucher], fiscal_year: int, period: int, *,
                          chart: Mapping[str, str] | None = None, book: str | None = None,
                          prepared_by: str | None = None, reviewed_by: str | None = None,
                          system: str = "books") -> list[LedgerBook]:
    """The period's general ledger, subsidiary ledger, and the cash and bank journals
    of the accounts that have any balance or movement this year."""
    chart = chart or {}
    p = _Postings(vouchers, fiscal_year, period)
    codes = sorted({e.account_code for _, e in p.rows})
    tops = sorted({top_level(c) for c in codes})
    span = f"{fiscal_year}-{period:02d}"
    common = dict(fiscal_year=fiscal_year, period=period, book=book, prepared_by=prepared_by,
                  reviewed_by=reviewed_by)
    books = [
        LedgerBook("general_ledger", lines=tuple(_ledger_lines(
            p, tops, lambda t: (lambda c: top_level(c) == t), chart, with_entries=False)),
            system_id=f"{system}:general_ledger:{span}", **common),
        LedgerBook("subsidiary_ledger", lines=tuple(_ledger_lines(
            p, codes, lambda code: (lambda c: c == code), chart, with_entries=True)),
            system_id=f"{system}:subsidiary_ledger:{span}", **common),
    ]
    for kind, parent in JOURNALS.items():
        lines = _ledger_lines(p, [c for c in codes if _under(c, parent)], lambda code: (lambda c: c == code), chart,
                              with_entries=True)
        if lines:
            books.append(LedgerBook(kind, lines=tuple(lines), system_id=f"{system}:{kind}:{span}", **common))
    return books


def _first_month(kind: str, period: int) -> int:
    return {"monthly_report": period, "quarterly_report": period - 2, "half_year_report": 1,
            "annual_report": 1}[kind]


def _balance_sheet(p: _Postings, chart: Mapping[str, str]) -> Statement:
    tops = sorted({top_level(e.account_code) for _, e in p.rows})
    end, year_start = (p.year, p.period + 1), (p.year, 1)

    def balance(match, before) -> Decimal:
        d, c = p.net(match, before=before)
        return d - c

    items: list[ReportItem] = []

    def add(name: str, current: Decimal, prior: Decimal, code: str | None = None) -> None:
        items.append(ReportItem(len(items) + 1, name, current, prior, code))

    totals = {}
    for label, classes, sign in (("资产", ASSET_CLASSES, 1), ("负债", LIABILITY_CLASSES, -1),
                                 ("所有者权益", EQUITY_CLASSES, -1)):
        now = before = ZERO
        for t in tops:
            if t[:1] not in classes:
                continue
            match = (lambda code, t=t: top_level(code) == t)
            cur, pri = sign * balance(match, end), sign * balance(match, year_start)
            if cur or pri:
                add(p.name(t, chart) or t, cur, pri, t)
            now, before = now + cur, before + pri
        if label == "所有者权益":
            # the year's profit not yet carried to 本年利润/利润分配: minus the 损益 classes' balance
            in_profit = (lambda code: code[:1] in PROFIT_CLASSES)
            cur, pri = -balance(in_profit, end), -balance(in_profit, year_start)
            add("未分配利润", cur, pri)
            now, before = now + cur, before + pri
        totals[label] = (now, before)
        add({"资产": "资产总计", "负债": "负债合计", "所有者权益": "所有者权益合计"}[label], now, before)
    liabilities, equity = totals["负债"], totals["所有者权益"]
    add("负债和所有者权益总计", liabilities[0] + equity[0], liabilities[1] + equity[1])
    return Statement("balance_sheet", "资产负债表", tuple(items))


def _income_statement(p: _Postings, chart: Mapping[str, str], first: int, prior_vouchers: _Postings) -> Statement:
    tops = sorted({top_level(e.account_code) for _, e in p.rows + prior_vouchers.rows
                   if e.account_code[:1] in PROFIT_CLASSES})
    items: list[ReportItem] = []
    now_total = prior_total = ZERO
    for t in tops:
        match = (lambda code, t=t: top_level(code) == t)
        revenue = t[:2] in REVENUE_PREFIXES
        d, c = p.net(match, span=((p.year, first), (p.year, p.period)))
        dp, cp = prior_vouchers.net(match, span=((p.year - 1, first), (p.year - 1, p.period)))
        cur, pri = (c - d, cp - dp) if revenue else (d - c, dp - cp)
        if cur or pri:
            items.append(ReportItem(len(items) + 1, p.name(t, chart) or prior_vouchers.name(t, chart) or t,
                                    cur, pri, t))
        now_total += cur if revenue else -cur
        prior_total += pri if revenue else -pri
    items.append(ReportItem(len(items) + 1, "净利润", now_total, prior_total))
    return Statement("income_statement", "利润表", tuple(items))


def reports_from_vouchers(vouchers: Iterable[RemoteVoucher], fiscal_year: int, period: int, *,
                          chart: Mapping[str, str] | None = None, prepared_by: str | None = None,
                          chief_accountant: str | None = None, head: str | None = None,
                          system: str = "books") -> list[FinancialReport]:
    """The reports whose span ends with the period (reports_due): each with its balance
    sheet at the period's end (beside the year's start) and its income statement
    over the span (beside the same span a year before)."""
    chart = chart or {}
    vouchers = list(vouchers)
    p = _Postings(vouchers, fiscal_year, period)
    last_year = _Postings(vouchers, fiscal_year - 1, period)
    out = []
    for kind in reports_due(period):
        statements = (_balance_sheet(p, chart), _income_statement(p, chart, _first_month(kind, period), last_year))
        span = {"monthly_report": f"{fiscal_year}-{period:02d}", "quarterly_report": f"{fiscal_year}-Q{period // 3}",
                "half_year_report": f"{fiscal_year}-H1", "annual_report": f"{fiscal_year}"}[kind]
        out.append(FinancialReport(kind, fiscal_year, period, statements, prepared_by=prepared_by,
                                   chief_accountant=chief_accountant, head=head, system_id=f"{system}:{kind}:{span}"))
    return out


def ledger_json(book: LedgerBook) -> dict:
    """The generic JSON protocol's ledger object (adapters/generic_json/adapter.py)."""
    return {"id": book.system_id, "kind": book.kind, "fiscal_year": book.fiscal_year, "period": book.period,
            "book": book.book, "currency": book.currency, "prepared_by": book.prepared_by,
            "reviewed_by": book.reviewed_by,
            "lines": [{"kind": ln.kind, "account_code": ln.account_code, "account_name": ln.account_name,
                       "summary": ln.summary, "debit": f"{ln.debit:.2f}", "credit": f"{ln.credit:.2f}",
                       "balance": f"{ln.balance:.2f}", "date": ln.date.isoformat() if ln.date else None,
                       "voucher_number": ln.voucher_number} for ln in book.lines]}


def report_json(report: FinancialReport) -> dict:
    """The generic JSON protocol's report object."""
    def money(value: Decimal | None) -> str | None:
        return None if value is None else f"{value:.2f}"

    return {"id": report.system_id, "kind": report.kind, "fiscal_year": report.fiscal_year,
            "period": report.period, "currency": report.currency, "prepared_by": report.prepared_by,
            "chief_accountant": report.chief_accountant, "head": report.head,
            "statements": [{"kind": s.kind, "title": s.title,
                            "items": [{"line_no": i.line_no, "name": i.name, "code": i.code,
                                       "current": money(i.current), "prior": money(i.prior)} for i in s.items]}
                           for s in report.statements]}


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def ledger_from_json(obj: Mapping) -> LedgerBook:
    return LedgerBook(
        str(obj["kind"]), int(obj["fiscal_year"]), int(obj["period"]),
        tuple(LedgerLine(str(ln["kind"]), str(ln["account_code"]), ln.get("account_name"), str(ln["summary"]),
                         Decimal(ln["debit"]), Decimal(ln["credit"]), Decimal(ln["balance"]),
                         date=_date(ln.get("date")), voucher_number=ln.get("voucher_number"))
              for ln in obj["lines"]),
        book=obj.get("book"), currency=obj.get("currency") or "CNY", prepared_by=obj.get("prepared_by"),
        reviewed_by=obj.get("reviewed_by"), system_id=obj.get("id"))


def report_from_json(obj: Mapping) -> FinancialReport:
    def money(value: str | None) -> Decimal | None:
        return None if value is None else Decimal(value)

    return FinancialReport(
        str(obj["kind"]), int(obj["fiscal_year"]), int(obj["period"]),
        tuple(Statement(str(s["kind"]), str(s["title"]),
                        tuple(ReportItem(int(i["line_no"]), str(i["name"]), money(i.get("current")),
                                         money(i.get("prior")), i.get("code")) for i in s["items"]))
              for s in obj["statements"]),
        currency=obj.get("currency") or "CNY", prepared_by=obj.get("prepared_by"),
        chief_accountant=obj.get("chief_accountant"), head=obj.get("head"), system_id=obj.get("id"))


__all__ = ["ledger_from_json", "ledger_json", "ledgers_from_vouchers", "report_from_json", "report_json",
           "reports_from_vouchers", "top_level"]
