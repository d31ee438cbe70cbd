"""Claims: 经办 → 审核 → 审批 with segregation of duties, 退回 releases the invoices,
and one invoice is held by at most one claim."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import pytest

from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, create_claim, post_invoice


@pytest.fixture
def invoice(service):
    return post_invoice(service, synthetic_xml()).json


def test_signoff_trail_keeps_who_and_when(service, invoice):
    claim = create_claim(service, [invoice["id"]]).json
    assert claim["status"] == "draft" and claim["total"] == "1060.00"
    assert claim["number"].startswith("BX-")
    approved = approve_claim(service, claim["id"])
    assert approved["status"] == "approved"
    trail = [(s["step"], s["actor"]) for s in approved["signoffs"]]
    assert trail == [("经办", "张经办"), ("审核", "李审核"), ("审批", "陈审批")]
    assert all(s["at"] for s in approved["signoffs"])
    inv = service.app.get(f"/api/v1/invoices/{invoice['id']}", headers=service.headers("王审计")).json
    assert inv["status"] == "claimed" and inv["claim"]["number"] == claim["number"]


def test_the_reviewer_cannot_also_approve(service, invoice):
    claim = create_claim(service, [invoice["id"]]).json
    service.app.post_json(f"/api/v1/claims/{claim['id']}/submit", {}, headers=service.headers("张经办"))
    service.app.post_json(f"/api/v1/claims/{claim['id']}/review", {}, headers=service.headers("李审核"))
    err = service.app.post_json(f"/api/v1/claims/{claim['id']}/approve", {}, headers=service.headers("李审核"),
                                status=403).json["error"]
    assert err["code"] == "segregation_of_duties"


def test_approval_needs_the_right_order(service, invoice):
    claim = create_claim(service, [invoice["id"]]).json
    err = service.app.post_json(f"/api/v1/claims/{claim['id']}/approve", {}, headers=service.headers("陈审批"),
                                status=409).json["error"]
    assert err["code"] == "claim_state_conflict"
    assert "草稿" in err["message"]


def test_finance_cannot_approve(service, invoice):
    claim = create_claim(service, [invoice["id"]]).json
    err = service.app.post_json(f"/api/v1/claims/{claim['id']}/approve", {}, headers=service.headers("张经办"),
                                status=403).json["error"]
    assert err["code"] == "forbidden"


def test_one_invoice_one_active_claim(service, invoice):
    first = create_claim(service, [invoice["id"]]).json
    err = create_claim(service, [invoice["id"]], status=409).json["error"]
    assert err["code"] == "invoice_already_claimed"
    assert first["number"] in err["message"]


def test_refusal_releases_the_invoices(service, invoice):
    claim = create_claim(service, [invoice["id"]]).json
    service.app.post_json(f"/api/v1/claims/{claim['id']}/submit", {}, headers=service.headers("张经办"))
    refused = service.app.post_json(f"/api/v1/claims/{claim['id']}/refuse", {"reason": "缺少行程单"},
                                    headers=service.headers("李审核")).json
    assert refused["status"] == "refused" and refused["refusal_reason"] == "缺少行程单"
    again = create_claim(service, [invoice["id"]]).json
    assert again["status"] == "draft"


def test_the_database_itself_refuses_a_second_active_claim(service, invoice):
    """The invariant is a constraint, not only a Python check."""
    create_claim(service, [invoice["id"]])
    with pytest.raises(IntegrityError):
        with service.engine.begin() as conn:
            conn.execute(text("INSERT INTO claims (org_id, number, title, expense_category, claimant, status, "
                              "total, created_at) VALUES (1, 'BX-X', 't', 'c', 'x', 'draft', 0, '2024-01-01')"))
            claim_id = conn.execute(text("SELECT id FROM claims WHERE number = 'BX-X'")).scalar_one()
            conn.execute(text("INSERT INTO claim_invoices (claim_id, invoice_id, position) VALUES (:c, :i, 1)"),
                         {"c": claim_id, "i": invoice["id"]})


def test_validation_errors_name_the_field(service):
    err = service.app.post_json("/api/v1/claims", {"title": "x", "expense_category": "travel", "invoice_ids": []},
                                headers=service.headers("张经办"), status=400).json["error"]
    assert err["code"] == "validation_failed"
    assert err["detail"]["errors"]


def test_unknown_invoice_is_404(service):
    err = create_claim(service, [999], status=404).json["error"]
    assert err["code"] == "invoice_not_found"


def test_strict_policy_needs_a_tax_platform_check_for_unverifiable_invoices(db_url, tmp_path):
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path / "store", **{"verification.reimbursable_verdicts": "valid"})
    inv = post_invoice(svc, synthetic_xml()).json
    err = create_claim(svc, [inv["id"]], status=422).json["error"]
    assert err["code"] == "tax_check_required"
    assert svc.count("claims") == 0
    svc.engine.dispose()


def test_red_invoice_cannot_be_claimed(service):
    inv = post_invoice(service, synthetic_xml("24992000000000000099", red_of="24992000000000000001")).json
    assert inv["is_red"] is True and inv["total"] == "-1060.00"
    err = create_claim(service, [inv["id"]], status=422).json["error"]
    assert err["code"] == "red_invoice_not_claimable"
