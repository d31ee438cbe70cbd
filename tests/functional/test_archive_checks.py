"""The four-property check (DA/T 70) at archiving and on demand, the archived mark,
and the archive on an S3-compatible store (a real SeaweedFS)."""
from __future__ import annotations

import os
import shutil

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from tests.support.app import make_service
from tests.support.clamav import clamscan_installed
from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def posted(svc, number: str, voucher_no: str, data: bytes | None = None) -> dict:
    inv = post_invoice(svc, data or synthetic_xml(number)).json
    claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
    return post_voucher(svc, voucher_report(claim, number=voucher_no)).json


@pytest.fixture
def clamav(tmp_path):
    if shutil.which("clamscan") is None:
        message = "ClamAV (clamscan) is not installed: apt-get install clamav"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    db = tmp_path / "eicar.ndb"     # the official database cannot be downloaded here
    db.write_text(f"Invoice-Archive.Test.EICAR:0:*:{EICAR.hex()}\n", encoding="ascii")
    return str(db)


def test_checks_run_at_archiving_and_are_kept(service):
    posted(service, "24992000000000000001", "0001")
    item = archive_period(service).json["archived"][0]
    checks = {c["code"]: c["result"] for c in item["checks"]["checks"]}
    assert item["checks"]["passed"] is True and item["checks"]["registrable"] is True
    for code in ("GD-1-1", "GD-1-2", "GD-1-3", "GD-1-4", "GD-1-5", "GD-1-6", "GD-1-8", "GD-1-11", "GD-2-5",
                 "GD-2-7", "GD-2-9", "GD-3-1", "GD-4-3"):
        assert checks[code] == "pass", (code, item["checks"])
    if clamscan_installed():                          # the tests' ClamAV scanned it
        assert item["checks"]["complete"] is True and checks["GD-4-1"] == checks["GD-4-2"] == "pass"
    else:                                             # archived on the archivist's waiver
        assert [w["code"] for w in item["checks"]["waivers"]] == ["GD-4-1", "GD-4-2"]


def test_a_virus_fails_the_check_and_nothing_is_archived(db_url, tmp_path, clamav):
    svc = make_service(db_url, tmp_path / "store", **{"archive.clamav_database": clamav})
    infected = synthetic_xml("24992000000000000001").replace("合成示例发票，仅供演示与测试".encode(), EICAR)
    posted(svc, "24992000000000000001", "0001", infected)
    posted(svc, "24992000000000000002", "0002")
    run = archive_period(svc).json
    [failure] = run["failed"]
    assert failure["voucher_number"] == "记-0001" and {"GD-4-1", "GD-4-2"} & set(failure["codes"])
    assert failure["code"] == "four_property_check_failed"
    # the clean voucher is archived, and takes number 0001: the failed one gave its number back
    assert [i["archival_code"][-4:] for i in run["archived"]] == ["0001"]
    assert svc.count("archive_items") == 1
    assert len([p for p in svc.stored_files() if p.suffix == ".zip"]) == 1
    svc.engine.dispose()


def test_a_changed_package_fails_the_recheck(service):
    posted(service, "24992000000000000001", "0001")
    item = archive_period(service).json["archived"][0]
    path = next(p for p in service.stored_files() if p.suffix == ".zip")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    report = service.app.post_json(f"/api/v1/archive/items/{item['id']}/check", {},
                                   headers=service.headers("赵档案")).json
    assert report["passed"] is False
    failing = {c["code"] for c in report["checks"] if c["result"] == "fail"}
    assert "GD-1-14" in failing
    year = service.app.post_json("/api/v1/archive/checks", {"fiscal_year": 2024},
                                 headers=service.headers("赵档案")).json
    assert year["checked"] == 1 and year["failed"][0]["archival_code"] == item["archival_code"]


def test_withdrawing_the_mark_is_explicit_logged_and_allows_rearchiving(service):
    posted(service, "24992000000000000001", "0001")
    first = archive_period(service).json["archived"][0]
    assert archive_period(service).json["archived"] == []
    out = service.app.post_json(f"/api/v1/archive/items/{first['id']}/withdraw", {"reason": "元数据需补录"},
                                headers=service.headers("赵档案")).json
    assert out["withdrawn_by"] == "赵档案" and out["withdrawal_reason"] == "元数据需补录"
    service.app.post_json(f"/api/v1/archive/items/{first['id']}/withdraw", {"reason": "again"},
                          headers=service.headers("赵档案"), status=409)
    again = archive_period(service).json["archived"]
    assert [i["archival_code"][-4:] for i in again] == ["0002"]
    events = service.app.get("/api/v1/audit/events?object_type=archive_item", headers=service.headers("王审计")).json
    assert "archive.withdrawn" in [e["action"] for e in events["items"]]


