"""The DA/T 70 items on the metadata's values (GD-1-2 to GD-1-6), its storage location
(GD-1-11), the process (GD-2-5), the archive's scope (GD-2-9), the voucher number
(GD-1-8), and the archivist's waiver of a check that could not be performed."""
from __future__ import annotations

import dataclasses

import pytest

from invoice_archive.archive.checks import FAIL, NOT_PERFORMED, PASS, Waiver, check_package
from invoice_archive.archive.metadata import voucher_xml
from invoice_archive.archive.package import PackageFile
from invoice_archive.archive.virus import CLEAN, ScanResult
from tests.unit.archive.bags import CODE, VOUCHER, make_bag, metadata, payload_files


class Clean:
    def scan(self, files):
        return ScanResult(CLEAN, "FakeAV 1.0", (), None, len(files))


def report_of(*, files=None, code=CODE, expected=None, scanner=Clean(), waivers=(), **meta):
    bag, exp = make_bag(code, files, **meta)
    return check_package(bag, {**exp, **(expected or {})}, scanner=scanner, waivers=waivers)


def failed(report) -> set[str]:
    return {c.code for c in report.failures}


def test_the_sound_package_passes_the_new_items():
    report = report_of()
    for code in ("GD-1-2", "GD-1-3", "GD-1-4", "GD-1-5", "GD-1-6", "GD-1-8", "GD-1-11", "GD-2-5", "GD-2-9"):
        assert report.result(code).result == PASS, report.result(code)
    assert report.complete and report.registrable


# -- GD-1-2 length, GD-1-3 type, GD-1-4 range -------------------------------------------------

def test_a_value_longer_than_its_element_allows():
    report = report_of(title="差" * 301)
    assert failed(report) == {"GD-1-2"}
    assert "题名 长 301 个字符，超过 300" in report.result("GD-1-2").detail


@pytest.mark.parametrize("over, words", [
    ({"date": "2024/07/31"}, "日期“2024/07/31”不是 YYYY-MM-DD 日期"),
    ({"retention_until": "2054-02-30"}, "保管期限截止“2054-02-30”不是有效日期"),
    ({"currency": "rmb"}, "本位币“rmb”格式不符"),
    ({"events": [{"action": "voucher.posted", "at": "2024-07-31 10:00", "actor": "金蝶"}]},
     "行为时间[1]“2024-07-31 10:00”日期时间未注明时区"),
])
def test_a_value_of_the_wrong_type_or_format(over, words):
    report = report_of(**over)
    assert "GD-1-3" in failed(report)
    assert words in report.result("GD-1-3").detail


@pytest.mark.parametrize("over, words", [
    ({"signatures": [{"object": "12345678", "verdict": "genuine", "verified_at": "2024-07-20T08:00:00+00:00",
                      "verifier": "v"}]}, "结果[1] “genuine”不在值域内"),
    ({"fiscal_year": 1899}, "会计年度 1899 小于下限 1990"),
    ({"category": {"key": "contract", "name": "经济合同"}}, "会计档案类别 “经济合同”不在值域内"),
])
def test_a_value_outside_its_range(over, words):
    report = report_of(**over)
    assert "GD-1-4" in failed(report)
    assert words in report.result("GD-1-4").detail


# -- GD-1-5 reasonableness ----------------------------------------------------------------------

@pytest.mark.parametrize("over, words", [
    ({"date": "2024-08-05"}, "日期 2024-08-05 不在会计期间 2024年7月内"),
    ({"retention_until": "2050-12-31"}, "保管期限截止应为 2054-12-31"),
    ({"reviewed_by": "张会计"}, "编制人与审核人同为 张会计"),
    ({"category": {"key": "ledger", "name": "记账凭证"}}, "会计档案类别“记账凭证”与代码 ledger 不符"),
    ({"events": [{"action": "voucher.posted", "at": "2024-09-30T10:00:00+00:00", "actor": "金蝶"}]},
     "晚于归档日期 2024-08-01"),
])
def test_values_that_contradict_each_other(over, words):
    report = report_of(**over)
    assert "GD-1-5" in failed(report)
    assert words in report.result("GD-1-5").detail


def test_the_volume_is_the_accounting_month():
    code = "Z001-PZ·2024·D30-0008-0003"
    report = report_of(files=payload_files(code), code=code, expected={"sequence": [1, 2, 3]})
    assert "案卷号 0008 与会计月份 7 不符" in report.result("GD-1-5").detail


# -- GD-1-6 special characters ----------------------------------------------------------------

@pytest.mark.parametrize("over, words", [
    ({"title": "差旅费\u202e报销"}, "双向文本控制符 U+202E"),
    ({"reviewed_by": "李\u200b审核"}, "零宽空格 U+200B"),
    ({"title": "差旅费\n报销"}, "换行或制表符 U+000A"),
    ({"prepared_by": "张\x85会计"}, "控制字符 U+0085"),
    ({"source_system": "kingdee\ufffd"}, "替换字符 U+FFFD"),
    ({"org_name": "南京\ue000公司"}, "私用区字符 U+E000"),
])
def test_special_characters_in_a_value(over, words):
    report = report_of(**over)
    assert "GD-1-6" in failed(report)
    assert words in report.result("GD-1-6").detail


