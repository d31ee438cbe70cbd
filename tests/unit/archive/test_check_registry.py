"""The registry of DA/T 70 check items: each item registered once, in the module
of its property, and a report runs exactly the registered items, in order."""
from __future__ import annotations

import pytest

from invoice_archive.archive import checks
from invoice_archive.archive.checks import authenticity, integrity, security, usability
from invoice_archive.archive.checks.registry import CHECKS, PROPERTIES, Check
from invoice_archive.archive.virus import CLEAN, ScanResult
from tests.unit.archive.bags import make_bag

MODULES = {authenticity: ("真实性", "GD-1-"), integrity: ("完整性", "GD-2-"),
           usability: ("可用性", "GD-3-"), security: ("安全性", "GD-4-")}


class CleanScanner:
    def scan(self, files):
        return ScanResult(CLEAN, "FakeAV 1.0", (), None, len(files))


def declared(module) -> list[Check]:
    return [value for value in vars(module).values() if isinstance(value, Check)]


def test_every_check_id_is_registered_once():
    codes = [c.code for c in CHECKS.values()]
    assert len(codes) == len(set(codes)) == 30
    assert all(code == c.code for code, c in CHECKS.items())
    names = [c.name for c in CHECKS.values()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("module", list(MODULES), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_property_module_checks_carry_its_property(module):
    prop, prefix = MODULES[module]
    assert module.PROPERTY == prop
    found = declared(module)
    assert found, f"{module.__name__} declares no checks"
    for c in found:
        assert c.property == prop and c.code.startswith(prefix), c
        assert CHECKS[c.code] is c
        assert c.run.__module__ == module.__name__


def test_every_registered_check_lives_in_its_property_module():
    by_module = {c.code for module in MODULES for c in declared(module)}
    assert by_module == set(CHECKS)
    assert {c.property for c in CHECKS.values()} == set(PROPERTIES)


def test_a_report_runs_exactly_the_registered_checks_in_order():
    bag, expected = make_bag()
    report = checks.check_package(bag, {**expected, "known_codes": [], "known_document_numbers": [],
                                        "sequence": [1, 2, 3]}, scanner=CleanScanner())
    assert report.complete, report.to_dict()
    codes = [c.code for c in report.checks]
    assert set(codes) == set(CHECKS)
    assert codes == list(CHECKS)      # registration order is report order
    for result in report.checks:
        registered = CHECKS[result.code]
        assert (result.property, result.name) == (registered.property, registered.name)


def test_an_unopenable_package_still_reports_every_check():
    report = checks.check_package(b"not a zip")
    assert [c.code for c in report.checks] == list(CHECKS)
    assert report.result("GD-1-13").result == checks.FAIL
    assert report.result("GD-1-1").result == checks.NOT_PERFORMED


def test_a_package_whose_compressed_data_is_damaged_fails_its_checks_without_crashing():
    """A byte changed inside a deflated member (not in any header) makes zlib
    refuse it: the member is unreadable, the package fails, nothing raises."""
    import io
    import zipfile

    bag, expected = make_bag()
    with zipfile.ZipFile(io.BytesIO(bag)) as zf:
        info = max((i for i in zf.infolist() if i.compress_type == zipfile.ZIP_DEFLATED), key=lambda i: i.compress_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    damaged = bytearray(bag)
    damaged[start + 2:start + 12] = bytes(b ^ 0xFF for b in damaged[start + 2:start + 12])
    report = checks.check_package(bytes(damaged), expected, scanner=CleanScanner())
    assert not report.passed
    assert [c.code for c in report.checks] == list(CHECKS)
