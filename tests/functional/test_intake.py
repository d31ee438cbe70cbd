"""Intake over the HTTP API: readable invoices are stored byte for byte; everything
else is refused with a code, leaving nothing behind."""
from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import pytest

from invoice_archive.digests import sha256_hex, sm3_hex
from tests.support.invoices import sample, synthetic_xml
from tests.support.journey import approve_claim, create_claim, post_invoice, post_voucher, voucher_report


def assert_nothing_left(service) -> None:
    assert service.count("invoices") == 0
    assert service.count("audit_events") == 0
    assert service.stored_files() == []


def test_xml_invoice_is_read_and_stored_byte_for_byte(service):
    data = synthetic_xml()
    body = post_invoice(service, data, "dzfp.xml").json
    assert body["kind"] == "digital_normal"
    assert body["number"] == "24992000000000000001"
    assert body["business_key"] == "24992000000000000001"
    assert body["total"] == "1060.00" and body["tax"] == "60.00" and body["amount_excl_tax"] == "1000.00"
    assert body["buyer"]["tax_id"] == "91320115MA202UKD7X"
    assert body["status"] == "received"
    assert body["verdict"] == "present_not_verifiable"
    assert body["sha256"] == sha256_hex(data) and body["sm3"] == sm3_hex(data)
    original = service.app.get(f"/api/v1/invoices/{body['id']}/original", headers=service.headers("王审计"))
    assert original.body == data


@pytest.mark.parametrize("content_type", ["application/xml", "text/xml", "application/octet-stream"])
def test_xml_is_accepted_under_each_media_type(service, content_type):
    data = synthetic_xml()
    body = post_invoice(service, data, "dzfp.xml", content_type=content_type).json
    assert body["sha256"] == sha256_hex(data)


@pytest.mark.parametrize("content_type", ["application/ofd", "application/octet-stream"])
def test_ofd_is_accepted_under_each_media_type(service, content_type):
    data = sample("ofdrw/converter__1.ofd")
    assert post_invoice(service, data, content_type=content_type).json["number"] == "83089647"


def test_real_ofd_sample_is_read(service):
    data = sample("ofdrw/converter__1.ofd")
    body = post_invoice(service, data, "converter__1.ofd").json
    assert (body["code"], body["number"]) == ("033002000211", "83089647")
    assert body["issue_date"] == "2020-07-23"
    assert Decimal(body["total"]) == Decimal("526.00")
    assert body["buyer"]["tax_id"] == "91320115MA202UKD7X"
    assert body["verdict"] == "valid"


def test_second_submission_is_refused_with_evidence(service):
    data = synthetic_xml()
    first = post_invoice(service, data).json
    claim = create_claim(service, [first["id"]]).json
    again = post_invoice(service, data, status=409).json["error"]
    assert again["code"] == "duplicate_invoice"
    assert again["detail"]["invoice_id"] == first["id"]
    assert again["detail"]["claim"]["number"] == claim["number"]
    assert claim["number"] in again["message"]
    assert service.count("invoices") == 1


def test_duplicate_names_the_voucher_once_posted(service):
    inv = post_invoice(service, synthetic_xml()).json
    claim = create_claim(service, [inv["id"]]).json
    claim = approve_claim(service, claim["id"])
    post_voucher(service, voucher_report(claim, number="0042"))
    err = post_invoice(service, synthetic_xml(), status=409).json["error"]
    assert err["detail"]["voucher"]["number"] == "记-0042"
    assert "记-0042" in err["message"]


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("data", [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00\x01garbage\xff" * 50, id="garbage"),
    pytest.param(_zip({"readme.txt": b"hello"}), id="zip-not-ofd"),
    pytest.param(b"<?xml version='1.0'?><order><id>1</id></order>", id="xml-not-invoice"),
    pytest.param(b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><EInvoice>&a;</EInvoice>", id="xml-dtd"),
])
def test_unreadable_files_are_refused_and_nothing_is_left(service, data):
    resp = post_invoice(service, data, "bad.ofd", status="4*")
    err = resp.json["error"]
    assert 400 <= resp.status_int < 500
    assert err["code"] and err["code"] != "internal_error"
    assert err["message"]
    assert_nothing_left(service)


@pytest.mark.parametrize("bad", ["NaN", "1e309", "Infinity", "1060.005", "123456789012345678901234"])
def test_an_amount_that_is_not_money_is_refused_at_intake(service, bad):
    """Read as "no total", it used to pass the rules and make a claim of 0.00."""
    data = synthetic_xml().replace(b"<TotalTax-includedAmount>1060.00<",
                                   f"<TotalTax-includedAmount>{bad}<".encode())
    err = post_invoice(service, data, "dzfp.xml", status=422).json["error"]
    assert err["code"] == "amount_unreadable" and "价税合计" in err["message"] and bad[:20] in err["message"]
    assert_nothing_left(service)


def test_a_failure_after_the_file_was_stored_removes_it(service):
    """The original is written before commit; if the transaction aborts, it goes.
    The fault is real: the database refuses the audit event at commit time."""
    from sqlalchemy import text

    with service.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("CREATE FUNCTION t_fail() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$"))
            conn.execute(text("CREATE TRIGGER t_fail BEFORE INSERT ON audit_events "
                              "FOR EACH ROW EXECUTE FUNCTION t_fail()"))
        else:
            conn.execute(text("CREATE TRIGGER t_fail BEFORE INSERT ON audit_events "
                              "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END"))
    resp = post_invoice(service, synthetic_xml(), status=500)
    assert resp.json["error"]["code"] == "internal_error"
    assert_nothing_left(service)


