"""DA/T 48 EEP rendering of an archive item, over the HTTP API: it validates against
DA/T 48 Appendix A's schema, embeds every file of the package, carries the bundle
key's certificate, verifies with the published key alone, keeps the original inside
a 修改型 layer, and catches tampering."""
from __future__ import annotations

import base64
import datetime as dt
import xml.etree.ElementTree as ET
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from invoice_archive.archive.eep import NAMESPACE, validate_eep, verify_eep
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


def _payload(service, item) -> dict[str, bytes]:
    package = service.app.get(f"/api/v1/archive/items/{item['id']}/bundle", headers=service.headers("王审计")).body
    with zipfile.ZipFile(BytesIO(package)) as zf:
        return {n.split("/data/", 1)[1]: zf.read(n) for n in zf.namelist() if "/data/" in n and not n.endswith("/")}


def test_the_eep_embeds_the_package_validates_and_verifies_with_the_published_key(service, item):
    headers = service.headers("王审计")
    resp = service.app.get(f"/api/v1/archive/items/{item['id']}/eep", headers=headers)
    assert resp.content_type == "application/xml"
    assert resp.headers["Content-Disposition"].endswith(".eep.xml")
    eep = resp.body
    assert validate_eep(eep) == []                   # DA/T 48 Appendix A's schema
    root = ET.fromstring(eep)
    assert root.tag == NS + "电子文件封装包" and root.findtext(NS + "版本") == "2009"
    signed = root.find(NS + "被签名对象")
    assert signed.findtext(NS + "封装包类型") == "原始型"
    assert signed.findtext(NS + "封装包创建单位") == "南京测试买方有限公司"
    record = signed.find(f"{NS}封装内容/{NS}文件实体块/{NS}文件实体")
    assert record.findtext(NS + "聚合层次") == "文件"
    assert record.find(NS + "档号").text == item["archival_code"]
    assert record.findtext(f"{NS}存储位置/{NS}当前位置").endswith(f"{item['archival_code']}.zip")
    assert [g.findtext(NS + "授权对象") for g in record.iter(NS + "授权")]

    embedded = {enc.findtext(f"{NS}电子属性/{NS}计算机文件名"): base64.b64decode(enc.findtext(NS + "编码数据"))
                for enc in record.iter(NS + "编码")}
    assert embedded == _payload(service, item)   # every file, byte for byte, the XBRL posting information too
    assert any(name.endswith("-05-入账信息-01.xml") for name in embedded)
    assert {e.findtext(NS + "业务状态") for e in root.iter(NS + "业务实体")} == {"历史行为"}
    lock = root.find(NS + "锁定签名")
    assert lock.findtext(NS + "被锁定签名标识符") == root.findtext(f"{NS}电子签名块/{NS}电子签名/{NS}签名标识符")

    key = service.app.get("/api/v1/bundle-key").body
    checks = verify_eep(eep, key)
    assert checks and all(c.result == "pass" for c in checks), checks
    assert {c.code for c in checks} == {"eep_schema", "eep_certificate", "eep_signature", "eep_lock_signature",
                                        "eep_file"}

    events = service.app.get("/api/v1/audit/events", params={"limit": 500}, headers=headers).json["items"]
    assert any(e["action"] == "archive.eep_downloaded" and e["actor"] == "王审计" for e in events)


def test_the_certificate_in_the_eep_certifies_the_published_key(service, item):
    from invoice_archive.bundle.certificate import read_certificate
    from invoice_archive.bundle.signing import key_fingerprint

    eep = service.app.get(f"/api/v1/archive/items/{item['id']}/eep", headers=service.headers("王审计")).body
    der = base64.b64decode(ET.fromstring(eep).findtext(f".//{NS}证书"))
    facts = read_certificate(der)
    key = service.app.get("/api/v1/bundle-key").body
    assert key_fingerprint(facts.public_key_pem) == key_fingerprint(key)
    assert facts.self_signed and facts.self_signature_ok


