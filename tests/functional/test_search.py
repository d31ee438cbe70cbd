"""Auditors' search over the HTTP API, on the test database (SQLite or PostgreSQL)."""
from __future__ import annotations

from typing import Any

import pytest

from invoice_archive.services.search import invoice_number_keys
from tests.support.invoices import synthetic_xml
from tests.support.web import sign_in
from tests.support.journey import (
    approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report,
)

SELLERS = {
    "24992000000000000011": ("上海云帆软件有限公司", "91310000MA1FL0XX1A"),
    "24992000000000000012": ("北京远山咨询有限公司", "91110000MA00ABCD2B"),
    "24992000000000000013": ("上海云帆软件有限公司", "91310000MA1FL0XX1A"),
}


def _posted(service: Any, numbers: list[str], voucher_number: str, *, period: int = 7,
            date: str = "2024-07-20") -> dict[str, Any]:
    ids = []
    for n in numbers:
        name, tax_id = SELLERS[n]
        ids.append(post_invoice(service, synthetic_xml(n, seller_name=name, seller_tax_id=tax_id),
                                f"{n}.xml").json["id"])
    claim = create_claim(service, ids).json
    approved = approve_claim(service, claim["id"])
    return post_voucher(service, voucher_report(approved, number=voucher_number, period=period, date=date)).json


@pytest.fixture
def vouchers(service: Any) -> dict[str, dict[str, Any]]:
    v7 = _posted(service, ["24992000000000000011", "24992000000000000012"], "0007")
    v8 = _posted(service, ["24992000000000000013"], "0008", period=8, date="2024-08-05")
    archive_period(service, 2024, 7)
    return {"0007": v7, "0008": v8}


def full_width(text: str) -> str:
    """Digits and "-" as a Chinese input method types them (U+FF10..FF19, U+FF0D)."""
    return text.translate({**{ord(d): 0xFF10 + int(d) for d in "0123456789"}, ord("-"): 0xFF0D})


def search(service: Any, kind: str = "vouchers", who: str = "王审计", expect: int = 200, **params: Any) -> Any:
    return service.app.get(f"/api/v1/search/{kind}", params=params, headers=service.headers(who), status=expect)


def test_by_invoice_number_finds_the_voucher_and_is_audited(service, vouchers):
    found = search(service, invoice_number="24992000000000000012").json
    assert found["total"] == 1
    [v] = found["items"]
    assert v["display_number"] == "记-0007"
    assert v["archival_code"].startswith("Z001-PZ·2024")
    assert {i["number"] for i in v["invoices"]} == {"24992000000000000011", "24992000000000000012"}
    events = service.app.get("/api/v1/audit/events", params={"object_type": "search"},
                             headers=service.headers("王审计")).json["items"]
    assert events[-1]["actor"] == "王审计"
    assert events[-1]["action"] == "search.vouchers"
    assert events[-1]["detail"]["query"] == {"invoice_number": "24992000000000000012"}
    assert events[-1]["detail"]["total"] == 1


@pytest.mark.parametrize("params, expected", [
    ({"voucher_number": "记-0007"}, ["记-0007"]),
    ({"voucher_number": "0008"}, ["记-0008"]),
    ({"voucher_number": "8"}, ["记-0008"]),
    ({"fiscal_year": 2024, "period": 8}, ["记-0008"]),
    ({"seller": "云帆"}, ["记-0008", "记-0007"]),
    ({"seller": "远山", "period": 8}, []),
    ({"seller_tax_id": "91110000MA00ABCD2B"}, ["记-0007"]),
    ({"status": "archived"}, ["记-0007"]),
    ({"status": "posted"}, ["记-0008"]),
    ({"invoice_number": "24992000000000000099"}, []),
])
def test_voucher_criteria(service, vouchers, params, expected):
    found = search(service, **params).json
    assert [v["display_number"] for v in found["items"]] == expected
    assert found["total"] == len(expected)


def test_amount_range_and_archival_code(service, vouchers):
    v7 = vouchers["0007"]
    total = v7["debit_total"]
    assert [v["display_number"] for v in search(service, amount_min=total, amount_max=total).json["items"]] \
        == ["记-0007"]
    code = search(service, voucher_number="0007").json["items"][0]["archival_code"]
    assert [v["display_number"] for v in search(service, archival_code=code).json["items"]] == ["记-0007"]


def test_sorted_and_paginated(service, vouchers):
    first = search(service, sort="number", limit=1).json
    assert (first["total"], first["limit"], first["offset"], first["sort"]) == (2, 1, 0, "number")
    assert [v["display_number"] for v in first["items"]] == ["记-0007"]
    second = search(service, sort="number", limit=1, offset=1).json
    assert [v["display_number"] for v in second["items"]] == ["记-0008"]
    assert [v["display_number"] for v in search(service, sort="-amount").json["items"]][0] in ("记-0007", "记-0008")


def test_invoice_search(service, vouchers):
    found = search(service, "invoices", seller="云帆", sort="number").json
    assert [i["number"] for i in found["items"]] == ["24992000000000000011", "24992000000000000013"]
    assert found["items"][0]["voucher"]["display_number"] == "记-0007"
    assert search(service, "invoices", status="posted").json["total"] == 1
    assert search(service, "invoices", voucher_number="记-0007").json["total"] == 2


