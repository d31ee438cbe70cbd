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


def test_the_metadata_tells_each_items_process_and_latest_tax_check(service):
    """A run reads the process of all its items at its start (audit events of the
    claims, vouchers and invoices; each invoice's latest 查验): each item's metadata
    still tells its own, and the latest answer, not an earlier one."""
    import datetime as dt
    import xml.etree.ElementTree as ET

    from invoice_archive.db import session_factory
    from invoice_archive.models import Invoice, TaxCheck

    items = {}
    for n in ("921", "922"):
        inv = post_invoice(service, synthetic_xml(f"24992000000000000{n}"), f"{n}.xml").json
        claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
        post_voucher(service, voucher_report(claim, number=f"0{n}"))
        items[n] = inv["id"]
    day = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)
    with session_factory(service.engine)() as db, db.begin():
        for n, invoice_id in items.items():
            org_id = db.get(Invoice, invoice_id).org_id
            for hours, status in ((1, "mismatch"), (3, "normal"), (2, "mismatch")):
                db.add(TaxCheck(org_id=org_id, invoice_id=invoice_id, checked_at=day + dt.timedelta(hours=hours),
                                source=f"test-{n}", status=status, discrepancies=[], result={}, requested_by="test"))
    run = archive_period(service).json
    archived = run["archived"]
    assert len(archived) == 2, run
    for item in archived:
        package = service.app.get(f"/api/v1/archive/items/{item['id']}/package", headers=service.headers("王审计")).body
        with zipfile.ZipFile(io.BytesIO(package)) as zf:
            [name] = [n for n in zf.namelist() if n.endswith("-metadata.xml")]
            meta = ET.fromstring(zf.read(name))
        [check] = meta.iter("查验")
        assert check.get("来源") == f"test-{check.get('对象')[-3:]}"   # its own invoice's answer
        assert check.get("状态") == "normal" and check.get("查验时间").startswith("2024-06-01T03:00")
        actions = [e.get("行为") for e in meta.iter("业务行为")]
        assert actions.count("invoice.received") == 1 and "voucher.posted" in actions


def test_the_package_carries_the_posting_information_and_the_complete_metadata(service):
    """Each original's 入账信息结构化数据文件 (XBRL) is in the package and reads back with the
    project's own XBRL reader; the DA/T 94 metadata carries 机构或问题, 编制/审核日期, 权限管理,
    the signature as read, the 查验 answer, 业务实体 状态/依据 and the four-property result."""
    import xml.etree.ElementTree as ET

    from invoice_archive.formats.xbrl import read_posting_info
    from invoice_archive.formats.xmlsafe import parse as parse_xml

    inv = post_invoice(service, synthetic_xml("24992000000000000911"), "911.xml").json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    post_voucher(service, voucher_report(claim, number="0911"))
    item = archive_period(service).json["archived"][0]
    package = service.app.get(f"/api/v1/archive/items/{item['id']}/package", headers=service.headers("王审计")).body
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        payload = {n.split("/data/", 1)[1]: zf.read(n) for n in zf.namelist() if "/data/" in n}
    [posting_name] = [n for n in payload if "-05-入账信息-" in n]
    info = read_posting_info(parse_xml(payload[posting_name]))
    assert info is not None and info.taxonomy == "inv"
    assert info.invoice.fields["number"] == "24992000000000000911"
    assert info.entity_name == "南京测试买方有限公司" and info.booked is True and info.checked is False
    assert info.voucher_number.endswith("-0911") and info.accounting_period == f"{item['fiscal_year']}{item['period']:02d}"
    assert sum(e.amount for e in info.entries if e.direction == "借") == sum(
        e.amount for e in info.entries if e.direction == "贷") > 0

    meta = ET.fromstring(payload[f"{item['archival_code']}-metadata.xml"])
    assert meta.find("档号").get("机构或问题") == "会计凭证"
    assert meta.findtext("编制日期") and meta.find("审核日期") is not None
    assert {g.get("授权对象") for g in meta.iter("授权")} >= {"审计人员", "档案管理员"}
    [sig] = meta.iter("签名")
    assert {"签名规则", "签名人", "证书", "签名算法"} <= set(sig.attrib)
    [check] = meta.iter("查验")
    assert check.get("状态") == "not_checked"          # no tax platform in this configuration
    assert {e.get("状态") for e in meta.iter("业务行为")} == {"历史行为"}
    assert all(e.get("依据") for e in meta.iter("业务行为") if e.get("行为", "").startswith("claim."))
    result = meta.find("四性检测")
    assert result is not None and result.get("结论", "").startswith("通过")
    assert {c.get("代码") for c in result.iter("检测项")} >= {"GD-1-1", "GD-2-3", "GD-4-2"}
