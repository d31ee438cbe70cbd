"""DA/T 70 four-property checks: a sound package passes, and each kind of damage
is caught by the GD item that names it."""
from __future__ import annotations

import dataclasses
import io
import zipfile

import pytest

from invoice_archive.archive.checks import (
    FAIL,
    NOT_PERFORMED,
    PASS,
    FourPropertyReport,
    check_package,
    expected_from_item,
    sniff,
)
from invoice_archive.archive.package import PackageFile
from invoice_archive.archive.virus import CLEAN, INFECTED, ScanResult
from invoice_archive.synth.ofd import build_ofd_invoice
from tests.unit.archive.bags import CODE, EICAR, make_bag, payload_files, rezip

TOP = CODE + "/"
ORIGINAL = f"{TOP}data/{CODE}-03-原始凭证-01.ofd"
METADATA = f"{TOP}data/{CODE}-metadata.xml"


class FakeScanner:
    """Stands in for ClamAV where the scanner is not the subject (see test_virus)."""

    def __init__(self, find: bytes | None = None) -> None:
        self.find = find
        self.seen: list[str] = []

    def scan(self, files):
        self.seen = list(files)
        hits = tuple((name, "Test.EICAR") for name, data in files.items() if self.find and self.find in data)
        return ScanResult(INFECTED if hits else CLEAN, "FakeAV 1.0", hits, None, len(files))


@pytest.fixture(scope="module")
def good():
    return make_bag()


def failed(report: FourPropertyReport) -> set[str]:
    return {c.code for c in report.failures}


def test_sound_package_passes_every_check(good):
    bag, expected = good
    report = check_package(bag, expected, scanner=FakeScanner())
    assert report.passed and report.complete, report.to_dict()
    codes = [c.code for c in report.checks]
    for code in ("GD-1-1", "GD-1-7", "GD-1-8", "GD-1-9", "GD-1-10", "GD-1-12", "GD-1-13", "GD-1-14",
                 "GD-2-1", "GD-2-2", "GD-2-3", "GD-2-4", "GD-2-6", "GD-2-7", "GD-2-11",
                 "GD-3-1", "GD-3-3", "GD-3-4", "GD-3-8", "GD-4-1", "GD-4-2", "GD-4-3"):
        assert code in codes
    assert codes.index("GD-1-14") < codes.index("GD-2-1") < codes.index("GD-3-1") < codes.index("GD-4-1")
    assert report.archival_code == CODE


def test_report_properties_and_dict(good):
    bag, expected = good
    report = check_package(bag, expected)
    d = report.to_dict()
    assert d["passed"] is True and d["complete"] is False
    assert set(d["not_performed"]) == {"GD-4-1", "GD-4-2"}
    assert d["summary"]["安全性"] == {"pass": 1, "fail": 0, "not_performed": 2}
    assert report.result("GD-1-1").property == "真实性"
    assert report.result("GD-2-2").property == "完整性"
    assert report.result("GD-3-3").property == "可用性"
    assert report.result("GD-4-3").property == "安全性"
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.checks = ()  # type: ignore[misc]


def test_without_expectations_the_dependent_checks_are_not_performed(good):
    bag, _ = good
    report = check_package(bag)
    assert report.passed
    assert {c.code for c in report.not_performed} >= {"GD-1-8", "GD-1-14", "GD-2-6"}
    assert "未提供" in report.result("GD-2-6").detail


def test_file_removed(good):
    bag, expected = good
    tampered = rezip(bag, lambda m: m.pop(ORIGINAL))
    report = check_package(tampered, expected)
    assert {"GD-1-1", "GD-1-9", "GD-2-2", "GD-2-11", "GD-1-14"} <= failed(report)
    assert "不存在" in report.result("GD-1-1").detail
    assert "原始凭证-01.ofd" in report.result("GD-1-9").detail


def test_digest_mismatch(good):
    bag, expected = good
    name = f"{TOP}data/{CODE}-04-验签报告-01.json"

    def edit(m):
        m[name] = m[name].replace(b"valid", b"VALID")   # same size, different content

    report = check_package(rezip(bag, edit), expected)
    assert {"GD-1-1", "GD-2-7", "GD-1-14"} <= failed(report)
    assert "GD-2-2" not in failed(report)
    assert "SHA256" in report.result("GD-1-1").detail.upper().replace("-", "")
    assert "验签报告" in report.result("GD-2-7").detail


def test_a_shared_memo_gives_the_same_reports_and_never_hides_a_change(good):
    """Archiving checks a package twice with one memo of what depends only on a
    member's bytes; it is keyed by the bytes, so changed bytes are checked afresh."""
    bag, expected = good
    memo: dict = {}
    first = check_package(bag, expected, memo=memo)
    assert memo and first.to_dict() == check_package(bag, expected).to_dict()
    assert check_package(bag, expected, memo=memo).to_dict() == first.to_dict()
    name = f"{TOP}data/{CODE}-04-验签报告-01.json"

    def edit(m):
        m[name] = m[name].replace(b"valid", b"VALID")   # same size, different content

    changed = check_package(rezip(bag, edit), expected, memo=memo)
    assert {"GD-1-1", "GD-2-7"} <= failed(changed)
    broken, broken_expected = make_bag(files=payload_files(original=_ofd_with_broken_root()))
    assert failed(check_package(broken, broken_expected, memo=memo)) == {"GD-3-4"}


