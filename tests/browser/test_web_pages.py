"""The auditors' web pages through WebTest (no browser): sign-in, CSRF, the cookie
accepted on the web pages only, search/view/download audited."""
from __future__ import annotations

from typing import Any

from invoice_archive.security import WEB_COOKIE
from tests.browser.conftest import INVOICE_NUMBER
from tests.support.web import sign_in


_sign_in = sign_in


def test_sign_in_search_view_download(service, archived_voucher):
    resp = _sign_in(service)
    assert resp.status_int == 303
    [cookie] = [c for c in resp.headers.getall("Set-Cookie") if c.startswith(f"{WEB_COOKIE}=")]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/audit" in cookie
    found = service.app.get("/audit/", params={"invoice_number": INVOICE_NUMBER})
    assert "共找到 1 张凭证" in found.text and "记-0041" in found.text
    page = found.click(linkid=None, href="/audit/vouchers/")
    assert "记账凭证 记-0041" in page.text and "<svg" in page.text
    assert "经办" in page.text and "审核" in page.text and "审批" in page.text
    assert 'class="badge badge-unverifiable" data-verdict="present_not_verifiable"' in page.text
    bundle = page.click(href="/bundle")
    assert bundle.content_type == "application/zip"
    actions = [e["action"] for e in service.app.get("/api/v1/audit/events", params={"limit": 500},
                                                   headers=service.headers("王审计")).json["items"]
               if e["actor"] == "王审计"]
    for action in ("search.vouchers", "voucher.viewed", "invoice.rendition_viewed", "voucher.bundle_downloaded"):
        assert action in actions


def test_cookie_is_not_accepted_by_the_api(service, archived_voucher):
    _sign_in(service)
    assert service.app.cookies.get(WEB_COOKIE)
    service.app.get("/api/v1/search/vouchers", status=401)
    service.app.get(f"/api/v1/vouchers/{archived_voucher['id']}/bundle", status=401)


def test_bearer_is_not_accepted_by_the_web_pages(service, archived_voucher):
    resp = service.app.get(f"/audit/vouchers/{archived_voucher['id']}", headers=service.headers("王审计"))
    assert resp.status_int == 303 and resp.location.endswith("/audit/")


def test_sign_in_needs_the_csrf_token(service):
    resp = service.app.post("/audit/login", {"token": service.tokens["王审计"]}, status=400)
    assert "CSRF" in resp.text
    assert WEB_COOKIE not in service.app.cookies


def test_wrong_token_and_wrong_role_are_refused(service):
    page = service.app.get("/audit/")
    form = page.forms[0]
    form["token"] = "ia_not-a-token"
    assert "令牌无效" in form.submit(status=401).text
    page = service.app.get("/audit/")
    form = page.forms[0]
    form["token"] = service.tokens["张经办"]
    assert "无权使用审计查询" in form.submit(status=403).text


def test_sign_out_clears_the_cookie(service, archived_voucher):
    _sign_in(service)
    page = service.app.get("/audit/")
    page.forms[0].submit()   # the sign-out form in the header
    assert not service.app.cookies.get(WEB_COOKIE)
    assert "审计人员登录" in service.app.get("/audit/").text


def test_results_page_through_with_the_same_criteria(service, archived_voucher):
    from tests.support.invoices import synthetic_xml
    from tests.support.journey import approve_claim, create_claim, post_invoice, post_voucher, voucher_report

    inv = post_invoice(service, synthetic_xml("24992000000000000042"), "42.xml").json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    post_voucher(service, voucher_report(claim, number="0042"))
    _sign_in(service)
    first = service.app.get("/audit/", params={"fiscal_year": "2024", "sort": "number", "limit": "1"})
    assert "共找到 2 张凭证，显示第 1–1 张" in first.text
    assert "记-0041" in first.text and "已归档" in first.text and 'id="prev-page"' not in first.text
    second = first.click(linkid="next-page")
    assert "显示第 2–2 张" in second.text and "记-0042" in second.text and "已入账" in second.text
    assert 'id="next-page"' not in second.text
    assert "记-0041" in second.click(linkid="prev-page").text


def test_the_archived_item_downloads_as_package_and_eep(service, archived_voucher):
    import zipfile
    from io import BytesIO

    from invoice_archive.archive.eep import verify_eep

    _sign_in(service)
    page = service.app.get(f"/audit/vouchers/{archived_voucher['id']}")
    package = page.click(linkid="download-package")
    assert package.content_type == "application/zip"
    assert zipfile.ZipFile(BytesIO(package.body)).testzip() is None
    eep = page.click(linkid="download-eep")
    assert eep.content_type == "application/xml"
    key = service.app.get("/api/v1/bundle-key").body
    assert all(c.result == "pass" for c in verify_eep(eep.body, key))
    actions = [e["action"] for e in service.app.get("/api/v1/audit/events", params={"limit": 500},
                                                   headers=service.headers("王审计")).json["items"]
               if e["actor"] == "王审计"]
    assert "archive.downloaded" in actions and "archive.eep_downloaded" in actions


def test_missing_pages_and_refusals_are_pages_not_500s(service, archived_voucher):
    """A signed-in auditor opening a voucher, item or page that does not exist gets
    the site's own page with a 404, never a plain-text 500."""
    _sign_in(service)
    for path in ("/audit/vouchers/999999", "/audit/vouchers/999999/bundle", "/audit/items/999999/package",
                 "/audit/no-such-page"):
        r = service.app.get(path, expect_errors=True)
        assert r.status_int == 404, (path, r.status)
        assert r.content_type == "text/html" and "不存在" in r.text


def test_the_cookie_holds_a_session_not_the_token_and_sign_out_ends_it_on_the_server(service, archived_voucher):
    _sign_in(service)
    sid = service.app.cookies[WEB_COOKIE]
    assert sid.startswith("ws_") and service.tokens["王审计"] not in sid
    page = f"/audit/vouchers/{archived_voucher['id']}"
    service.app.get(page, status=200)
    csrf = service.app.cookies.get("ia_csrf")
    service.app.post("/audit/logout", {"csrf_token": csrf} if csrf else {}, expect_errors=True)
    service.app.set_cookie(WEB_COOKIE, sid)            # a copied cookie, replayed after sign-out
    assert service.app.get(page, expect_errors=True).status_int == 303


def test_revoking_the_token_ends_its_web_session(service, archived_voucher, monkeypatch):
    from invoice_archive.cli import main
    from invoice_archive.db import session_factory
    from invoice_archive.models import ApiToken

    _sign_in(service)
    page = f"/audit/vouchers/{archived_voucher['id']}"
    service.app.get(page, status=200)
    with session_factory(service.engine)() as db:
        prefix = db.query(ApiToken).filter(ApiToken.name == "王审计").one().prefix
    monkeypatch.setenv("DATABASE_URL", service.db_url)
    assert main(["token", "revoke", prefix]) == 0
    assert service.app.get(page, expect_errors=True).status_int == 303
