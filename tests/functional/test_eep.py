"""DA/T 48 EEP rendering of an archive item, over the HTTP API: it embeds every file
of the package, verifies with the published key alone, and catches tampering."""
from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from invoice_archive.archive.eep import NAMESPACE, verify_eep
from tests.support.invoices import synthetic_xml
from tests.support.journey import (
    approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report,
)

NS = f"{{{NAMESPACE}}}"


@pytest.fixture
def service_overrides(tmp_path: Path) -> dict[str, str]:
    return {"bundle.signing_key": str(tmp_path / "bundle-key.pem"), "bundle.signing_key_generate": "true"}


@pytest.fixture
def item(service):
    inv = post_invoice(service, synthetic_xml("24992000000000000301"), "301.xml").json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    post_voucher(service, voucher_report(claim, number="0301"))
    return archive_period(service).json["archived"][0]


def test_the_eep_embeds_the_package_and_verifies_with_the_published_key(service, item):
    headers = service.headers("王审计")
    resp = service.app.get(f"/api/v1/archive/items/{item['id']}/eep", headers=headers)
    assert resp.content_type == "application/xml"
    assert resp.headers["Content-Disposition"].endswith(".eep.xml")
    eep = resp.body
    root = ET.fromstring(eep)
    assert root.tag == NS + "电子文件封装包" and root.findtext(NS + "版本") == "2009"
    signed = root.find(NS + "被签名对象")
    assert signed.findtext(NS + "封装包类型") == "原始型"
    assert signed.findtext(NS + "封装包创建单位") == "南京测试买方有限公司"
    record = signed.find(f"{NS}封装内容/{NS}文件实体块/{NS}文件实体")
    assert record.findtext(NS + "档号") == item["archival_code"]

    package = service.app.get(f"/api/v1/archive/items/{item['id']}/bundle", headers=headers).body
    with zipfile.ZipFile(BytesIO(package)) as zf:
        payload = {n.split("/data/", 1)[1]: zf.read(n) for n in zf.namelist() if "/data/" in n and not n.endswith("/")}
    embedded = {enc.findtext(f"{NS}反映编码的元数据/{NS}计算机文件名"): base64.b64decode(enc.findtext(NS + "编码数据"))
                for enc in root.iter(NS + "编码")}
    assert embedded == payload   # every file, byte for byte
    assert [e.findtext(NS + "业务行为") for e in root.iter(NS + "业务实体")]

    key = service.app.get("/api/v1/bundle-key").body
    checks = verify_eep(eep, key)
    assert checks and all(c.result == "pass" for c in checks), checks
    assert {c.code for c in checks} == {"eep_signature", "eep_lock_signature", "eep_file"}

    events = service.app.get("/api/v1/audit/events", params={"limit": 500}, headers=headers).json["items"]
    assert any(e["action"] == "archive.eep_downloaded" and e["actor"] == "王审计" for e in events)


def test_a_changed_byte_or_another_key_is_caught(service, item):
    from invoice_archive.bundle.signing import new_signer

    eep = service.app.get(f"/api/v1/archive/items/{item['id']}/eep", headers=service.headers("王审计")).body
    key = service.app.get("/api/v1/bundle-key").body
    name = "南京测试买方有限公司".encode()
    forged = eep.replace(name, "北京测试买方有限公司".encode(), 1)
    failed = {c.code for c in verify_eep(forged, key) if c.result == "fail"}
    assert {"eep_signature", "eep_lock_signature"} <= failed
    other = new_signer("ed25519").public_key_pem()
    assert {c.code for c in verify_eep(eep, other) if c.result == "fail"} >= {"eep_signature", "eep_lock_signature"}
    start = eep.index("<编码数据>".encode()) + len("<编码数据>".encode())
    swapped = eep[:start] + (b"A" if eep[start:start + 1] != b"A" else b"B") + eep[start + 1:]
    assert "eep_file" in {c.code for c in verify_eep(swapped, key) if c.result == "fail"}


def test_without_a_signing_key_the_eep_is_refused_clearly(db_url, tmp_path):
    """An archived item exists, the key is not configured: 503 with its code (a
    wrong id would be a 404 first)."""
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path)
    inv = post_invoice(svc, synthetic_xml("24992000000000000302"), "302.xml").json
    claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
    post_voucher(svc, voucher_report(claim, number="0302"))
    item = archive_period(svc).json["archived"][0]
    resp = svc.app.get(f"/api/v1/archive/items/{item['id']}/eep", headers=svc.headers("王审计"), status=503)
    assert resp.json["error"]["code"] == "bundle_signing_unconfigured"
    svc.app.get("/api/v1/archive/items/987654/eep", headers=svc.headers("王审计"), status=404)


def test_verify_eep_command_offline(service, item, tmp_path, capsys):
    import argparse

    from invoice_archive.cli.verify_eep import add_parser, run

    eep = tmp_path / "item.eep.xml"
    eep.write_bytes(service.app.get(f"/api/v1/archive/items/{item['id']}/eep", headers=service.headers("王审计")).body)
    key = tmp_path / "key.pem"
    key.write_bytes(service.app.get("/api/v1/bundle-key").body)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    assert run(parser.parse_args(["verify-eep", str(eep), "--public-key", str(key)])) == 0
    assert "结论: 全部通过" in capsys.readouterr().out
    eep.write_bytes(eep.read_bytes().replace("原始型".encode(), "修改型".encode(), 1))
    assert run(parser.parse_args(["verify-eep", str(eep), "--public-key", str(key), "--json"])) == 1
    assert '"status": "fail"' in capsys.readouterr().out


def test_hostile_xml_is_refused_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<r>&b;</r>")
    [check] = verify_eep(bomb, b"")
    assert check.code == "eep_xml" and check.result == "fail"
    assert verify_eep(b"not xml", b"")[0].result == "fail"
