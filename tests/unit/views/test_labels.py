"""The pages' vocabularies (views/labels.py): every code the records can hold has its
Chinese word, and times are Beijing time, labelled."""
from __future__ import annotations

import datetime as dt

import pytest

from invoice_archive.models import ClaimStatus, InvoiceStatus, OutboxStatus, Role
from invoice_archive.models.claim import CLAIM_STATUSES
from invoice_archive.ports.taxplatform import CheckStatus
from invoice_archive.services.search import INVOICE_STATUSES, VOUCHER_STATUSES
from invoice_archive.verification.report import RESULTS, VERDICTS
from invoice_archive.views import labels


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("codes, label", [
    (list(Role), labels.role),
    (list(ClaimStatus) + list(CLAIM_STATUSES) + list(VOUCHER_STATUSES), labels.claim_status),
    (list(InvoiceStatus) + list(INVOICE_STATUSES), labels.invoice_status),
    (list(ClaimStatus) + list(InvoiceStatus) + list(OutboxStatus) + list(CheckStatus), labels.status),
    (sorted(VERDICTS), labels.verdict),
    (sorted(RESULTS), labels.check_result),
    (["kingdee", "u8", "generic_json", "generic"], labels.system),
])
def test_every_code_has_a_chinese_word(codes, label):
    missing = [c for c in codes if not _chinese(label(c))]
    assert not missing


def test_the_words_people_asked_for():
    assert [labels.role(r) for r in ("finance", "approver", "auditor")] == ["财务", "审批人", "审计人员"]
    assert labels.status("posted") == "已入账" and labels.status("reversed") == "已冲销"
    assert [labels.system(s) for s in ("kingdee", "u8", "generic")] == ["金蝶", "用友U8", "通用接口"]


def test_a_code_without_a_word_is_shown_as_it_is():
    assert labels.role("someone_new") == "someone_new"
    assert labels.system("sap") == "sap"
    assert labels.status(None) == ""


@pytest.mark.parametrize("utc, shown", [
    (dt.datetime(2024, 7, 20, 23, 10, 29, tzinfo=dt.timezone.utc), "2024-07-21 07:10:29 北京时间"),
    (dt.datetime(2024, 12, 31, 16, 0, 0, tzinfo=dt.timezone.utc), "2025-01-01 00:00:00 北京时间"),
    (dt.datetime(2024, 7, 20, 1, 2, 3), "2024-07-20 09:02:03 北京时间"),    # naive is taken as UTC
    (dt.datetime(2024, 7, 20, 9, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=8))), "2024-07-20 09:02:03 北京时间"),
])
def test_times_are_beijing_time(utc, shown):
    assert labels.beijing(utc) == shown


def test_the_templates_get_every_vocabulary_as_a_filter():
    assert set(labels.FILTERS) >= {"role", "status", "claim_status", "invoice_status", "system", "verdict",
                                   "check", "check_result", "beijing"}


def test_the_search_page_offers_only_orders_the_search_knows():
    from invoice_archive.services.search import VOUCHER_SORTS

    assert {key.lstrip("-") for key in labels.VOUCHER_SORT_LABELS} <= set(VOUCHER_SORTS)
    assert all(_chinese(word) for word in labels.VOUCHER_SORT_LABELS.values())
