"""Virus scanning through a real ClamAV with a one-line EICAR signature database
(the official database cannot be downloaded here)."""
from __future__ import annotations

import os
import shutil

import pytest

from invoice_archive.archive.checks import FAIL, NOT_PERFORMED, PASS, check_package
from invoice_archive.archive.package import PackageFile
from invoice_archive.archive.virus import (
    CLEAN,
    INFECTED,
    ClamAVScanner,
    ScanResult,
    parse_clamscan_output,
    scanner_from_settings,
)
from tests.unit.archive.bags import CODE, EICAR, eicar_ndb, make_bag, payload_files


@pytest.fixture(scope="module")
def clamscan() -> str:
    exe = shutil.which("clamscan")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs ClamAV: apt-get install -y clamav")
        pytest.skip("clamscan not installed (Debian: apt-get install -y clamav)")
    return exe


@pytest.fixture
def database(tmp_path):
    return eicar_ndb(tmp_path / "eicar.ndb")


def test_eicar_is_caught_and_named(clamscan, database):
    scanner = ClamAVScanner(database)
    result = scanner.scan({"发票: 甲.xml": b"<a>" + EICAR + b"</a>", "clean.json": b"{}", "eicar.com": EICAR})
    assert result.status == INFECTED
    assert sorted(name for name, _ in result.infected) == ["eicar.com", "发票: 甲.xml"]
    assert all("EICAR" in sig for _, sig in result.infected)
    assert result.engine and "ClamAV" in result.engine
    assert result.to_dict()["infected"][0]["signature"]


def test_clean_files_pass(clamscan, database):
    result = ClamAVScanner(database).scan({"a.xml": b"<a/>", "b.json": b"{}"})
    assert result == ScanResult(CLEAN, result.engine, (), None, 2)
    assert result.clean


def test_eicar_inside_a_zip_is_caught(clamscan, database):
    files = payload_files() + [PackageFile(f"{CODE}-05-附件-01.xml", b"<note>" + EICAR + b"</note>",
                                           "attachment", "application/xml")]
    bag, expected = make_bag(files=files)
    report = check_package(bag, expected, scanner=ClamAVScanner(database))
    assert report.result("GD-4-1").result == PASS
    assert report.result("GD-4-2").result == FAIL
    assert "附件-01.xml" in report.result("GD-4-2").detail
    assert {c.code for c in report.failures} == {"GD-4-2"}


def test_sound_package_is_clean(clamscan, database):
    bag, expected = make_bag()
    report = check_package(bag, expected, scanner=ClamAVScanner(database))
    assert report.complete, report.to_dict()


def test_missing_database_is_not_performed(clamscan, tmp_path):
    result = ClamAVScanner(tmp_path / "absent.ndb").scan({"a": b"x"})
    assert result.status == NOT_PERFORMED and "病毒库" in result.reason


def test_clamav_not_installed_is_not_performed():
    scanner = ClamAVScanner(executable="no-such-clamscan-here")
    result = scanner.scan({"a": b"x"})
    assert result.status == NOT_PERFORMED and "未安装 ClamAV" in result.reason
    bag, expected = make_bag()
    report = check_package(bag, expected, scanner=scanner)
    assert report.result("GD-4-1").result == NOT_PERFORMED
    assert "apt-get install -y clamav" in report.result("GD-4-2").detail


def test_settings(tmp_path):
    from invoice_archive.settings import load

    scanner = scanner_from_settings(load({"archive.clamav_database": str(tmp_path / "x.ndb")}, {}).archive.clamav)
    assert scanner.database == tmp_path / "x.ndb" and scanner.executable == "clamscan"
    daemon = scanner_from_settings(load({"archive.clamav_daemon": "true"}, {}).archive.clamav)
    assert daemon.executable == "clamdscan" and daemon.database is None and daemon.timeout == 600


def test_output_parser():
    out = "/tmp/x/000000: Eicar-Test-Signature FOUND\n/tmp/x/000001: Access denied ERROR\n/tmp/x/000002: OK\n"
    found, errors = parse_clamscan_output(out, {"/tmp/x/000000": "a: b.xml"})
    assert found == [("a: b.xml", "Eicar-Test-Signature")]
    assert errors == [("/tmp/x/000001", "Access denied")]


def test_the_same_bytes_are_scanned_once(clamscan, database):
    """Archiving checks a package twice (before and after its metadata records the check):
    the payload's bytes go to ClamAV once, the changed metadata again; the answer counts all."""
    scanner = ClamAVScanner(database)
    first = scanner.scan({"a.xml": b"<a/>", "b.json": b"{}"})
    again = scanner.scan({"a.xml": b"<a/>", "b.json": b"{}", "metadata.xml": b"<m>1</m>"})
    assert (first.status, again.status, again.scanned) == (CLEAN, CLEAN, 3)
    assert scanner.runs == 2
    assert scanner.scan({"renamed.xml": b"<a/>"}).status == CLEAN and scanner.runs == 2   # by content, not name


def test_only_clean_is_remembered(clamscan, database):
    scanner = ClamAVScanner(database)
    assert scanner.scan({"eicar.com": EICAR}).status == INFECTED
    assert scanner.scan({"eicar.com": EICAR}).status == INFECTED
    assert scanner.runs == 2


def test_a_new_database_scans_again(clamscan, database):
    scanner = ClamAVScanner(database)
    scanner.scan({"a.xml": b"<a/>"})
    os.utime(database, ns=(1, 1))          # replaced by another signature database
    scanner.scan({"a.xml": b"<a/>"})
    assert scanner.runs == 2