def test_upload_over_the_limit_is_413(db_url, tmp_path):
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path / "store", **{"intake.max_upload_bytes": "1000"})
    resp = post_invoice(svc, synthetic_xml(), status=413)
    assert resp.json["error"]["code"] == "too_large"
    svc.engine.dispose()


def test_unknown_media_type_is_415(service):
    resp = post_invoice(service, synthetic_xml(), content_type="image/png", status=415)
    assert resp.json["error"]["code"] == "unsupported_media_type"


def test_tampered_invoice_is_refused_naming_the_changed_file(service):
    resp = post_invoice(service, sample("ofdrw/converter__发票示例.ofd"), status=422)
    err = resp.json["error"]
    assert err["code"] == "invoice_tampered"
    assert "Doc_0/Document.xml" in err["message"]
    assert err["detail"]["files"] == ["Doc_0/Document.xml"]
    assert_nothing_left(service)


def test_the_verification_report_is_shown_per_check(service):
    inv = post_invoice(service, sample("ofdrw/converter__1.ofd")).json
    got = service.app.get(f"/api/v1/invoices/{inv['id']}", headers=service.headers("王审计")).json
    report = got["verification"]
    assert report["verdict"] == "valid"
    codes = {c["code"] for c in report["checks"]}
    assert {"reference_digest", "signer_signature", "seal_signature"} <= codes
    assert report["verifier_version"] and report["verified_at"]
    signer = report["signatures"][0]["signer_certificate"]
    assert signer["subject_cn"] == "浙江省税务监制章电子证书"


def test_an_oversize_body_is_refused_before_it_is_read(db_url, tmp_path):
    """Declared too large: refused from the Content-Length header alone."""
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path / "store", **{"intake.max_upload_bytes": "1000"})
    resp = svc.app.post("/api/v1/invoices", params=b"x" * 5000, headers=svc.headers("张经办"),
                        content_type="application/octet-stream", status=413)
    assert resp.json["error"]["code"] == "too_large"
    assert svc.count("invoices") == 0 and svc.stored_files() == []
    svc.engine.dispose()


def test_a_signed_pdf_invoice_is_verified_and_a_tampered_one_refused(service):
    import datetime as dt

    from tests.support import testca
    from tests.support.pdfsign import sign_pdf
    from tests.support.textpdf import digital_invoice_lines, make_text_pdf

    pki = testca.build_pki()
    when = dt.datetime(2024, 3, 15, 2, 0, tzinfo=dt.timezone.utc)
    signed = sign_pdf(make_text_pdf(digital_invoice_lines("24992000000000000088")),
                      lambda content: testca.signed_data(content, pki.signer, when, pkcs7=True))
    forged = signed.replace(b"/MediaBox [0 0 595 842]", b"/MediaBox [0 0 596 842]", 1)   # still readable
    err = post_invoice(service, forged, "forged.pdf", content_type="application/pdf", status=422).json["error"]
    assert err["code"] == "invoice_tampered" and "文件内容在签名后被修改" in err["message"]
    assert_nothing_left(service)

    inv = post_invoice(service, signed, "24992000000000000088.pdf", content_type="application/pdf").json
    report = service.app.get(f"/api/v1/invoices/{inv['id']}", headers=service.headers("王审计")).json["verification"]
    assert report["verdict"] == "valid"
    assert {c["code"]: c["result"] for c in report["checks"]}["content_digest"] == "pass"
    assert report["signatures"][0]["signer_certificate"]["subject_cn"] == "合成税务监制章签章者"


def test_the_answer_to_an_upload_is_the_invoice_as_stored(service):
    """Intake answers with the row it wrote, without reading it back: the answer must
    be exactly what a later read of the invoice gives (amounts, dates, the reports)."""
    import datetime as dt

    from invoice_archive.synth.ofd import SynthInvoice, build_ofd_invoice
    from tests.support import testca

    pki = testca.build_pki()
    ofd = testca.sign_ofd(build_ofd_invoice(SynthInvoice(number="30000077", code="044001900111",
                                                         issue_date=dt.date(2024, 5, 1))),
                          pki.signer, testca.SealSpec(pki.seal_maker))
    for data, name in ((synthetic_xml("24992000000000000077"), "a.xml"), (ofd, "b.ofd")):
        posted = post_invoice(service, data, name).json
        read = service.app.get(f"/api/v1/invoices/{posted['id']}", headers=service.headers("张经办")).json
        assert posted == read
        assert posted["status"] == "received" and posted["received_at"] and posted["total"]
