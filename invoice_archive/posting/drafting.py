"""Drafting a voucher (记账凭证) from an approved claim: pure, no database.

The account mapping comes from settings (parsed into ``Settings.posting.mapping``):

    posting.book = 001                          account book / company code
    posting.voucher_word = 记
    posting.account.expense.default = 6602      expense account per claim category
    posting.account.expense.travel = 6602.03
    posting.account.input_vat = 2221.01.01      应交税费-应交增值税(进项税额)
    posting.account.credit = 2241.01            其他应付款 (or 1002 bank)

Special VAT invoices (专票) split into the expense (excluding tax) and the
deductible input VAT; every other invoice is expensed at its total. The credit
line carries the claim's total, so the voucher balances to the cent.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping, Sequence
from zoneinfo import ZoneInfo

from invoice_archive.ports.accounting import DraftEntry, DraftVoucher

CHINA = ZoneInfo("Asia/Shanghai")
ZERO = Decimal("0.00")
#: kinds whose tax is deductible input VAT (进项税额)
DEDUCTIBLE_KINDS = frozenset({"vat_e_special", "digital_special"})


class MappingError(ValueError):
    """The account mapping is incomplete. ``setting`` names what is missing."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting} {problem}")
        self.setting = setting
        self.problem = problem


@dataclass(frozen=True)
class AccountMapping:
    book: str
    voucher_word: str
    expense: Mapping[str, str]
    input_vat: str
    credit: str
    credit_name: str = "其他应付款"

    def __post_init__(self) -> None:
        # built from the posting.* settings by invoice_archive.settings.parse()
        if not str(self.expense.get("default") or "").strip():
            raise MappingError("posting.account.expense.default", "must be set (默认费用科目)")
        for category, account in self.expense.items():
            if not str(account).strip():
                raise MappingError(f"posting.account.expense.{category}", "must not be empty")
        for name, value in (("posting.account.input_vat", self.input_vat), ("posting.account.credit", self.credit)):
            if not str(value).strip():
                raise MappingError(name, "must be set")

    def expense_account(self, category: str) -> str:
        return self.expense.get(category, self.expense["default"])


@dataclass(frozen=True)
class ClaimForPosting:
    """What drafting needs to know of a claim (plain data, from the database)."""

    number: str
    title: str
    claimant: str
    expense_category: str
    total: Decimal
    invoices: Sequence[InvoiceForPosting] = field(default_factory=tuple)


@dataclass(frozen=True)
class InvoiceForPosting:
    kind: str
    amount_excl_tax: Decimal | None
    tax: Decimal | None
    total: Decimal


def external_ref(fonds_code: str, claim_number: str, version: int) -> str:
    """Deterministic: the same claim posting always has the same reference."""
    return f"IA-{fonds_code}-{claim_number}-v{version}"


def business_date(now: dt.datetime) -> dt.date:
    """Accounting dates are dates in China, whatever the server's zone."""
    return now.astimezone(CHINA).date()


def draft_voucher(claim: ClaimForPosting, mapping: AccountMapping, *, ref: str, date: dt.date,
                  preparer: str) -> DraftVoucher:
    expense = vat = ZERO
    for inv in claim.invoices:
        if inv.kind in DEDUCTIBLE_KINDS and inv.amount_excl_tax is not None and inv.tax is not None:
            expense += inv.amount_excl_tax
            vat += inv.tax
        else:
            expense += inv.total
    if expense + vat != claim.total:
        raise ValueError(f"claim {claim.number}: invoices add up to {expense + vat}, claim says {claim.total}")
    summary = f"报销{claim.claimant}{claim.title}（{claim.number}，{len(claim.invoices)}张发票）"
    entries = [DraftEntry(summary=summary, account_code=mapping.expense_account(claim.expense_category),
                          debit=expense, credit=ZERO)]
    if vat:
        entries.append(DraftEntry(summary=f"{summary} 进项税额", account_code=mapping.input_vat,
                                  debit=vat, credit=ZERO))
    entries.append(DraftEntry(summary=summary, account_code=mapping.credit, debit=ZERO, credit=claim.total,
                              account_name=mapping.credit_name))
    return DraftVoucher(external_ref=ref, book=mapping.book, fiscal_year=date.year, period=date.month,
                        date=date, preparer=preparer, entries=tuple(entries),
                        attachment_count=len(claim.invoices), voucher_word=mapping.voucher_word)
