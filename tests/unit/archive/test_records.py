"""Records other than vouchers in the pure core (docs/records.md): their 文号, 题名 and 类别号,
the lists' 已保管期限, and the four-property checks that tell a record's package from a
voucher's (GD-2-1 the record first, GD-1-8 its 文号, GD-2-5 its origin, GD-2-9 its category)."""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from invoice_archive.archive.checks import check_package
from invoice_archive.archive.lists import appraisal_opinion_xml, item_row, retention_text, years_kept
from invoice_archive.archive.metadata import item_metadata_xml
from invoice_archive.archive.package import ManifestEntry, PackageFile, build_bag
from invoice_archive.archive.records import class_code, document_number, ledger_xml, title
from invoice_archive.digests import sha256_hex, sm3_hex
from invoice_archive.ports.accounting import LedgerBook, LedgerLine

CODE = "Z001-ZB·2024·D30-0006-0001"
CREATED = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("kind, period, number, text", [
    ("general_ledger", 6, "ZZ-2024-06", "2024年6月总账"),
    ("bank_journal", 6, "YHRJZ-2024-06", "2024年6月银行存款日记账"),
    ("monthly_report", 6, "YB-2024-06", "2024年6月财务会计报告"),
    ("quarterly_report", 9, "JB-2024-Q3", "2024年第三季度财务会计报告"),
    ("half_year_report", 6, "BNB-2024-H1", "2024年上半年财务会计报告"),
    ("annual_report", 12, "NB-2024", "2024年度财务会计报告"),
])
def test_document_numbers_and_titles(kind, period, number, text):
    assert document_number(kind, 2024, period) == number
    assert title(kind, 2024, period) == text


def test_class_codes_by_kind():
    assert class_code("general_ledger", 2024, "D30") == "ZB·2024·D30"
    assert class_code("annual_report", 2024, "Y") == "BG·2024·Y"
    assert class_code("bank_statement", 2014, "D10") == "QT·2014·D10"
    assert class_code("destruction_list", 2026, "Y") == "QT·2026·Y"


def test_years_kept_count_from_the_day_after_the_fiscal_year():
    assert years_kept(2024, dt.date(2024, 12, 31)) == 0
    assert years_kept(2024, dt.date(2025, 12, 31)) == 0
    assert years_kept(2024, dt.date(2026, 1, 1)) == 1
    assert years_kept(2014, dt.date(2026, 12, 1)) == 11
    assert (retention_text("D30"), retention_text("Y")) == ("30年", "永久")
    row = item_row({"archival_code": CODE, "title": "t", "category": "总账、明细账、日记账", "fiscal_year": 2014,
                    "retention": "D10", "retention_until": dt.date(2024, 12, 31)}, dt.date(2026, 12, 1))
    assert (row["kept_text"], row["retention_text"], row["retention_until"]) == ("11年", "10年", "2024-12-31")


def test_an_appraisal_opinion_names_each_conclusion():
    rows = [item_row({"archival_code": c, "title": "x", "category": "银行对账单", "fiscal_year": 2014,
                      "retention": "D10", "retention_until": dt.date(2024, 12, 31)}, dt.date(2026, 12, 1))
            | {"conclusion": v, "reason": r} for c, v, r in
            (("Z001-QT·2014·D10-0003-0001", "销毁", "保管期满"), ("Z001-QT·2014·D10-0003-0002", "暂缓销毁", "诉讼未结"))]
    root = ET.fromstring(appraisal_opinion_xml(
        number="JD-2026-0001", org_name="南京测试买方有限公司", fonds="Z001", on=dt.date(2026, 12, 1),
        prepared_by="赵档案", participants=[{"name": "赵档案", "unit": "档案管理机构"}], opinion="可以销毁", rows=rows))
    assert root.findtext("文号") == "JD-2026-0001"
    assert [el.get("鉴定结论") for el in root.find("鉴定结果")] == ["销毁", "暂缓销毁"]
    assert {el.get("类型"): el.get("件数") for el in root.find("结论汇总")} == {"销毁": "1", "继续保管": "0",
                                                                              "暂缓销毁": "1"}


def _ledger() -> bytes:
    lines = (LedgerLine("opening", "6602", "管理费用", "期初余额", Decimal("0"), Decimal("0"), Decimal("0")),
             LedgerLine("total", "6602", "管理费用", "本期合计", Decimal("1000.00"), Decimal("0"), Decimal("1000.00")))
    return ledger_xml(LedgerBook("general_ledger", 2024, 6, lines, prepared_by="张会计"), source_system="kingdee")


