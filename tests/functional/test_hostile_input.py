"""Hostile input over the API: every refusal is a 4xx in the JSON error shape, with
a code; nothing answers 500 (on SQLite and, where it is stricter, PostgreSQL)."""
from __future__ import annotations

import json

import pytest

from tests.support.invoices import synthetic_xml
from tests.support.journey import post_invoice

BIG = 2**31
HUGE = 10**24


def _ok_or_refused(resp) -> None:
    assert resp.status_int < 500, (resp.status, resp.body[:300])
    if resp.status_int >= 400:
        assert resp.content_type == "application/json", resp.body[:200]
        assert resp.json["error"]["code"]


def _post_json(service, path, body, who="张经办"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return service.app.post(path, data, headers={**service.headers(who), "Content-Type": "application/json"},
                            expect_errors=True)


@pytest.mark.parametrize("title", ["差旅\x00费", "bad \ud800 surrogate", "x" * 10_000])
def test_text_that_a_database_cannot_keep_is_refused(service, title):
    inv = post_invoice(service, synthetic_xml(), "dzfp.xml").json
    r = _post_json(service, "/api/v1/claims", json.dumps({"title": title, "expense_category": "travel",
                                                         "invoice_ids": [inv["id"]]}).encode())
    _ok_or_refused(r)
    if "\x00" in title or "\ud800" in title:
        assert r.status_int == 400


@pytest.mark.parametrize("ids", [[BIG], [HUGE], [-BIG - 1]])
def test_ids_no_row_can_have_in_a_body_are_refused(service, ids):
    r = _post_json(service, "/api/v1/claims", {"title": "t", "expense_category": "travel", "invoice_ids": ids})
    _ok_or_refused(r)
    assert r.status_int in (400, 404, 409, 422)


@pytest.mark.parametrize("query", [f"limit={BIG}", f"offset={HUGE}", f"offset={BIG}", "limit=-1",
                                   "status=%00", "number=%ff%fe", "number=a%00b"])
def test_query_parameters_out_of_range_or_not_text_are_refused(service, query):
    r = service.app.get(f"/api/v1/invoices?{query}", headers=service.headers("王审计"), expect_errors=True)
    _ok_or_refused(r)


@pytest.mark.parametrize("path", [f"/api/v1/archive/items?fiscal_year={BIG}", f"/api/v1/archive/items?period={HUGE}",
                                  f"/api/v1/search/vouchers?fiscal_year={BIG}",
                                  f"/api/v1/audit/events?limit={BIG}&offset={HUGE}"])
def test_numbers_beyond_the_columns_in_searches_are_refused_or_find_nothing(service, path):
    _ok_or_refused(service.app.get(path, headers=service.headers("王审计"), expect_errors=True))


def test_json_nested_thousands_deep_is_refused(service):
    r = _post_json(service, "/api/v1/claims", b"[" * 5000 + b"]" * 5000)
    _ok_or_refused(r)
    assert r.status_int == 400


def test_a_body_that_is_not_utf8_is_refused(service):
    r = _post_json(service, "/api/v1/claims", b'{"title": "\xff\xfe"}')
    _ok_or_refused(r)
    assert r.status_int == 400


def test_an_archive_run_for_a_year_no_column_holds_is_refused(service):
    r = _post_json(service, "/api/v1/archive/runs", {"fiscal_year": BIG, "period": 7}, who="赵档案")
    _ok_or_refused(r)


def test_a_voucher_report_with_a_24_digit_amount_is_refused(service):
    r = _post_json(service, "/api/v1/vouchers", {
        "claim_number": "BX-1", "voucher_word": "记", "voucher_number": "0001", "fiscal_year": 2024, "period": 7,
        "date": "2024-07-20", "external_ref": "IA-Z001-BX-1-v1", "prepared_by": "x",
        "entries": [{"summary": "s", "account_code": "6602", "debit": "1" * 24, "credit": "0"},
                    {"summary": "s", "account_code": "1002", "debit": "0", "credit": "1" * 24}]},
        who="总账系统")
    _ok_or_refused(r)


def test_trace_is_not_allowed(service):
    r = service.app.request("/api/v1/invoices", method="TRACE", headers=service.headers("王审计"),
                            expect_errors=True)
    assert r.status_int == 405
