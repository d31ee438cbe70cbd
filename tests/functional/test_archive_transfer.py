"""Transfer (移交) on the real app and database (docs/disposition.md): a fiscal year's items are
listed in a 移交清册 with 应保管期限 and 已保管期限, signed by the 移交人, the 接收人 and the
监交人 (three different people), signed with the service's key and archived for 30 years; the
items are marked transferred; the receiver checks the package with the published key."""
from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from invoice_archive.cli import main
from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report
from tests.support.records import add_people, archive_records, receive_statement, waive

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def service_overrides(tmp_path):
    return {"bundle.signing_key": str(tmp_path / "bundle-key.pem"), "bundle.signing_key_generate": "true"}


@pytest.fixture
def year_2024(service):
    """Two vouchers of July 2024 and a bank statement of the same month, archived."""
    add_people(service)
    for number, voucher_no in (("24992000000000000001", "0001"), ("24992000000000000002", "0002")):
        inv = post_invoice(service, synthetic_xml(number)).json
        claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
        post_voucher(service, voucher_report(claim, number=voucher_no))
    archive_period(service, 2024, 7)
    receive_statement(service, year=2024, month=7)
    archive_records(service, 2024, 7)
    return service


def _prepare(svc, who: str = "钱会计", status: int | str = 201) -> dict:
    return svc.app.post_json("/api/v1/archive/transfers", {"fiscal_year": 2024, "receiver_unit": "本单位档案室"},
                             headers=svc.headers(who), status=status).json


def _sign(svc, transfer_id: int, who: str, role: str, status: int | str = 200, **extra) -> dict:
    return svc.app.post_json(f"/api/v1/archive/transfers/{transfer_id}/sign",
                             {"role": role, "unit": {"handover": "会计管理机构", "receiver": "档案管理机构",
                                                     "supervisor": "单位负责人"}[role], **extra},
                             headers=svc.headers(who), status=status).json


