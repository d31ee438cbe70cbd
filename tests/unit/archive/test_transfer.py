"""The receiving side's check of a transfer package (YJ): GD-1-8 looks at the voucher
numbers of the items transferred together, as well as their 档号."""
from __future__ import annotations

import datetime as dt

from invoice_archive.archive.metadata import voucher_xml
from invoice_archive.archive.package import PackageFile
from invoice_archive.archive.transfer import TransferItem, build_transfer, check_transfer
from invoice_archive.digests import sha256_hex, sm3_hex
from tests.unit.archive.bags import VOUCHER, make_bag, payload_files

CODES = ("Z001-PZ·2024·D30-0007-0001", "Z001-PZ·2024·D30-0007-0002")


def _transfer(numbers: tuple[str, str]) -> bytes:
    items = []
    for code, number in zip(CODES, numbers):
        files = payload_files(code)
        files[0] = PackageFile(files[0].name, voucher_xml({**VOUCHER, "voucher_number": number}), "voucher",
                               "application/xml")
        bag, expected = make_bag(code, files, storage_location=f"packages/Z001/2024/{code}.zip")
        items.append(TransferItem(row={
            "archival_code": code, "title": "差旅费", "date": "2024-07-31", "fiscal_year": 2024, "period": 7,
            "retention": "D30", "retention_until": "2054-12-31", "file_count": expected["file_count"],
            "byte_count": expected["byte_count"], "package_sha256": sha256_hex(bag), "package_sm3": sm3_hex(bag),
        }, package=bag))
    return build_transfer(items, fonds_code="Z001", org_name="南京测试买方有限公司", fiscal_year=2024,
                          created=dt.datetime(2025, 1, 10, tzinfo=dt.UTC), transferred_by="赵档案")


def test_two_items_of_one_voucher_number_are_caught_by_the_receiver():
    assert check_transfer(_transfer(("0001", "0002"))).item_failures == {}
    report = check_transfer(_transfer(("0001", "0001")))
    assert report.item_failures == {CODES[0]: ["GD-1-8"], CODES[1]: ["GD-1-8"]}