def test_package_digest_before_and_after(good):
    bag, expected = good
    report = check_package(bag, {**expected, "package_sha256": "0" * 64})
    assert failed(report) == {"GD-1-14"}
    assert "SHA-256" in report.result("GD-1-14").detail


def test_extra_file(good):
    bag, expected = good

    def edit(m):
        m[f"{TOP}data/readme.txt"] = b"not in any manifest"
        m[f"{TOP}notes.txt"] = b"nor this"

    report = check_package(rezip(bag, edit), expected)
    assert "GD-4-3" in failed(report)
    detail = report.result("GD-4-3").detail
    assert "readme.txt" in detail and "notes.txt" in detail
    assert "GD-3-3" in failed(report)          # text/plain is not an archival format
    assert "GD-2-11" in failed(report)


def test_numbering_gap(good):
    bag, expected = good
    report = check_package(bag, {**expected, "sequence": [1, 2, 3, 5, 7]})
    assert failed(report) == {"GD-2-6"}
    assert "0004" in report.result("GD-2-6").detail and "0006" in report.result("GD-2-6").detail


def test_numbering_duplicates_and_missing_self(good):
    bag, expected = good
    report = check_package(bag, {**expected, "sequence": [1, 2, 2]})
    detail = report.result("GD-2-6").detail
    assert report.result("GD-2-6").result == FAIL
    assert "重复" in detail and "0003" in detail


def test_duplicate_archival_code_and_voucher_number(good):
    bag, expected = good
    report = check_package(bag, {**expected, "known_codes": {CODE}, "known_document_numbers": {"记-0003"}})
    assert failed(report) == {"GD-1-8"}
    assert CODE in report.result("GD-1-8").detail and "记-0003" in report.result("GD-1-8").detail


def test_metadata_that_does_not_parse():
    bag, expected = make_bag(metadata_xml=lambda xml: xml.replace(b"</\xe9\xa2\x98\xe5\x90\x8d>", b"", 1))
    report = check_package(bag, expected)
    assert {"GD-3-1", "GD-2-3", "GD-2-4"} <= failed(report)
    assert "无法解析" in report.result("GD-3-1").detail


def test_metadata_with_entities_is_refused_not_expanded():
    def add_dtd(xml: bytes) -> bytes:
        return xml.replace(b"?>\n", b'?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n', 1)

    bag, expected = make_bag(metadata_xml=add_dtd)
    report = check_package(bag, expected)
    assert "GD-3-1" in failed(report)
    assert "DTD" in report.result("GD-3-1").detail


def test_missing_required_metadata_field():
    bag, expected = make_bag(prepared_by=None, title="")
    report = check_package(bag, expected)
    assert failed(report) == {"GD-2-4"}
    assert "编制人" in report.result("GD-2-4").detail and "题名" in report.result("GD-2-4").detail


def test_missing_metadata_element():
    bag, expected = make_bag(metadata_xml=lambda xml: xml.replace("<本位币>CNY</本位币>".encode(), b""))
    report = check_package(bag, expected)
    assert "GD-2-3" in failed(report) and "本位币" in report.result("GD-2-3").detail


def test_bad_archival_code():
    code = "z001-pz2024-7-3"
    bad = [PackageFile(f.name.replace(CODE, code), f.data, f.role, f.media_type) for f in payload_files()]
    bag, expected = make_bag("z001-pz2024-7-3", bad, fonds="z001", class_code="pz2024", volume="7", item="3")
    report = check_package(bag, expected)
    assert "GD-1-7" in failed(report)
    assert "格式" in report.result("GD-1-7").detail


def test_code_differs_from_registration(good):
    bag, expected = good
    report = check_package(bag, {**expected, "archival_code": "Z001-PZ·2024·D30-0007-0004"})
    assert {"GD-1-7", "GD-1-13"} <= failed(report)


def test_size_in_metadata_differs():
    bag, expected = make_bag(metadata_xml=lambda xml: xml.replace('计算机文件大小="'.encode(),
                                                                     '计算机文件大小="1'.encode(), 1))
    report = check_package(bag, expected)
    assert "GD-1-10" in failed(report)


def test_format_declared_differently_from_content():
    files = payload_files()
    files[3] = PackageFile(files[3].name, files[3].data, "verification", "application/pdf")
    bag, expected = make_bag(files=files)
    report = check_package(bag, expected)
    assert "GD-1-10" in failed(report) and "JSON" in report.result("GD-1-10").detail


def test_payload_oxum_tampered(good):
    bag, expected = good
    info = f"{TOP}bag-info.txt"

    def edit(m):
        m[info] = m[info].replace(b"Payload-Oxum: ", b"Payload-Oxum: 1")

    report = check_package(rezip(bag, edit), expected)
    assert {"GD-2-2", "GD-1-1"} <= failed(report)   # the tag manifest catches the edit too


