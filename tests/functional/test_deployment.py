"""What an evaluator's run needs beside the journey (docs/acceptance.md): who a token is,
the deployment's profile, the bundle key's signature on a report's digest, whether a
file is held, the transfer package and the appraisal list over the API."""
from __future__ import annotations

import hashlib

import pytest

from invoice_archive.bundle.statement import verify_statement
from invoice_archive.synth import pki as synth_pki
from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report


@pytest.fixture
def service_overrides(tmp_path):
    trust = synth_pki.build_pki().write_trust_store(tmp_path / "trust")
    return {"bundle.signing_key": str(tmp_path / "key.pem"), "bundle.signing_key_generate": "true",
            "verification.trust_store": str(trust), "deployment.profile": "试点验收"}


def test_me_names_the_person_role_and_organisation(service):
    me = service.app.get("/api/v1/me", headers=service.headers("张经办")).json
    assert me["name"] == "张经办" and me["role"] == "finance"
    assert me["organisation"]["fonds_code"] == "Z001" and me["organisation"]["tax_id"] == "91320115MA202UKD7X"
    service.app.get("/api/v1/me", status=401)


def test_the_profile_states_version_profile_and_what_scenarios_depend_on(service, tmp_path):
    profile = service.app.get("/api/v1/deployment", headers=service.headers("王审计")).json
    assert profile["profile"] == "试点验收" and profile["version"]
    assert profile["accounting_system"] is None and profile["tax_platform"] is False
    root = (tmp_path / "trust" / "root.pem").read_bytes()
    from invoice_archive.verification.certs import parse_certificate

    der = parse_certificate(root).der
    assert profile["trust_store"]["roots"] == [{"subject": parse_certificate(root).info_subject,
                                                 "sha256": hashlib.sha256(der).hexdigest()}]
    assert profile["bundle_signing"]["algorithm"] == "ed25519"
    assert "valid" in profile["reimbursable_verdicts"]
    # not for a claimant: the configuration is the auditors' and the administrators' to read
    service.app.get("/api/v1/deployment", headers=service.headers("张经办"), status=403)


def test_the_bundle_key_signs_a_reports_digest_and_the_signature_checks_offline(service):
    digest = hashlib.sha256(b"SHA256SUMS of a report").hexdigest()
    signed = service.app.post_json("/api/v1/acceptance/signatures", {"sha256": digest, "title": "试点验收报告"},
                                   headers=service.headers("王审计"), status=201).json
    key = service.app.get("/api/v1/bundle-key").body
    check = verify_statement(signed, key, expected_sha256=digest)
    assert check.ok, check.problems
    assert check.statement["requested_by"] == "王审计" and check.statement["deployment"]["profile"] == "试点验收"
    # a changed digest, a changed statement, another key: each is caught
    assert not verify_statement(signed, key, expected_sha256="0" * 64).ok
    forged = {**signed, "statement": signed["statement"].replace("王审计", "李审计")}
    assert not verify_statement(forged, key).ok
    from invoice_archive.bundle import new_signer

    assert not verify_statement(signed, new_signer("ed25519").public_key_pem()).ok
    # written to the audit log, under the digest
    events = service.app.get("/api/v1/audit/events", {"object_type": "report", "object_id": digest},
                             headers=service.headers("王审计")).json["items"]
    assert [e["action"] for e in events] == ["acceptance.report_signed"] and events[0]["actor"] == "王审计"
    # only a full SHA-256, and only for the evaluator's (auditor's) role
    err = service.app.post_json("/api/v1/acceptance/signatures", {"sha256": "abc"}, headers=service.headers("王审计"),
                                status="*")
    assert err.status_int in (400, 422)
    service.app.post_json("/api/v1/acceptance/signatures", {"sha256": digest}, headers=service.headers("张经办"),
                          status=403)


def test_without_a_key_the_signature_is_refused_in_words(db_url, tmp_path):
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path / "store")
    try:
        err = svc.app.post_json("/api/v1/acceptance/signatures", {"sha256": "a" * 64},
                                headers=svc.headers("王审计"), status=503).json["error"]
        assert err["code"] == "bundle_signing_unconfigured" and "签名密钥" in err["message"]
    finally:
        svc.engine.dispose()


def test_a_file_is_held_once_received_and_not_after_a_refusal(service):
    data = synthetic_xml()
    sha = hashlib.sha256(data).hexdigest()
    auditor = service.headers("王审计")
    assert service.app.get(f"/api/v1/originals/{sha}", headers=auditor).json == {
        "sha256": sha, "invoice_id": None, "stored": False}
    inv = post_invoice(service, data).json
    assert service.app.get(f"/api/v1/originals/{sha}", headers=auditor).json == {
        "sha256": sha, "invoice_id": inv["id"], "stored": True}
    refused = b"<?xml version='1.0'?><!DOCTYPE EInvoice [<!ENTITY x 'y'>]><EInvoice>&x;</EInvoice>"
    post_invoice(service, refused, "hostile.xml", status=422)
    held = service.app.get(f"/api/v1/originals/{hashlib.sha256(refused).hexdigest()}", headers=auditor).json
    assert held["invoice_id"] is None and held["stored"] is False
    assert service.app.get("/api/v1/originals/xyz", headers=auditor, status="*").status_int in (400, 422)


def _archived(service, number: str, voucher_no: str) -> dict:
    inv = post_invoice(service, synthetic_xml(number)).json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    post_voucher(service, voucher_report(claim, number=voucher_no))
    return inv


def test_the_appraisal_due_list_over_the_api(service):
    """What the acceptance run reads for 鉴定 (the signed transfer is tests/functional/test_archive_transfer.py)."""
    _archived(service, "24992000000000000001", "0001")
    _archived(service, "24992000000000000002", "0002")
    [first, second] = archive_period(service).json["archived"]
    # retention 30 years from the day after the fiscal year ends: due after 2054-12-31
    auditor = service.headers("王审计")
    assert first["retention_until"] == "2054-12-31"
    due = service.app.get("/api/v1/archive/appraisals", {"as_of": "2055-01-01"}, headers=auditor).json
    assert [i["archival_code"] for i in due["items"]] == [first["archival_code"], second["archival_code"]]
    assert service.app.get("/api/v1/archive/appraisals", {"as_of": "2054-12-31"}, headers=auditor).json["total"] == 0
    assert service.app.get("/api/v1/archive/appraisals", headers=auditor).json["total"] == 0
