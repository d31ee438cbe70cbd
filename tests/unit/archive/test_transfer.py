"""The receiving side's check of a transfer package (YJ): the signed 移交清册 with its three
sign-offs, and GD-1-8 across the items transferred together (voucher numbers as well as 档号)."""
from __future__ import annotations

import datetime as dt
import io
import zipfile

from invoice_archive.archive.lists import item_row, sign_list, transfer_list_xml
from invoice_archive.archive.metadata import voucher_xml
from invoice_archive.archive.package import PackageFile
from invoice_archive.archive.transfer import LIST_SIG, LIST_XML, TransferItem, build_transfer, check_transfer
from invoice_archive.bundle.signing import new_signer
from invoice_archive.digests import sha256_hex, sm3_hex
from tests.unit.archive.bags import VOUCHER, make_bag, payload_files

CODES = ("Z001-PZ·2024·D30-0007-0001", "Z001-PZ·2024·D30-0007-0002")
SIGNER = new_signer("ed25519")
SIGNOFFS = [{"capacity": "移交人", "name": "张经办", "unit": "会计管理机构", "at": "2026-03-01T10:00:00+08:00"},
            {"capacity": "接收人", "name": "赵档案", "unit": "档案管理机构", "at": "2026-03-01T10:05:00+08:00"},
            {"capacity": "监交人", "name": "陈审批", "unit": "单位负责人", "at": "2026-03-01T10:10:00+08:00"}]


def _transfer(numbers: tuple[str, str], signoffs=SIGNOFFS, tamper=None) -> bytes:
    items, rows = [], []
    for code, number in zip(CODES, numbers):
        files = payload_files(code)
        files[0] = PackageFile(files[0].name, voucher_xml({**VOUCHER, "voucher_number": number}), "voucher",
                               "application/xml")
        bag, expected = make_bag(code, files, storage_location=f"packages/Z001/2024/{code}.zip")
        row = item_row({"archival_code": code, "title": "差旅费", "category": "记账凭证", "fiscal_year": 2024,
                        "retention": "D30", "retention_until": dt.date(2054, 12, 31),
                        "file_count": expected["file_count"], "byte_count": expected["byte_count"],
                        "package_sha256": sha256_hex(bag), "package_sm3": sm3_hex(bag)}, dt.date(2026, 3, 1))
        rows.append(row)
        items.append(TransferItem(row=row, package=bag))
    xml = transfer_list_xml(number="YJ-2026-0001", org_name="南京测试买方有限公司", fonds="Z001",
                            on=dt.date(2026, 3, 1), prepared_by="张经办", fiscal_year=2024, receiver_unit="档案室",
                            rows=rows, signoffs=signoffs)
    signature = sign_list(xml, SIGNER, signed_file=LIST_XML)
    if tamper:
        xml = tamper(xml)
    return build_transfer(items, list_xml=xml, signature=signature, public_key_pem=SIGNER.public_key_pem(),
                          created=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))


def test_a_signed_transfer_passes_the_receivers_check():
    data = _transfer(("0001", "0002"))
    report = check_transfer(data, public_key_pem=SIGNER.public_key_pem())
    assert report.ok, report.to_dict()
    assert (report.items, report.passed, report.signature) == (2, 2, "checked")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        listing = zf.read(LIST_XML).decode()
        assert {"移交清册.csv", LIST_SIG, "移交清册签名公钥.pem"} <= set(zf.namelist())
    assert 'kept_text' not in listing and '已保管期限="1年"' in listing and '应保管期限="30年"' in listing


def test_two_items_of_one_voucher_number_are_caught_by_the_receiver():
    report = check_transfer(_transfer(("0001", "0001")), public_key_pem=SIGNER.public_key_pem())
    assert report.item_failures == {CODES[0]: ["GD-1-8"], CODES[1]: ["GD-1-8"]}


def test_a_list_changed_after_signing_is_caught_even_with_matching_manifests():
    data = _transfer(("0001", "0002"), tamper=lambda xml: xml.replace("档案室".encode(), "别处".encode()))
    report = check_transfer(data, public_key_pem=SIGNER.public_key_pem())
    assert "签名文件记录的 SHA-256 与清册不符" in report.problems and not report.ok
    other = new_signer("ed25519")
    assert "签名密钥与给出的公钥不符" in check_transfer(_transfer(("0001", "0002")),
                                                    public_key_pem=other.public_key_pem()).problems


def test_a_list_without_the_three_signatures_is_refused():
    report = check_transfer(_transfer(("0001", "0002"), signoffs=SIGNOFFS[:2]), public_key_pem=SIGNER.public_key_pem())
    assert "移交清册缺少监交人的签名" in report.problems


def test_without_the_senders_key_the_signature_is_reported_unchecked():
    report = check_transfer(_transfer(("0001", "0002")))
    assert report.ok and report.signature == "not_checked"