def _package(*, files: list[PackageFile] | None = None, category: dict | None = None,
             events: list | None = None) -> tuple[bytes, dict]:
    files = files if files is not None else [PackageFile(f"{CODE}-01-总账.xml", _ledger(), "record",
                                                         "application/xml")]
    described = [ManifestEntry(f"data/{f.name}", f.role, f.media_type, len(f.data), sha256_hex(f.data),
                               sm3_hex(f.data)).as_dict() for f in files]
    meta = {"source_system": "kingdee", "org_name": "南京测试买方有限公司", "archival_code": CODE, "fonds": "Z001",
            "fiscal_year": 2024, "retention": "D30", "class_code": "ZB·2024·D30", "volume": "0006", "item": "0001",
            "title": "2024年6月总账", "date": "2024-06-30", "period": 6, "currency": "CNY", "prepared_by": "张会计",
            "reviewed_by": "", "posted_by": "", "retention_until": "2054-12-31", "signatures": [],
            "events": events if events is not None else [
                {"action": "record.exported", "at": "2026-12-01T08:00:00+00:00", "actor": "kingdee"}],
            "relations": [], "category": category or {"key": "ledger", "name": "总账、明细账、日记账"},
            "storage_location": f"packages/Z001/2024/{CODE}.zip",
            # DA/T 94's 编制日期 / 审核日期, 权限管理 and an empty 税务查验, as filing writes them
            "prepared_on": "2024-06-30", "reviewed_on": "", "tax_checks": [],
            "access": {"control": "内部", "grants": [{"to": "审计人员", "action": "查阅"}]}}
    files = [*files, PackageFile(f"{CODE}-metadata.xml", item_metadata_xml(meta, described), "metadata",
                                 "application/xml")]
    bag, manifest = build_bag(CODE, files, {"External-Identifier": CODE}, CREATED)
    manifest = [m.as_dict() for m in manifest]
    return bag, {"archival_code": CODE, "files": manifest, "file_count": len(manifest),
                 "byte_count": sum(m["size"] for m in manifest), "package_sha256": sha256_hex(bag),
                 "package_sm3": sm3_hex(bag), "known_codes": set(), "sequence": [1], "item_count": 1,
                 "document_number": "ZZ-2024-06", "known_document_numbers": set(),
                 "scope": {"fiscal_year": 2024, "period": 6}, "package_key": f"packages/Z001/2024/{CODE}.zip"}


def _result(bag: bytes, expected: dict, code: str) -> dict:
    return next(c for c in check_package(bag, expected).to_dict()["checks"] if c["code"] == code)


def test_a_ledgers_package_passes_every_check_it_can_perform():
    bag, expected = _package()
    report = check_package(bag, expected).to_dict()
    failing = [c for c in report["checks"] if c["result"] == "fail"]
    assert failing == [] and report["blocking"] == ["GD-4-1", "GD-4-2"]     # no scanner here


def test_gd_1_8_reads_the_records_own_number():
    bag, expected = _package()
    assert _result(bag, {**expected, "known_document_numbers": {"ZZ-2024-06"}}, "GD-1-8")["result"] == "fail"
    assert "文号 ZZ-2024-06 已归档" in _result(bag, {**expected, "known_document_numbers": {"ZZ-2024-06"}},
                                          "GD-1-8")["detail"]
    assert _result(bag, {**expected, "document_number": "ZZ-2024-07"}, "GD-1-8")["result"] == "fail"


def test_gd_2_1_wants_the_record_first():
    other = PackageFile(f"{CODE}-02-原件.xml", b"<x/>", "original", "application/xml")
    record = PackageFile(f"{CODE}-01-总账.xml", _ledger(), "record", "application/xml")
    bag, expected = _package(files=[other, record])
    assert _result(bag, expected, "GD-2-1")["result"] == "fail"


def test_gd_2_5_wants_the_records_origin():
    bag, expected = _package(events=[{"action": "archive.checked", "at": "2026-12-01T08:00:00+00:00",
                                      "actor": "赵档案"}])
    result = _result(bag, expected, "GD-2-5")
    assert result["result"] == "fail" and "record.exported" in result["detail"]


def test_gd_2_9_wants_a_readable_record_of_its_category():
    other = PackageFile(f"{CODE}-01-总账.xml", b"not xml", "original", "application/xml")
    bag, expected = _package(files=[other])
    assert _result(bag, expected, "GD-2-9")["result"] == "fail"
    bag, expected = _package(category={"key": "monthly_report", "name": "月度、季度、半年度财务会计报告"})
    assert _result(bag, expected, "GD-2-9")["result"] == "pass"        # D30 is longer than the 10 years asked
