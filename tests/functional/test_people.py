"""People, not token names: segregation of duties compares people; tokens belong
to a person, expire and can be revoked; each role does its job and no more."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import update

from invoice_archive.db import session_factory, utcnow
from invoice_archive.models import ApiToken
from tests.support.invoices import synthetic_xml
from tests.support.journey import post_invoice


def _claim(service, who="张经办") -> dict:
    inv = post_invoice(service, synthetic_xml(), "dzfp.xml").json
    claim = service.app.post_json("/api/v1/claims", {"title": "差旅费", "expense_category": "travel",
                                                     "invoice_ids": [inv["id"]]}, headers=service.headers(who)).json
    service.app.post_json(f"/api/v1/claims/{claim['id']}/submit", {}, headers=service.headers(who))
    return claim


@pytest.mark.parametrize("alias", ["张经办 ", " 张经办", "张经办\u3000"])
def test_the_claimant_under_another_spelling_of_the_name_cannot_review(service, alias):
    """A second token whose name differs only in case, spaces or width is the same
    person: it may not review that person's claim."""
    claim = _claim(service)
    service.add_person(alias, "approver")
    r = service.app.post_json(f"/api/v1/claims/{claim['id']}/review", {}, headers=service.headers(alias),
                              status=403)
    assert r.json["error"]["code"] == "segregation_of_duties"


def test_case_and_width_do_not_make_a_second_person(service):
    service.add_person("Finance-A001", "finance")
    claim = _claim(service, "Finance-A001")
    for alias in ("finance-a001", "ＦＩＮＡＮＣＥ-A001 "):
        service.add_person(alias, "approver")
        r = service.app.post_json(f"/api/v1/claims/{claim['id']}/review", {}, headers=service.headers(alias),
                                  status=403)
        assert r.json["error"]["code"] == "segregation_of_duties"
    service.app.post_json(f"/api/v1/claims/{claim['id']}/review", {}, headers=service.headers("李审核"))


def test_a_revoked_token_is_refused_from_the_next_request_on(service, monkeypatch, capsys):
    from invoice_archive.cli import main

    service.app.get("/api/v1/invoices", headers=service.headers("王审计"))
    with session_factory(service.engine)() as db:
        row = db.query(ApiToken).filter(ApiToken.name == "王审计").one()
        assert row.last_used_at is not None                       # recorded on use
    monkeypatch.setenv("DATABASE_URL", service.db_url)
    assert main(["token", "list"]) == 0
    assert row.prefix in capsys.readouterr().out
    assert main(["token", "revoke", row.prefix]) == 0
    r = service.app.get("/api/v1/invoices", headers=service.headers("王审计"), status=401)
    assert r.json["error"]["code"] == "unauthenticated"


def test_an_expired_token_is_refused(service):
    """To the second, even though the process reuses a token's identity for a few seconds."""
    expires = utcnow() + dt.timedelta(seconds=1.5)
    with session_factory(service.engine)() as db, db.begin():
        db.execute(update(ApiToken).where(ApiToken.name == "王审计").values(expires_at=expires))
    service.app.get("/api/v1/invoices", headers=service.headers("王审计"))
    service.app.get("/api/v1/invoices", headers=service.headers("王审计"))     # from the process's cache
    time.sleep(max(0.0, (expires - utcnow()).total_seconds()) + 0.1)
    service.app.get("/api/v1/invoices", headers=service.headers("王审计"), status=401)


@pytest.mark.parametrize("who, method, path, body", [
    ("总账系统", "POST", "/api/v1/claims", {"title": "t", "expense_category": "travel", "invoice_ids": [1]}),
    ("总账系统", "POST", "/api/v1/invoices?filename=a.xml", None),
    ("张经办", "POST", "/api/v1/vouchers/1/reverse", {"reason": "x"}),
    ("管理员", "GET", "/api/v1/invoices", None),
    ("管理员", "POST", "/api/v1/archive/runs", {"fiscal_year": 2024, "period": 7}),
])
def test_roles_do_their_job_and_no_more(service, who, method, path, body):
    if who not in service.tokens:
        service.add_person(who, "admin")
    headers = service.headers(who)
    if body is None and method == "POST":
        r = service.app.post(path, synthetic_xml(), headers={**headers, "Content-Type": "application/xml"},
                             expect_errors=True)
    else:
        r = service.app.request(path, method=method, json_body=body, headers=headers, expect_errors=True)
    assert r.status_int == 403, (who, path, r.status)


def test_admin_issues_lists_and_revokes_tokens_over_the_api(service):
    service.add_person("管理员", "admin")
    admin = service.headers("管理员")
    issued = service.app.post_json("/api/v1/admin/tokens", {"name": "钱出纳", "role": "finance", "expires_days": 30},
                                   headers=admin, status=201).json
    assert issued["token"].startswith("ia_") and issued["expires_at"]
    me = {"Authorization": f"Bearer {issued['token']}"}
    service.app.get("/api/v1/invoices", headers=me, status=200)
    listed = service.app.get("/api/v1/admin/tokens", headers=admin).json["items"]
    assert any(t["id"] == issued["id"] and t["last_used_at"] for t in listed)
    assert all("token" not in t and "token_hash" not in t for t in listed)
    service.app.post(f"/api/v1/admin/tokens/{issued['id']}/revoke", headers=admin, status=200)
    service.app.get("/api/v1/invoices", headers=me, status=401)
    # admin holds no business permission, and nobody else manages tokens
    service.app.get("/api/v1/invoices", headers=admin, status=403)
    service.app.get("/api/v1/admin/tokens", headers=service.headers("王审计"), status=403)
    actions = [e["action"] for e in service.app.get("/api/v1/audit/events?object_type=token",
                                                    headers=service.headers("王审计")).json["items"]]
    assert actions == ["token.issued", "token.revoked"]


def test_admin_cannot_revoke_another_organisations_token(service):
    service.add_org(name="上海另一家有限公司", tax_id="91310000MA1FL0000X", fonds_code="Z002")
    service.add_person("外单位管理员", "admin", "91310000MA1FL0000X")
    with session_factory(service.engine)() as db:
        theirs = db.query(ApiToken).filter(ApiToken.name == "王审计").one().id
    service.app.post(f"/api/v1/admin/tokens/{theirs}/revoke", headers=service.headers("外单位管理员"), status=404)
    service.app.get("/api/v1/invoices", headers=service.headers("王审计"), status=200)