@pytest.mark.parametrize("single_line", [True, False])
def test_the_quick_pass_misses_no_special_character(single_line):
    """A value the one-class search passes is one the character-by-character rules
    pass too, and the other way round: every code point, in both kinds of field."""
    from invoice_archive.archive.checks.schema import _SPECIAL, _described

    quick = _SPECIAL[single_line]
    disagree = [hex(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF
                and (quick.search(chr(cp)) is None) != (not _described(chr(cp), single_line))]
    assert disagree == []


def test_line_breaks_are_allowed_where_a_value_may_span_lines():
    events = metadata()["events"] + [{"action": "archive.note", "at": "2024-07-31T11:00:00+00:00", "actor": "档案员",
                                      "description": "第一行\n第二行"}]
    assert report_of(events=events).result("GD-1-6").result == PASS


# -- GD-1-8 the voucher number, GD-1-11 the storage location -------------------------------------

def test_the_voucher_number_is_checked_as_well_as_the_archival_code():
    taken = report_of(expected={"known_document_numbers": {"记-0003"}})
    assert failed(taken) == {"GD-1-8"} and "凭证号 记-0003 已归档" in taken.result("GD-1-8").detail
    other = report_of(expected={"document_number": "记-0009"})
    assert "包内记账凭证的凭证号为 记-0003，登记为 记-0009" in other.result("GD-1-8").detail
    half = report_of(expected={"known_document_numbers": None})
    assert half.result("GD-1-8").result == NOT_PERFORMED
    assert "已归档的凭证号清单" in half.result("GD-1-8").detail and not half.registrable


def test_the_storage_location_is_where_the_package_is_kept():
    moved = report_of(expected={"package_key": "packages/Z001/2023/elsewhere.zip"})
    assert failed(moved) == {"GD-1-11"}
    assert "与实际存储位置 packages/Z001/2023/elsewhere.zip 不符" in moved.result("GD-1-11").detail
    misnamed = report_of(storage_location="packages/Z001/2024/other.zip",
                         expected={"package_key": "packages/Z001/2024/other.zip"})
    assert "不是以档号" in misnamed.result("GD-1-11").detail
    unknown = report_of(expected={"package_key": None})
    assert unknown.result("GD-1-11").result == NOT_PERFORMED


# -- GD-2-5 process, GD-2-9 scope -----------------------------------------------------------------

def test_the_process_must_be_recorded_in_order():
    events = metadata()["events"]
    missing = report_of(events=[e for e in events if e["action"] != "claim.reviewed"])
    assert "GD-2-5" in failed(missing) and "claim.reviewed" in missing.result("GD-2-5").detail
    late = [dict(e, at="2024-07-31T12:00:00+00:00") if e["action"] == "claim.approved" else e for e in events]
    assert "入账前没有审批记录" in report_of(events=late).result("GD-2-5").detail


def test_a_red_voucher_is_recorded_with_its_reversal():
    red = {**VOUCHER, "red_flag": "1", "reverses_number": "记-0001", "reason": "发票开错", "debit_total": "-526.00",
           "credit_total": "-526.00"}
    files = [PackageFile(f"{CODE}-01-记账凭证.xml", voucher_xml(red), "voucher", "application/xml")] + \
        payload_files()[1:2]
    plain = report_of(files=files, signatures=[], relations=[{"type": "冲销", "target": "记-0001"}])
    assert "红字冲销凭证的过程信息缺少：voucher.reversed" in plain.result("GD-2-5").detail
    reversed_ = report_of(files=files, signatures=[], relations=[{"type": "冲销", "target": "记-0001"}],
                          events=[{"action": "voucher.reversed", "at": "2024-07-31T10:00:00+00:00", "actor": "金蝶"}])
    assert reversed_.result("GD-2-5").result == PASS


@pytest.mark.parametrize("over, expected, words", [
    ({"category": {"key": "", "name": "经济合同"}}, {}, "不在会计档案管理办法附表1的归档范围内"),
    ({"retention": "D10"}, {}, "保管期限 D10 短于附表1对记账凭证的要求（30 年）"),
    ({}, {"scope": {"fiscal_year": 2024, "period": 8}}, "会计月份为 7，不在本次归档的 8 内"),
])
def test_the_record_must_be_within_the_archive_scope(over, expected, words):
    report = report_of(expected=expected, **over)
    assert "GD-2-9" in failed(report)
    assert words in report.result("GD-2-9").detail


# -- waivers ----------------------------------------------------------------------------------------

class Unavailable:
    def scan(self, files):
        return ScanResult("not_performed", None, (), "未安装 ClamAV")


WAIVER = Waiver("GD-4-1", "病毒库升级中，经批准先行归档", "赵档案", "2024-08-01T09:00:00+00:00")


def test_a_check_not_performed_blocks_registration_until_waived():
    blocked = report_of(scanner=Unavailable())
    assert blocked.passed and not blocked.registrable
    assert [c.code for c in blocked.blocking] == ["GD-4-1", "GD-4-2"]
    half = report_of(scanner=Unavailable(), waivers=[WAIVER])
    assert [c.code for c in half.blocking] == ["GD-4-2"] and not half.registrable
    both = report_of(scanner=Unavailable(), waivers=[WAIVER, dataclasses.replace(WAIVER, code="GD-4-2")])
    assert both.registrable and not both.complete
    d = both.to_dict()
    assert d["registrable"] is True and d["blocking"] == [] and [w["code"] for w in d["waivers"]] == ["GD-4-1", "GD-4-2"]
    gd41 = next(c for c in d["checks"] if c["code"] == "GD-4-1")
    assert gd41["result"] == "not_performed" and gd41["waiver"] == WAIVER.to_dict()


def test_a_waiver_never_excuses_a_failed_check_or_touches_a_passed_one():
    bad = report_of(title="差" * 301, waivers=[Waiver("GD-1-2", "x", "赵档案", "2024-08-01T09:00:00+00:00"), WAIVER])
    assert bad.result("GD-1-2").result == FAIL and bad.result("GD-1-2").waiver is None
    assert bad.result("GD-4-1").result == PASS and bad.result("GD-4-1").waiver is None
    assert not bad.registrable and bad.to_dict()["waivers"] == []
