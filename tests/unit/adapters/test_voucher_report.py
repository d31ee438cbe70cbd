"""The inbound voucher report (invoice_archive_adapters.generic_json.parse_voucher_report)."""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

from invoice_archive_adapters.generic_json import parse_voucher_report
from invoice_archive.ports.accounting import AccountingError

GOOD = {
    "claim_number": "BX-2024-0031",
    "voucher_number": "0042",
    "voucher_word": "记",
    "fiscal_year": 2024,
    "period": 6,
    "date": "2024-06-28",
    "external_ref": "IA-BX-2024-0031-v1",
    "prepared_by": "张三",
    "reviewed_by": "李四",
    "posted_by": None,
    "entries": [
        {"summary": "报销差旅费", "account_code": "6602.01", "account_name": "管理费用-差旅费",
         "debit": "480.00", "credit": "0.00"},
        {"summary": "进项税额", "account_code": "2221.01.01", "account_name": "应交税费-进项税额",
         "debit": "46", "credit": "0"},
        {"summary": "报销差旅费", "account_code": "1002", "account_name": "银行存款",
         "debit": "0.00", "credit": "526.00"},
    ],
}


def broken(**changes):
    payload = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is KeyError:
            payload.pop(key)
        else:
            payload[key] = value
    return payload


def problems_of(payload) -> list[dict]:
    with pytest.raises(AccountingError) as info:
        parse_voucher_report(payload)
    error = info.value
    assert error.code == "invalid_voucher_report"
    assert error.retryable is False
    assert "凭证报告" in error.message
    return error.raw["problems"]


def test_a_good_report_becomes_plain_data_with_decimals():
    report = parse_voucher_report(copy.deepcopy(GOOD))
    assert report.claim_number == "BX-2024-0031"
    assert report.voucher_number == "0042"
    assert report.voucher_word == "记"
    assert (report.fiscal_year, report.period) == (2024, 6)
    assert report.date == dt.date(2024, 6, 28)
    assert report.external_ref == "IA-BX-2024-0031-v1"
    assert (report.prepared_by, report.reviewed_by, report.posted_by) == ("张三", "李四", None)
    assert [e.debit for e in report.entries] == [Decimal("480.00"), Decimal("46.00"), Decimal("0.00")]
    assert all(isinstance(e.credit, Decimal) for e in report.entries)
    assert report.entries[2].credit == Decimal("526.00")
    assert [e.line_no for e in report.entries] == [1, 2, 3]
    assert report.debit_total == report.credit_total == Decimal("526.00")
    assert report.attachment_count is None


def test_the_report_is_frozen():
    report = parse_voucher_report(copy.deepcopy(GOOD))
    with pytest.raises(AttributeError):
        report.voucher_number = "0043"  # type: ignore[misc]


def test_optional_fields_may_be_null_or_absent():
    report = parse_voucher_report(broken(external_ref=None, reviewed_by=KeyError, posted_by="王五",
                                         attachment_count=3))
    assert report.external_ref is None
    assert report.reviewed_by is None
    assert report.posted_by == "王五"
    assert report.attachment_count == 3


@pytest.mark.parametrize("amount", [480.0, 480, "480.001", "-480.00", "4.8e2", "480,00", " 480.00", "", None])
def test_amounts_must_be_strings_with_at_most_two_decimals(amount):
    payload = copy.deepcopy(GOOD)
    payload["entries"][0]["debit"] = amount
    problems = problems_of(payload)
    assert any(p["field"] == "entries[1].debit" for p in problems)


def test_unbalanced_entries_are_refused_with_the_difference():
    payload = copy.deepcopy(GOOD)
    payload["entries"][2]["credit"] = "525.99"
    problems = problems_of(payload)
    assert problems == [{"field": "entries", "message": "借贷不平衡：借方合计 526.00，贷方合计 525.99，相差 0.01"}]


@pytest.mark.parametrize("debit, credit", [("0.00", "0.00"), ("1.00", "1.00")])
def test_each_entry_is_either_debit_or_credit(debit, credit):
    payload = copy.deepcopy(GOOD)
    payload["entries"].append({"summary": "x", "account_code": "1001", "account_name": None,
                               "debit": debit, "credit": credit})
    problems = problems_of(payload)
    assert any(p["field"] == "entries[4]" and "只能有一方" in p["message"] for p in problems)


@pytest.mark.parametrize("changes, field", [
    ({"claim_number": KeyError}, "claim_number"),
    ({"claim_number": "  "}, "claim_number"),
    ({"voucher_number": 42}, "voucher_number"),
    ({"voucher_word": None}, "voucher_word"),
    ({"fiscal_year": "2024"}, "fiscal_year"),
    ({"fiscal_year": True}, "fiscal_year"),
    ({"period": 13}, "period"),
    ({"period": 0}, "period"),
    ({"date": "2024/06/28"}, "date"),
    ({"date": "2024-02-30"}, "date"),
    ({"date": 20240628}, "date"),
    ({"external_ref": "IA 2024 '"}, "external_ref"),
    ({"prepared_by": None}, "prepared_by"),
    ({"reviewed_by": 7}, "reviewed_by"),
    ({"entries": []}, "entries"),
    ({"entries": "none"}, "entries"),
    ({"attachment_count": -1}, "attachment_count"),
    ({"voucher_number": "9" * 33}, "voucher_number"),
])
def test_malformed_fields_are_named(changes, field):
    problems = problems_of(broken(**changes))
    assert field in [p["field"] for p in problems]


def test_every_problem_is_reported_at_once_in_chinese():
    with pytest.raises(AccountingError) as info:
        parse_voucher_report(broken(period=13, date="yesterday", prepared_by=""))
    error = info.value
    assert len(error.raw["problems"]) == 3
    assert error.message.startswith("报销单 BX-2024-0031 的凭证报告有 3 处错误")
    assert "period" in error.message and "date" in error.message and "prepared_by" in error.message


def test_entries_must_be_objects_with_a_summary_and_an_account():
    payload = copy.deepcopy(GOOD)
    payload["entries"][0] = "480.00"
    payload["entries"][1]["account_code"] = ""
    payload["entries"][2].pop("summary")
    fields = [p["field"] for p in problems_of(payload)]
    assert fields == ["entries[1]", "entries[2].account_code", "entries[3].summary"]


@pytest.mark.parametrize("payload", [None, [], "{}", 42])
def test_a_report_that_is_not_an_object_is_refused(payload):
    problems_of(payload)