def test_a_modified_eep_keeps_the_original_and_records_what_happened_since(service, item):
    headers = service.headers("王审计")
    original = service.app.get(f"/api/v1/archive/items/{item['id']}/eep", headers=headers).body
    service.app.post(f"/api/v1/archive/items/{item['id']}/check", headers=service.headers("赵档案"))
    resp = service.app.get(f"/api/v1/archive/items/{item['id']}/eep", params={"type": "modified"}, headers=headers)
    assert resp.headers["Content-Disposition"].endswith(".modified.eep.xml")
    eep = resp.body
    assert validate_eep(eep) == []
    root = ET.fromstring(eep)
    assert root.find(NS + "被签名对象").findtext(NS + "封装包类型") == "修改型"
    inner = root.find(f"{NS}被签名对象/{NS}修改封装内容/{NS}原封装包/{NS}被签名对象")
    assert inner.findtext(NS + "封装包类型") == "原始型"
    # the original layer is the 原始型 EEP's, byte for byte up to its signature (Ed25519 is deterministic)
    start = original.index("<被签名对象".encode())
    end = original.index("</电子签名块>".encode()) + len("</电子签名块>".encode())
    assert original[start:end] in eep
    revised = root.find(f"{NS}被签名对象/{NS}修改封装内容/{NS}修订内容")
    assert "四性检测（复检）" in [e.findtext(NS + "业务行为") for e in revised.iter(NS + "业务实体")]
    assert all(d.get("引用编码数据ID") and not (d.text or "").strip() for d in revised.iter(NS + "编码数据"))
    key = service.app.get("/api/v1/bundle-key").body
    checks = verify_eep(eep, key)
    assert all(c.result == "pass" for c in checks), [c for c in checks if c.result != "pass"]
    assert "eep_original_signature" in {c.code for c in checks}
    # a change inside the original layer breaks both layers' signatures
    inner_at = eep.index("<被签名对象".encode(), eep.index("<原封装包".encode()))
    forged = eep[:inner_at] + eep[inner_at:].replace("南京测试买方有限公司".encode(), "北京测试买方有限公司".encode(), 1)
    failed = {c.code for c in verify_eep(forged, key) if c.result == "fail"}
    assert {"eep_signature", "eep_original_signature"} <= failed


def test_the_operators_certificate_goes_into_the_eep_and_a_wrong_one_stops_the_start(db_url, tmp_path):
    """bundle.certificate: a certificate the operator's CA issued for the bundle key is
    carried as it is; one for another key fails at start-up."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    from invoice_archive.bundle.signing import SigningKeyError, generate_key
    from tests.support.app import make_service

    key_path = tmp_path / "bundle-key.pem"
    signer = generate_key("ed25519", key_path)
    ca_key = ed25519.Ed25519PrivateKey.generate()
    ca = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "测试单位 CA")])

    def issue(public_key):
        return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "归档签名")]))
                .issuer_name(ca).public_key(public_key).serial_number(7)
                .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
                .not_valid_after(dt.datetime(2099, 1, 1, tzinfo=dt.UTC)).sign(ca_key, None))

    bundle_public = serialization.load_pem_public_key(signer.public_key_pem())
    cert_path = tmp_path / "bundle-cert.pem"
    issued = issue(bundle_public)
    cert_path.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
    svc = make_service(db_url, tmp_path / "store", **{"bundle.signing_key": str(key_path),
                                                      "bundle.certificate": str(cert_path)})
    inv = post_invoice(svc, synthetic_xml("24992000000000000303"), "303.xml").json
    claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
    post_voucher(svc, voucher_report(claim, number="0303"))
    item = archive_period(svc).json["archived"][0]
    eep = svc.app.get(f"/api/v1/archive/items/{item['id']}/eep", headers=svc.headers("王审计")).body
    carried = base64.b64decode(ET.fromstring(eep).findtext(f".//{NS}证书"))
    assert carried == issued.public_bytes(serialization.Encoding.DER)
    checks = {c.code: c for c in verify_eep(eep, signer.public_key_pem())}
    assert all(c.result == "pass" for c in checks.values()), checks
    assert "测试单位 CA" in checks["eep_certificate"].detail

    other = tmp_path / "other-cert.pem"
    other.write_bytes(issue(ed25519.Ed25519PrivateKey.generate().public_key()).public_bytes(serialization.Encoding.PEM))
    with pytest.raises(SigningKeyError, match="公钥"):
        make_service(db_url, tmp_path / "store2", **{"bundle.signing_key": str(key_path),
                                                     "bundle.certificate": str(other)})


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
    start = eep.index("<编码数据 ".encode())
    start = eep.index(b">", start) + 1
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
    assert run(parser.parse_args(["verify-eep", str(eep)])) == 0    # with the certificate's key alone
    assert "eep_certificate" in capsys.readouterr().out
    eep.write_bytes(eep.read_bytes().replace("原始型".encode(), "修改型".encode(), 1))
    assert run(parser.parse_args(["verify-eep", str(eep), "--public-key", str(key), "--json"])) == 1
    assert '"status": "fail"' in capsys.readouterr().out


def test_hostile_xml_is_refused_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<r>&b;</r>")
    [check] = verify_eep(bomb, b"")
    assert check.code == "eep_xml" and check.result == "fail"
    assert verify_eep(b"not xml", b"")[0].result == "fail"