def test_archive_items_change_only_by_withdrawal(service):
    posted(service, "24992000000000000001", "0001")
    archive_period(service)
    with pytest.raises(DatabaseError):
        with service.engine.begin() as conn:
            conn.execute(text("UPDATE archive_items SET archival_code = 'X'"))
    with pytest.raises(DatabaseError):
        with service.engine.begin() as conn:
            conn.execute(text("DELETE FROM archive_items"))
    assert service.count("archive_items") == 1


def test_the_whole_archive_path_on_s3(db_url, tmp_path, seaweed, s3_bucket):
    """Originals and packages in an S3-compatible store (SeaweedFS), not on disk."""
    url = f"s3://{s3_bucket}/functional-{os.getpid()}-{tmp_path.name}?endpoint={seaweed.endpoint}&addressing=path"
    svc = make_service(db_url, tmp_path / "unused", **{
        "archive.store_url": url,
        "archive.s3.access_key_id": seaweed.access_key, "archive.s3.secret_access_key": seaweed.secret_key})
    data = synthetic_xml("24992000000000000001")
    posted(svc, "24992000000000000001", "0001", data)
    item = archive_period(svc).json["archived"][0]
    bundle = svc.app.get(f"/api/v1/archive/items/{item['id']}/bundle", headers=svc.headers("王审计")).body
    from invoice_archive.digests import sha256_hex

    assert sha256_hex(bundle) == item["package_sha256"]
    assert svc.stored_files() == []                   # nothing went to the local disk
    svc.engine.dispose()


def test_a_period_of_several_vouchers_on_s3_packages_each_voucher_its_own_originals(db_url, tmp_path, seaweed,
                                                                                      s3_bucket):
    """The run reads originals ahead from the object store: each package still holds its
    own voucher's originals, byte for byte."""
    import io
    import zipfile

    from invoice_archive.digests import sha256_hex

    url = f"s3://{s3_bucket}/ahead-{os.getpid()}-{tmp_path.name}?endpoint={seaweed.endpoint}&addressing=path"
    svc = make_service(db_url, tmp_path / "unused", **{
        "archive.store_url": url,
        "archive.s3.access_key_id": seaweed.access_key, "archive.s3.secret_access_key": seaweed.secret_key})
    sent = {}
    for n in range(1, 6):
        number = f"2499200000000000{n:04d}"
        sent[number] = synthetic_xml(number)
        posted(svc, number, f"{n:04d}", sent[number])
    items = archive_period(svc).json["archived"]
    assert len(items) == 5
    for item in items:
        package = svc.app.get(f"/api/v1/archive/items/{item['id']}/package", headers=svc.headers("王审计")).body
        with zipfile.ZipFile(io.BytesIO(package)) as zf:
            originals = [zf.read(n) for n in zf.namelist() if "-03-原始凭证-" in n]
        voucher = svc.app.get(f"/api/v1/vouchers/{item['voucher_id']}", headers=svc.headers("王审计")).json
        [invoice_id] = voucher["invoice_ids"]
        number = svc.app.get(f"/api/v1/invoices/{invoice_id}", headers=svc.headers("王审计")).json["number"]
        assert [sha256_hex(o) for o in originals] == [sha256_hex(sent[number])]
    svc.engine.dispose()


@pytest.mark.parametrize("registered, read", [
    ([], []),
    ([1, 2, 3], [1, 2, 3]),             # gap-free: told by count, min and max
    ([3, 1, 2], [1, 2, 3]),
    ([1, 2, 4], [1, 2, 4]),             # a gap: read one by one, so GD-2-6 can name it
    ([2, 3], [2, 3]),                   # not from 0001
])
def test_a_volumes_item_numbers_are_what_is_registered(service, registered, read):
    """GD-2-6 holds each new item against its volume's item numbers. They are read from
    one aggregate row when gap-free, and one by one otherwise: the same numbers either way."""
    from invoice_archive.db import session_factory
    from invoice_archive.models import ArchiveItem, Organisation
    from invoice_archive.services.sequences import volume_item_numbers

    with session_factory(service.engine)() as db, db.begin():
        org = db.query(Organisation).one()
        for n in registered:
            code = f"{org.fonds_code}-KJ·2024·D30-0007-{n:04d}"
            db.add(ArchiveItem(org_id=org.id, category="ledger", record_kind="ledger", record_key=f"ledger:{n}",
                               archival_code=code, fonds_code=org.fonds_code, class_code="KJ·2024·D30", volume_no=7,
                               item_no=n, fiscal_year=2024, period=1, retention="D30", package_key=f"k/{n}",
                               package_sha256="0" * 64, package_sm3="0" * 64, package_size=1, manifest=[],
                               archived_by="test"))
    with session_factory(service.engine)() as db:
        org_id = db.query(Organisation.id).scalar()
        assert list(volume_item_numbers(db, org_id, "KJ·2024·D30", 7)) == read
        assert list(volume_item_numbers(db, org_id, "KJ·2024·D30", 8)) == []
