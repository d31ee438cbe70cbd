"""The voucher bundle, its published key and the renditions, over the HTTP API."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from invoice_archive.bundle import verify_bundle
from invoice_archive.digests import sha256_hex
from tests.support.invoices import synthetic_xml
from tests.support.journey import (
    approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report,
)

NUMBER = "24992000000000000021"


@pytest.fixture(params=["ed25519", "sm2-sm3"])
def algorithm(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def service_overrides(tmp_path: Path, algorithm: str) -> dict[str, str]:
    return {"bundle.signing_algorithm": algorithm, "bundle.signing_key": str(tmp_path / "keys" / "bundle.pem"),
            "bundle.signing_key_generate": "true"}


@pytest.fixture
def voucher(service: Any) -> dict[str, Any]:
    original = synthetic_xml(NUMBER)
    inv = post_invoice(service, original, f"{NUMBER}.xml").json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    v = post_voucher(service, voucher_report(claim, number="0009")).json
    return {**v, "original": original, "invoice_id": inv["id"]}


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rezip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_bundle_verifies_offline_with_the_published_key(service, voucher, algorithm):
    archive_period(service)
    key = service.app.get("/api/v1/bundle-key")        # public: no token
    assert key.content_type == "application/x-pem-file"
    assert key.headers["X-Key-Algorithm"] == algorithm
    resp = service.app.get(f"/api/v1/vouchers/{voucher['id']}/bundle", headers=service.headers("王审计"))
    assert resp.content_type == "application/zip"
    report = verify_bundle(resp.body, key.body)
    assert report.status == "pass", report.to_text()
    members = _members(resp.body)
    assert members["invoices/01/original.xml"] == voucher["original"]          # byte for byte
    claim = json.loads(members["claim/claim.json"])
    assert [s["step"] for s in claim["sign_offs"]] == ["经办", "审核", "审批"]
    assert json.loads(members["voucher/voucher.json"])["display_number"] == "记-0009"
    meta = json.loads(members["metadata/archive.json"])
    assert meta["archived"] is True and meta["archival_code"].startswith("Z001-PZ·")
    assert "metadata/archive.xml" in members
    actions = {e["action"] for e in json.loads(members["audit/audit_log.json"])}
    assert "archive.archived" in actions
    assert json.loads(members["manifest.json"])["bundle_id"] == meta["archival_code"]


def test_each_download_is_audited(service, voucher):
    data = service.app.get(f"/api/v1/vouchers/{voucher['id']}/bundle", headers=service.headers("王审计")).body
    events = service.app.get("/api/v1/audit/events", params={"object_type": "voucher",
                                                            "object_id": str(voucher["id"])},
                             headers=service.headers("王审计")).json["items"]
    downloads = [e for e in events if e["action"] == "voucher.bundle_downloaded"]
    assert len(downloads) == 1
    assert downloads[0]["actor"] == "王审计"
    assert downloads[0]["detail"]["sha256"] == sha256_hex(data)


def test_unarchived_voucher_has_a_bundle_too(service, voucher):
    data = service.app.get(f"/api/v1/vouchers/{voucher['id']}/bundle", headers=service.headers("王审计")).body
    assert json.loads(_members(data)["metadata/archive.json"])["archived"] is False
    assert verify_bundle(data).ok


@pytest.mark.parametrize("part", ["invoices/01/original.xml", "claim/claim.json", "audit/audit_log.json",
                                  "manifest.json"])
def test_tampering_is_caught_and_named(service, voucher, part):
    key = service.app.get("/api/v1/bundle-key").body
    data = service.app.get(f"/api/v1/vouchers/{voucher['id']}/bundle", headers=service.headers("王审计")).body
    members = _members(data)
    members[part] = members[part].replace(b"0", b"1", 1)
    report = verify_bundle(_rezip(members), key)
    assert report.status == "fail"
    if part == "manifest.json":     # a changed manifest breaks its signature
        assert "signature_valid" in report.failed_codes(), report.to_text()
    else:
        assert part in {c.file for c in report.failed}, report.to_text()


def test_dropped_file_is_caught(service, voucher):
    data = service.app.get(f"/api/v1/vouchers/{voucher['id']}/bundle", headers=service.headers("王审计")).body
    members = _members(data)
    del members["invoices/01/verification.json"]
    report = verify_bundle(_rezip(members))
    assert "invoices/01/verification.json" in {c.file for c in report.failed}


def test_bundle_refusals(service, voucher):
    assert service.app.get(f"/api/v1/vouchers/{voucher['id']}/bundle", headers=service.headers("张经办"),
                           status=403).json["error"]["code"] == "forbidden"
    service.app.get(f"/api/v1/vouchers/{voucher['id']}/bundle", status=401)
    assert service.app.get("/api/v1/vouchers/999/bundle", headers=service.headers("王审计"),
                           status=404).json["error"]["code"] == "voucher_not_found"


def test_renditions_are_served_and_audited(service, voucher):
    svg = service.app.get(f"/api/v1/invoices/{voucher['invoice_id']}/rendition.svg",
                          headers=service.headers("王审计"))
    assert svg.content_type == "image/svg+xml"
    assert b"<svg" in svg.body and NUMBER.encode() in svg.body
    pdf = service.app.get(f"/api/v1/invoices/{voucher['invoice_id']}/rendition.pdf",
                          headers=service.headers("王审计"))
    assert pdf.body.startswith(b"%PDF-")
    events = service.app.get("/api/v1/audit/events", params={"object_type": "invoice",
                                                            "object_id": str(voucher["invoice_id"])},
                             headers=service.headers("王审计")).json["items"]
    assert [e["detail"]["format"] for e in events if e["action"] == "invoice.rendition_viewed"] == ["svg", "pdf"]


def test_without_a_key_the_bundle_is_unavailable(db_url, tmp_path):
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path / "store")
    try:
        assert svc.app.get("/api/v1/bundle-key", status=503).json["error"]["code"] == "bundle_signing_unconfigured"
    finally:
        svc.engine.dispose()
