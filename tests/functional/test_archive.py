"""Archiving a period and taking a bundle away."""
from __future__ import annotations

import io
import zipfile

import bagit
import pytest

from invoice_archive.digests import sha256_hex, sm3_hex
from tests.support.invoices import synthetic_xml
from tests.support.journey import (
    approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report,
)


def posted_voucher(service, number: str, voucher_no: str) -> tuple[dict, bytes]:
    data = synthetic_xml(number)
    inv = post_invoice(service, data).json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    post_voucher(service, voucher_report(claim, number=voucher_no))
    return inv, data


def test_archiving_a_period_makes_one_bag_per_voucher(service, tmp_path):
    inv1, data1 = posted_voucher(service, "24992000000000000001", "0001")
    inv2, data2 = posted_voucher(service, "24992000000000000002", "0002")
    run = archive_period(service).json
    codes = [i["archival_code"] for i in run["archived"]]
    assert codes == ["Z001-PZ·2024·D30-0007-0001", "Z001-PZ·2024·D30-0007-0002"]
    item = run["archived"][0]
    assert item["retention"] == "D30" and item["retention_until"] == "2054-12-31"
    roles = [m["role"] for m in item["manifest"]]
    assert roles == ["voucher", "claim", "original", "verification", "posting_info", "metadata"]

    bundle = service.app.get(f"/api/v1/archive/items/{item['id']}/bundle", headers=service.headers("王审计"))
    assert bundle.content_type == "application/zip"
    assert sha256_hex(bundle.body) == item["package_sha256"]
    with zipfile.ZipFile(io.BytesIO(bundle.body)) as zf:
        zf.extractall(tmp_path)
        original = next(n for n in zf.namelist() if "原始凭证" in n)
        assert zf.read(original) == data1
    bag = bagit.Bag(str(tmp_path / codes[0]))
    bag.validate()     # the Library of Congress validator: complete and valid
    manifest = {m["path"]: m for m in item["manifest"]}
    entry = manifest[original.split("/", 1)[1]]
    assert entry["sha256"] == sha256_hex(data1) and entry["sm3"] == sm3_hex(data1)

    inv = service.app.get(f"/api/v1/invoices/{inv1['id']}", headers=service.headers("王审计")).json
    assert inv["status"] == "archived"


def test_nothing_is_archived_twice(service):
    posted_voucher(service, "24992000000000000001", "0001")
    first = archive_period(service).json
    second = archive_period(service).json
    assert second["archived"] == []
    assert second["already_archived"] == [first["archived"][0]["archival_code"]]
    assert service.count("archive_items") == 1


def test_auditor_finds_the_item_by_invoice_or_voucher_number(service):
    posted_voucher(service, "24992000000000000001", "0001")
    archive_period(service)
    auditor = service.headers("王审计")
    by_invoice = service.app.get("/api/v1/archive/items?invoice_number=24992000000000000001", headers=auditor).json
    by_voucher = service.app.get("/api/v1/archive/items", {"voucher_number": "记-0001"}, headers=auditor).json
    assert by_invoice["total"] == by_voucher["total"] == 1
    assert by_invoice["items"][0]["id"] == by_voucher["items"][0]["id"]
    events = service.app.get("/api/v1/audit/events?object_type=archive_item", headers=auditor).json
    assert [e["action"] for e in events["items"]] == ["archive.archived"]


def test_a_changed_package_is_not_handed_out(service):
    posted_voucher(service, "24992000000000000001", "0001")
    item = archive_period(service).json["archived"][0]
    path = next(p for p in service.stored_files() if p.suffix == ".zip")
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(raw))
    err = service.app.get(f"/api/v1/archive/items/{item['id']}/bundle", headers=service.headers("王审计"),
                          status=503).json["error"]
    assert err["code"] == "package_fixity_failed"


@pytest.mark.parametrize("who", ["张经办", "总账系统"])
def test_only_archivists_archive(service, who):
    service.app.post_json("/api/v1/archive/runs", {"fiscal_year": 2024, "period": 7},
                          headers=service.headers(who), status=403)
