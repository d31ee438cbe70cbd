"""Vouchers reported by the accounting system: posted once, linked, immutable."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, create_claim, post_invoice, post_voucher, voucher_report


@pytest.fixture
def approved(service):
    inv = post_invoice(service, synthetic_xml()).json
    claim = create_claim(service, [inv["id"]]).json
    return inv, approve_claim(service, claim["id"])


def test_posting_links_the_invoices(service, approved):
    inv, claim = approved
    voucher = post_voucher(service, voucher_report(claim)).json
    assert voucher["display_number"] == "记-0001"
    assert voucher["debit_total"] == voucher["credit_total"] == "1060.00"
    assert voucher["invoice_ids"] == [inv["id"]]
    assert voucher["attachment_count"] == 1
    got = service.app.get(f"/api/v1/invoices/{inv['id']}", headers=service.headers("王审计")).json
    assert got["status"] == "posted" and got["voucher"]["number"] == "记-0001"
    c = service.app.get(f"/api/v1/claims/{claim['id']}", headers=service.headers("王审计")).json
    assert c["status"] == "posted" and c["voucher"]["number"] == "记-0001"


def test_reporting_the_same_voucher_again_is_idempotent(service, approved):
    _, claim = approved
    first = post_voucher(service, voucher_report(claim)).json
    again = post_voucher(service, voucher_report(claim), status=200).json
    assert again["id"] == first["id"]
    assert service.count("vouchers") == 1


def test_a_different_voucher_for_the_same_claim_is_refused(service, approved):
    _, claim = approved
    post_voucher(service, voucher_report(claim))
    err = post_voucher(service, voucher_report(claim, number="0002"), status=409).json["error"]
    assert err["code"] == "duplicate_posting"
    assert "记-0001" in err["message"]


def test_unbalanced_voucher_is_refused(service, approved):
    _, claim = approved
    report = voucher_report(claim)
    report["entries"][1]["credit"] = "1000.00"
    err = post_voucher(service, report, status=422).json["error"]
    assert err["code"] in {"voucher_unbalanced", "invalid_voucher_report"}
    assert service.count("vouchers") == 0


def test_amounts_must_be_decimal_strings(service, approved):
    _, claim = approved
    report = voucher_report(claim)
    report["entries"][0]["debit"] = 1060.0
    post_voucher(service, report, status=400)


def test_unapproved_claim_cannot_be_posted(service):
    inv = post_invoice(service, synthetic_xml()).json
    claim = create_claim(service, [inv["id"]]).json
    err = post_voucher(service, voucher_report(claim), status=409).json["error"]
    assert err["code"] == "claim_not_approved"


def test_posted_vouchers_cannot_be_edited_or_deleted(service, approved):
    _, claim = approved
    post_voucher(service, voucher_report(claim))
    for stmt in ("UPDATE vouchers SET debit_total = 1, credit_total = 1",
                 "DELETE FROM voucher_entries", "DELETE FROM vouchers", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError):
            with service.engine.begin() as conn:
                conn.execute(text(stmt))
    assert service.count("vouchers") == 1


def test_only_the_accounting_system_reports_vouchers(service, approved):
    _, claim = approved
    service.app.post_json("/api/v1/vouchers", voucher_report(claim), headers=service.headers("张经办"), status=403)
