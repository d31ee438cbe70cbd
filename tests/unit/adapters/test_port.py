"""The plain data of the accounting port."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoice_archive.ports.accounting import AccountingError, DraftEntry, DraftVoucher, Outcome, PostResult

D = Decimal


def draft(*entries: DraftEntry, **kw) -> DraftVoucher:
    values = dict(external_ref="IA-BX-2024-0031-v1", book="001", fiscal_year=2024, period=6,
                  date=dt.date(2024, 6, 28), preparer="张三", attachment_count=1,
                  entries=entries or (DraftEntry("差旅费", "6602", D("526.00"), D("0")),
                                      DraftEntry("差旅费", "1002", D("0"), D("526.00"))))
    values.update(kw)
    return DraftVoucher(**values)


def test_money_is_decimal_never_float():
    with pytest.raises(TypeError):
        DraftEntry("x", "6602", 526.0, D("0"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DraftEntry("x", "6602", D("1.005"), D("0"))
    assert DraftEntry("x", "6602", D("1.5"), 0).debit == D("1.50")


def test_auxiliary_is_read_only():
    entry = DraftEntry("x", "6602", D("1"), D("0"), {"department": "财务部"})
    with pytest.raises(TypeError):
        entry.auxiliary["supplier"] = "x"  # type: ignore[index]


def test_a_balanced_draft_has_no_problems():
    assert draft().is_balanced
    assert draft().problems() == []


def test_problems_are_listed_in_chinese():
    bad = draft(DraftEntry("差旅费", "6602", D("526.00"), D("0")),
                DraftEntry("", "1002", D("0"), D("525.00")), period=13, external_ref="IA 1")
    problems = bad.problems()
    assert "借贷不平衡：借方合计 526.00，贷方合计 525.00" in problems
    assert any("会计期间 13" in p for p in problems)
    assert any("外部参考号" in p for p in problems)
    assert any("第 2 条分录缺少摘要" in p for p in problems)


def test_date_must_be_a_date():
    with pytest.raises(TypeError):
        draft(date=dt.datetime(2024, 6, 28))


def test_a_post_result_turns_into_an_error_when_not_posted():
    assert PostResult(Outcome.POSTED, "0042", "17").error() is None
    rejected = PostResult("rejected", message="期间已结账", code="period_closed").error()
    assert rejected.code == "period_closed" and not rejected.retryable
    assert PostResult.unknown("超时").error().retryable
    assert PostResult.retryable("拒绝连接").error().code == "unreachable"


def test_accounting_error_is_permanent_for_auth():
    assert AccountingError("auth_failed", "认证失败").retryable is False
    assert AccountingError("unreachable", "连不上").retryable is True
    assert "auth_failed" in str(AccountingError("auth_failed", "认证失败"))
