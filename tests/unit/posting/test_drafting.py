from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoice_archive.posting.drafting import (
    AccountMapping, ClaimForPosting, InvoiceForPosting, MappingError, business_date, draft_voucher, external_ref,
)

MAPPING = AccountMapping(book="001", voucher_word="记", expense={"default": "6602", "travel": "6602.03"},
                         input_vat="2221.01.01", credit="2241.01")


def claim(*invoices: InvoiceForPosting, category: str = "travel") -> ClaimForPosting:
    total = sum((i.total for i in invoices), Decimal("0.00"))
    return ClaimForPosting(number="BX-2024-0001", title="差旅费", claimant="张经办", expense_category=category,
                           total=total, invoices=invoices)


NORMAL = InvoiceForPosting("digital_normal", Decimal("1000.00"), Decimal("60.00"), Decimal("1060.00"))
SPECIAL = InvoiceForPosting("vat_e_special", Decimal("24519.05"), Decimal("735.57"), Decimal("25254.62"))


def test_normal_invoices_are_expensed_at_their_total():
    v = draft_voucher(claim(NORMAL), MAPPING, ref="IA-1", date=dt.date(2024, 7, 1), preparer="x")
    assert [(e.account_code, e.debit, e.credit) for e in v.entries] == [
        ("6602.03", Decimal("1060.00"), Decimal("0.00")), ("2241.01", Decimal("0.00"), Decimal("1060.00"))]
    assert v.is_balanced and v.problems() == []
    assert (v.fiscal_year, v.period, v.attachment_count) == (2024, 7, 1)
    assert "张经办" in v.entries[0].summary and "BX-2024-0001" in v.entries[0].summary


def test_special_vat_splits_input_vat_and_balances_to_the_cent():
    v = draft_voucher(claim(SPECIAL, NORMAL, category="office"), MAPPING,
                      ref="IA-1", date=dt.date(2024, 7, 1), preparer="x")
    lines = [(e.account_code, e.debit, e.credit) for e in v.entries]
    assert lines == [("6602", Decimal("25579.05"), Decimal("0.00")),
                     ("2221.01.01", Decimal("735.57"), Decimal("0.00")),
                     ("2241.01", Decimal("0.00"), Decimal("26314.62"))]
    assert v.debit_total == v.credit_total == Decimal("26314.62")


def test_incomplete_mapping_is_refused():
    with pytest.raises(MappingError, match="posting.account.expense.default"):
        AccountMapping(book="001", voucher_word="记", expense={}, input_vat="2221", credit="2241")
    with pytest.raises(MappingError, match="posting.account.credit"):
        AccountMapping(book="001", voucher_word="记", expense={"default": "6602"}, input_vat="2221", credit=" ")


def test_reference_is_deterministic_and_dates_are_china_dates():
    assert external_ref("Z001", "BX-2024-0001", 1) == "IA-Z001-BX-2024-0001-v1"
    late_utc = dt.datetime(2024, 7, 31, 17, 0, tzinfo=dt.timezone.utc)   # 01:00 on 1 August in Beijing
    assert business_date(late_utc) == dt.date(2024, 8, 1)