def test_tag_files_malformed(good):
    bag, expected = good

    def edit(m):
        m[f"{TOP}bagit.txt"] = b"BagIt-Version 1.0\n"
        m[f"{TOP}manifest-sha256.txt"] += b"nothex  data/x\n"

    report = check_package(rezip(bag, edit), expected)
    assert "GD-1-12" in failed(report)
    detail = report.result("GD-1-12").detail
    assert "bagit.txt" in detail and "manifest-sha256.txt" in detail


def test_folder_structure(good):
    bag, expected = good

    def edit(m):
        m["other/data/x.xml"] = b"<x/>"
        del m[f"{TOP}manifest-sm3.txt"]

    report = check_package(rezip(bag, edit), expected)
    assert {"GD-1-13", "GD-1-1"} <= failed(report)
    detail = report.result("GD-1-13").detail
    assert "manifest-sm3.txt" in detail and "顶层" in detail


def test_not_a_zip_at_all():
    report = check_package(b"definitely not a zip", {"archival_code": CODE})
    assert not report.passed
    assert report.result("GD-1-13").result == FAIL
    assert report.result("GD-1-1").result == NOT_PERFORMED


def test_unreadable_original():
    files = payload_files(original=b"PK\x03\x04" + b"\0" * 100)  # a zip header and nothing else
    bag, expected = make_bag(files=files)
    report = check_package(bag, expected)
    assert "GD-3-3" in failed(report) or "GD-3-4" in failed(report)


def _ofd_with_broken_root() -> bytes:
    """A synthetic OFD whose OFD.xml does not parse."""
    with zipfile.ZipFile(io.BytesIO(build_ofd_invoice())) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    members["OFD.xml"] = b"<ofd:OFD><unclosed>"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_corrupt_ofd_is_unreadable():
    bag, expected = make_bag(files=payload_files(original=_ofd_with_broken_root()))
    report = check_package(bag, expected)
    assert failed(report) == {"GD-3-4"}
    assert "原始凭证-01.ofd" in report.result("GD-3-4").detail


def test_encrypted_pdf_and_non_open_compression(good):
    pdf = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<</Encrypt 5 0 R>>\n%%EOF\n"
    files = payload_files() + [PackageFile(f"{CODE}-05-附件-01.pdf", pdf, "attachment", "application/pdf")]
    bag, expected = make_bag(files=files)
    report = check_package(bag, expected)
    assert failed(report) == {"GD-3-8"}
    assert "加密" in report.result("GD-3-8").detail

    bag, expected = good
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bag)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            method = zipfile.ZIP_LZMA if info.filename.endswith("-02-报销单.xml") else info.compress_type
            dst.writestr(info.filename, src.read(info), compress_type=method)
    report = check_package(buf.getvalue(), expected)
    assert {"GD-3-8", "GD-1-14"} == failed(report)
    assert "报销单" in report.result("GD-3-8").detail and "压缩" in report.result("GD-3-8").detail


def test_virus_found_names_the_file():
    files = payload_files() + [PackageFile(f"{CODE}-05-附件-01.xml", b"<note>" + EICAR + b"</note>",
                                           "attachment", "application/xml")]
    bag, expected = make_bag(files=files)
    scanner = FakeScanner(find=EICAR)
    report = check_package(bag, expected, scanner=scanner)
    assert failed(report) == {"GD-4-2"}
    assert report.result("GD-4-1").result == PASS
    assert "附件-01.xml" in report.result("GD-4-2").detail
    assert all(name.startswith(TOP) for name in scanner.seen)


def test_scanner_not_available_is_not_performed(good):
    bag, expected = good

    class Absent:
        def scan(self, files):
            return ScanResult("not_performed", None, (), "未安装 ClamAV")

    report = check_package(bag, expected, scanner=Absent())
    assert report.passed and not report.complete
    assert report.result("GD-4-2").detail == "未安装 ClamAV"


def test_sniff_by_content_not_name():
    assert sniff(build_ofd_invoice()) == "ofd"
    assert sniff(b"%PDF-1.4 ...") == "pdf"
    assert sniff(b"\xef\xbb\xbf<?xml version='1.0'?><a/>") == "xml"
    assert sniff(b'{"a": 1}') == "json"
    assert sniff(b"MZ\x90\x00") is None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", b"x")
    assert sniff(buf.getvalue()) is None      # a zip, but not an OFD


def test_expected_from_item(good):
    bag, expected = good

    class Item:
        archival_code = CODE
        manifest = expected["files"]
        package_sha256 = expected["package_sha256"]
        package_sm3 = expected["package_sm3"]

    exp = expected_from_item(Item(), sequence=[1, 2, 3])
    assert exp["file_count"] == 5 and exp["byte_count"] == expected["byte_count"]
    report = check_package(bag, exp)
    assert report.passed
    assert report.result("GD-1-8").result == NOT_PERFORMED
