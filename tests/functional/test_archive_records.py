"""A period's ledgers and reports, exported by the accounting system through its port, and the
bank statements received through intake, archived as items of classes ZB, BG and QT with the
retention 会计档案管理办法 附表1 gives each (docs/records.md)."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import pytest

from invoice_archive.synth.bank import bank_statement
from tests.support.records import (
    accounting_settings, archive_records, book, china_today, fake_books, receive_statement,
)


@pytest.fixture
def books():
    with fake_books() as server:
        yield server


@pytest.fixture
def service_overrides(books):
    return accounting_settings(books)


def _package(svc, item_id: int) -> dict[str, bytes]:
    body = svc.app.get(f"/api/v1/archive/items/{item_id}/package", headers=svc.headers("王审计")).body
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {name.split("/", 1)[1]: zf.read(name) for name in zf.namelist()}


def _record(files: dict[str, bytes]) -> ET.Element:
    [name] = [n for n in files if n.startswith("data/") and "-01-" in n]
    return ET.fromstring(files[name])


def test_a_periods_ledgers_and_reports_are_archived_with_their_retention(service, books):
    book(books, "IA-BX-2024-0001-v1", year=2024, period=6, amount="1060.00", tax="60.00")
    book(books, "IA-BX-2024-0002-v1", year=2024, period=6, day=25, amount="530.00", tax="30.00")
    run = archive_records(service, 2024, 6).json
    assert run["failed"] == [] and run["sources"] == ["accounting_system", "intake"]
    got = {i["record_kind"]: i for i in run["archived"]}
    assert set(got) == {"general_ledger", "subsidiary_ledger", "bank_journal", "monthly_report", "quarterly_report",
                        "half_year_report"}       # no cash journal: 1001 never moved
    ledger, month = got["general_ledger"], got["monthly_report"]
    assert ledger["archival_code"] == "Z001-ZB·2024·D30-0006-0001"
    assert (ledger["category"], ledger["retention"], ledger["retention_until"]) == ("ledger", "D30", "2054-12-31")
    assert got["subsidiary_ledger"]["archival_code"] == "Z001-ZB·2024·D30-0006-0002"
    assert got["bank_journal"]["archival_code"] == "Z001-ZB·2024·D30-0006-0003"
    assert [got[k]["archival_code"] for k in ("monthly_report", "quarterly_report", "half_year_report")] == [
        "Z001-BG·2024·D10-0006-0001", "Z001-BG·2024·D10-0006-0002", "Z001-BG·2024·D10-0006-0003"]
    assert (month["category"], month["retention_until"]) == ("monthly_report", "2034-12-31")
    assert month["document_number"] == "YB-2024-06" and month["title"] == "2024年6月财务会计报告"
    for item in run["archived"]:
        assert item["checks"]["registrable"] is True and item["voucher_id"] is None, item["checks"]
    # the ledger is the accounting system's, line for line
    root = _record(_package(service, ledger["id"]))
    assert root.tag == "会计账簿" and root.findtext("文号") == "ZZ-2024-06"
    totals = {ln.get("科目编码"): (ln.get("借方"), ln.get("贷方")) for ln in root.iter("行")
              if ln.get("摘要") == "本期合计"}
    assert totals["6602"] == ("1500.00", "0.00") and totals["1002"] == ("0.00", "1590.00")
    # the metadata says what the record is and how long it is kept
    files = _package(service, month["id"])
    meta = ET.fromstring(files[f"data/{month['archival_code']}-metadata.xml"])
    category = meta.find("会计档案类别")
    assert (category.text, category.get("代码")) == ("月度、季度、半年度财务会计报告", "monthly_report")
    assert meta.find("档号").get("保管期限") == "D10" and meta.findtext("保管期限截止") == "2034-12-31"


def test_the_annual_report_is_kept_permanently(service, books):
    book(books, "IA-BX-2024-0009-v1", year=2024, period=12)
    run = archive_records(service, 2024, 12).json
    annual = next(i for i in run["archived"] if i["record_kind"] == "annual_report")
    assert annual["archival_code"] == "Z001-BG·2024·Y-0012-0001"
    assert (annual["category"], annual["retention"], annual["retention_until"]) == ("annual_report", "Y", None)
    root = _record(_package(service, annual["id"]))
    assert root.findtext("文号") == "NB-2024" and root.findtext("单位负责人") == "王总"
    sheet = {i.get("项目名称"): i.get("本期金额") for i in root.find("报表[@类型='balance_sheet']")}
    assert sheet["资产总计"] == sheet["负债和所有者权益总计"]


def test_a_record_is_archived_once_and_never_rewritten(service, books):
    book(books, "IA-BX-2024-0003-v1", year=2024, period=7)
    first = archive_records(service, 2024, 7).json
    again = archive_records(service, 2024, 7).json
    assert again["archived"] == [] and sorted(again["already_archived"]) == sorted(
        i["archival_code"] for i in first["archived"])
    # a voucher posted into the closed month afterwards changes its books: refused, not overwritten
    book(books, "IA-BX-2024-0004-v1", year=2024, period=7, day=28)
    refused = archive_records(service, 2024, 7, status=409).json["error"]
    assert refused["code"] == "record_changed" and refused["detail"]["archival_code"].startswith("Z001-ZB·2024")
    assert service.count("archive_items") == len(first["archived"])


def test_a_longer_retention_setting_is_used(db_url, tmp_path, books):
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path / "store", **accounting_settings(books), **{"archive.retention.ledger": "40"})
    try:
        book(books, "IA-BX-2024-0005-v1", year=2024, period=8)
        items = archive_records(svc, 2024, 8).json["archived"]
        ledger = next(i for i in items if i["record_kind"] == "general_ledger")
        assert ledger["archival_code"] == "Z001-ZB·2024·D40-0008-0001" and ledger["retention_until"] == "2064-12-31"
    finally:
        svc.engine.dispose()


def test_bank_statements_come_in_through_intake_and_are_archived_as_other_records(service, books):
    statement = receive_statement(service, year=2024, month=5)
    assert statement["kind"] == "bank_statement"
    run = archive_records(service, 2024, 5, sources=["intake"]).json
    [item] = run["archived"]
    assert item["archival_code"] == "Z001-QT·2024·D10-0005-0001"
    assert (item["category"], item["record_kind"], item["retention_until"]) == ("bank_statement", "bank_statement",
                                                                               "2034-12-31")
    files = _package(service, item["id"])
    original = service.app.get(f"/api/v1/invoices/{statement['id']}/original", headers=service.headers("王审计")).body
    [filed] = [data for name, data in files.items() if "-02-原件" in name]
    assert filed == original == bank_statement(year=2024, month=5)    # byte for byte
    assert _record(files).findtext("账号") == "6216600000000000001"
    inv = service.app.get(f"/api/v1/invoices/{statement['id']}", headers=service.headers("王审计")).json
    assert inv["status"] == "archived"
    assert archive_records(service, 2024, 5, sources=["intake"]).json["already_archived"] == [item["archival_code"]]


def test_the_items_can_be_found_by_class_and_kind(service, books):
    book(books, "IA-BX-2024-0006-v1", year=2024, period=9)
    receive_statement(service, year=2024, month=9)
    archive_records(service, 2024, 9)
    auditor = service.headers("王审计")
    assert {i["archive_class"] for i in service.app.get("/api/v1/archive/items?class=QT", headers=auditor).json["items"]} \
        == {"QT"}
    found = service.app.get("/api/v1/archive/items?record_kind=quarterly_report", headers=auditor).json
    assert [i["document_number"] for i in found["items"]] == ["JB-2024-Q3"]


def test_a_period_not_yet_over_is_refused(service, books):
    today = china_today()
    error = archive_records(service, today.year, today.month, status=409).json["error"]
    assert error["code"] == "period_not_ended"


def test_an_accounting_system_that_cannot_answer_is_a_clear_503(service, books):
    books.app.fail_next("unavailable")
    error = archive_records(service, 2024, 10, status=503).json["error"]
    assert error["code"] == "accounting_export_failed" and error["detail"]["retryable"] is True
    assert service.count("archive_items") == 0


def test_without_an_accounting_system_only_intake_records_are_archived(db_url, tmp_path):
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path / "store")
    try:
        receive_statement(svc, year=2024, month=4)
        run = archive_records(svc, 2024, 4).json
        assert run["sources"] == ["intake"] and len(run["archived"]) == 1
        error = archive_records(svc, 2024, 4, sources=["accounting_system"], status=409).json["error"]
        assert error["code"] == "accounting_system_unconfigured"
    finally:
        svc.engine.dispose()


def test_a_check_not_performed_blocks_a_record_until_waived(db_url, tmp_path, books):
    from tests.support.app import make_service
    from tests.support.clamav import unavailable_scanner_settings

    svc = make_service(db_url, tmp_path / "store", **accounting_settings(books), **unavailable_scanner_settings())
    try:
        book(books, "IA-BX-2024-0007-v1", year=2024, period=11)
        run = svc.app.post_json("/api/v1/archive/records", {"fiscal_year": 2024, "period": 11},
                                headers=svc.headers("赵档案"), status=201).json
        assert run["archived"] == [] and {f["code"] for f in run["failed"]} == {"four_property_check_not_performed"}
        assert svc.count("archive_items") == 0 and not [p for p in svc.stored_files() if "packages" in str(p)]
        run = svc.app.post_json("/api/v1/archive/records", {"fiscal_year": 2024, "period": 11, "waive": {
            "checks": ["GD-4-1", "GD-4-2"], "reason": "病毒库更新中，经档案科长批准先行归档"}},
            headers=svc.headers("赵档案"), status=201).json
        assert run["failed"] == [] and run["archived"]
        assert run["archived"][0]["checks"]["waivers"][0]["reason"] == "病毒库更新中，经档案科长批准先行归档"
    finally:
        svc.engine.dispose()


def test_only_an_archivist_archives_records(service, books):
    for who in ("张经办", "李审核", "王审计", "总账系统"):
        assert archive_records(service, 2024, 6, who=who, status=403).json["error"]["code"]