def test_invoices_by_period_and_status(service, vouchers):
    """The period is the posting voucher's (copied onto the invoice when linked)."""
    july = search(service, "invoices", fiscal_year=2024, period=7, sort="number").json
    assert [i["number"] for i in july["items"]] == ["24992000000000000011", "24992000000000000012"]
    assert {i["voucher"]["period"] for i in july["items"]} == {7}
    assert search(service, "invoices", fiscal_year=2024, period=7, status="archived").json["total"] == 2
    assert search(service, "invoices", fiscal_year=2024, period=7, status="posted").json["total"] == 0
    august = search(service, "invoices", fiscal_year=2024, period=8, status="posted").json
    assert [(i["number"], i["voucher"]["display_number"]) for i in august["items"]] \
        == [("24992000000000000013", "记-0008")]
    assert search(service, "invoices", fiscal_year=2023).json["total"] == 0
    unposted = post_invoice(service, synthetic_xml("24992000000000000014"), "14.xml").json
    assert unposted["id"] not in [i["id"] for i in search(service, "invoices", period=7).json["items"]]


def test_refusals(service, vouchers):
    bad_sort = search(service, sort="password", expect=422).json
    assert bad_sort["error"]["code"] == "invalid_sort"
    assert "date" in bad_sort["error"]["detail"]["allowed"]
    assert search(service, expect=422, status="nonsense").json["error"]["code"] == "invalid_search"
    assert search(service, amount_min="abc", expect=400).json["error"]["code"] == "validation_failed"
    assert search(service, who="张经办", expect=403).json["error"]["code"] == "forbidden"
    service.app.get("/api/v1/search/vouchers", status=401)


def test_other_organisations_invisible(service, vouchers):
    service.add_org("另一家公司", "91440300MA5XXXXX0X", "Z002")
    service.add_person("外审计", "auditor", "91440300MA5XXXXX0X")
    assert search(service, who="外审计", invoice_number="24992000000000000012").json["total"] == 0


@pytest.mark.parametrize("given, numbers, keys", [
    ("24992000000000000001", ["24992000000000000001"], ["24992000000000000001", "249920000000-00000001"]),
    ("2499 2000 0000 0000 0001", ["24992000000000000001"], ["24992000000000000001", "249920000000-00000001"]),
    ("2499-2000-0000-0000-0001", ["24992000000000000001"], ["24992000000000000001", "249920000000-00000001"]),
    (full_width("24992000000000000001"), ["24992000000000000001"],
     ["24992000000000000001", "249920000000-00000001"]),
    (full_width("2499 2000-0000 0000 0001").replace(" ", "\u3000"), ["24992000000000000001"],
     ["24992000000000000001", "249920000000-00000001"]),
    ("2499–2000–0000–0000–0001", ["24992000000000000001"], ["24992000000000000001", "249920000000-00000001"]),
    ("12345678", ["12345678"], ["12345678"]),
    # code + number: the same digits, however they are grouped
    ("044001900111-12345678", ["04400190011112345678"], ["04400190011112345678", "044001900111-12345678"]),
    ("044001900111 12345678", ["04400190011112345678"], ["04400190011112345678", "044001900111-12345678"]),
    ("4400190011-12345678", ["440019001112345678"], ["440019001112345678", "4400190011-12345678"]),
    # not digits: a business key as written
    ("BKER-104-0001", [], ["BKER-104-0001", "BKER104-0001"]),
])
def test_invoice_number_forms(given, numbers, keys):
    assert invoice_number_keys(given) == (numbers, keys)


@pytest.mark.parametrize("given", [
    "24992000000000000012", "2499 2000 0000 0000 0012", "2499-2000-0000-0000-0012", " 2499 2000-0000 0000 0012 ",
    full_width("24992000000000000012"), full_width("2499 2000 0000 0000 0012").replace(" ", "\u3000"),
    full_width("2499-2000-0000-0000-0012"),
])
def test_any_form_of_the_invoice_number_finds_the_voucher(service, vouchers, given):
    """README: an invoice number in any form, grouped with spaces or dashes, in full-width
    digits (as copied from a PDF or typed with a Chinese input method), over the API."""
    for kind, shown in (("vouchers", "display_number"), ("invoices", "number")):
        found = search(service, kind, invoice_number=given).json
        assert found["total"] == 1, (kind, given, found)
    [v] = search(service, invoice_number=given).json["items"]
    assert v["display_number"] == "记-0007"
    [inv] = search(service, "invoices", invoice_number=given).json["items"]
    assert inv["number"] == "24992000000000000012"
    items = service.app.get("/api/v1/archive/items", params={"invoice_number": given},
                            headers=service.headers("王审计")).json
    assert [i["voucher_number"] for i in items["items"]] == ["记-0007"]
    # the audit log keeps what the auditor typed
    events = service.app.get("/api/v1/audit/events", params={"object_type": "search", "limit": 500},
                             headers=service.headers("王审计")).json["items"]
    assert events[-1]["detail"]["query"]["invoice_number"] == given.strip()


def test_any_form_of_the_invoice_number_on_the_web_search_page(service, vouchers):
    sign_in(service)
    for given in ("2499 2000 0000 0000 0012", "2499-2000-0000-0000-0012", full_width("24992000000000000012")):
        page = service.app.get("/audit/", params={"invoice_number": given})
        assert "共找到 1 张凭证" in page.text, given
        assert "记-0007" in page.text
    page = service.app.get("/audit/", params={"invoice_number": "2499 2000 0000 0000 0099"})
    assert "共找到 0 张凭证" in page.text