def test_a_signed_transfer(year_2024, tmp_path, capsys, monkeypatch):
    svc = year_2024
    transfer = _prepare(svc)
    assert transfer["status"] == "prepared" and len(transfer["items"]) == 3
    assert _sign(svc, transfer["id"], "钱会计", "handover")["status"] == "prepared"
    # the 接收人 is the archives unit's, the 监交人 a 负责人's: a role may not sign for another
    wrong = _sign(svc, transfer["id"], "李审核", "receiver", status=403)["error"]
    assert wrong["code"] == "signoff_role_not_allowed"
    assert _sign(svc, transfer["id"], "钱会计", "handover", status=409)["error"]["code"] == "signoff_already_recorded"
    _sign(svc, transfer["id"], "赵档案", "receiver", **waive(svc))
    done = _sign(svc, transfer["id"], "李审核", "supervisor", comment="已逐项核对", **waive(svc))
    assert done["status"] == "completed" and [s["capacity"] for s in done["signoffs"]] == ["移交人", "接收人", "监交人"]
    list_item = done["list_item"]
    assert list_item["retention"] == "D30" and "-QT·" in list_item["archival_code"]
    # every item is marked transferred
    for entry in done["items"]:
        item = svc.app.get(f"/api/v1/archive/items/{entry['item_id']}", headers=svc.headers("王审计")).json
        assert item["transfer"] == {"number": done["number"], "status": "completed", "transferred": True}
    # the list, archived: 应保管期限, 已保管期限, the three signatures, and the service's signature beside it
    body = svc.app.get(f"/api/v1/archive/items/{list_item['id']}/package", headers=svc.headers("王审计")).body
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        files = {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}
    [xml_name] = [n for n in files if "-01-会计档案移交清册.xml" in n]
    assert any("-02-签名.json" in n for n in files)
    root = ET.fromstring(files[xml_name])
    rows = root.find("移交档案")
    assert rows.get("件数") == "3"
    assert {(el.get("应保管期限"), el.get("已保管期限")) for el in rows} == {("30年", "1年"), ("10年", "1年")}
    assert [(s.get("身份"), s.get("姓名")) for s in root.iter("签名")] == [
        ("移交人", "钱会计"), ("接收人", "赵档案"), ("监交人", "李审核")]
    # the transfer package, checked by the receiver with the published key
    package = svc.app.get(f"/api/v1/archive/transfers/{done['id']}/package", headers=svc.headers("王审计")).body
    key = svc.app.get("/api/v1/bundle-key").body
    (tmp_path / "t.zip").write_bytes(package)
    (tmp_path / "key.pem").write_bytes(key)
    monkeypatch.setenv("DATABASE_URL", svc.db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", svc.store_dir.as_uri())
    ini = ["-c", str(PROJECT / "development.ini")]
    capsys.readouterr()
    assert main([*ini, "transfer", "check", str(tmp_path / "t.zip"), "--public-key", str(tmp_path / "key.pem"),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report == {"ok": True, "items": 3, "passed": 3, "problems": [], "item_failures": {},
                      "signature": "checked"}
    # a second transfer of the same year finds nothing left
    assert _prepare(svc, status=409)["error"]["code"] == "nothing_to_transfer"


def test_three_different_people_sign(year_2024):
    svc = year_2024
    transfer = _prepare(svc, who="赵档案")
    _sign(svc, transfer["id"], "赵档案", "handover")      # an archivist may hand over for the accounting unit
    error = _sign(svc, transfer["id"], "赵档案", "receiver", status=403)["error"]
    assert error["code"] == "segregation_of_duties"


def test_a_year_not_over_cannot_be_transferred(year_2024):
    from tests.support.records import china_today

    error = year_2024.app.post_json("/api/v1/archive/transfers", {"fiscal_year": china_today().year,
                                                                  "receiver_unit": "档案室"},
                                    headers=year_2024.headers("钱会计"), status=409).json["error"]
    assert error["code"] == "fiscal_year_not_ended"


def test_a_cancelled_transfer_frees_its_items_and_an_unfinished_one_has_no_package(year_2024):
    svc = year_2024
    transfer = _prepare(svc)
    assert _prepare(svc, status=409)["error"]["code"] == "nothing_to_transfer"
    svc.app.get(f"/api/v1/archive/transfers/{transfer['id']}/package", headers=svc.headers("王审计"), status=409)
    cancelled = svc.app.post_json(f"/api/v1/archive/transfers/{transfer['id']}/cancel", {"reason": "清册有误，重新编制"},
                                  headers=svc.headers("钱会计")).json
    assert cancelled["status"] == "cancelled" and cancelled["items"] == []
    assert len(_prepare(svc)["items"]) == 3


def test_the_console_script_exports_the_signed_transfer(year_2024, tmp_path, capsys, monkeypatch):
    svc = year_2024
    transfer = _prepare(svc)
    _sign(svc, transfer["id"], "钱会计", "handover")
    _sign(svc, transfer["id"], "赵档案", "receiver")
    monkeypatch.setenv("DATABASE_URL", svc.db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", svc.store_dir.as_uri())
    monkeypatch.setenv("BUNDLE_SIGNING_KEY", svc.app_settings.bundle.signing_key.as_posix())
    ini = ["-c", str(PROJECT / "development.ini")]
    out = tmp_path / "transfer.zip"
    assert main([*ini, "transfer", "export", "--org", "Z001", "--year", "2024", "--out", str(out)]) == 1   # unsigned
    _sign(svc, transfer["id"], "李审核", "supervisor", **waive(svc))
    assert main([*ini, "transfer", "export", "--org", "Z001", "--year", "2024", "--out", str(out)]) == 0
    assert main([*ini, "transfer", "check", str(out)]) == 0          # without the key: signature not checked
    raw = bytearray(out.read_bytes())
    raw[len(raw) // 3] ^= 0x01
    out.write_bytes(bytes(raw))
    assert main([*ini, "transfer", "check", str(out)]) == 1
