"""The auditors' web pages through WebTest: their own 404 and 403 pages (the API keeps
JSON), what a person reads (Chinese roles, statuses, systems; Beijing time), the links
to each invoice's original and PDF rendition, and the two downloads by their names."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import pytest

from invoice_archive.security import WEB_COOKIE
from tests.support.web import archived_voucher, sign_in, web_session_for


@pytest.fixture
def service_overrides(tmp_path) -> dict[str, str]:
    return {"bundle.signing_key": str(tmp_path / "bundle-key.pem"), "bundle.signing_key_generate": "true"}


@pytest.fixture
def voucher(service: Any) -> dict[str, Any]:
    return archived_voucher(service)


def _is_page(resp: Any, status: int, title: str) -> None:
    assert resp.status_int == status, resp.status
    assert resp.content_type == "text/html"
    assert f'<h1 id="error-title">{title}</h1>' in resp.text
    assert f"<title>{title}（{status}）" in resp.text
    assert 'id="back-home"' in resp.text and 'href="http://localhost/audit/"' in resp.text
    assert "Internal Server Error" not in resp.text and "Traceback" not in resp.text


# -- 404 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, says", [
    ("/audit/vouchers/999999", "凭证 999999 不存在"),
    ("/audit/vouchers/999999/bundle", "凭证 999999 不存在"),
    ("/audit/vouchers/99999999999", "凭证 99999999999 不存在"),      # beyond any INTEGER id
    ("/audit/items/999999/package", "档案 999999 不存在"),
    ("/audit/items/999999/eep", "档案 999999 不存在"),
    ("/audit/invoices/999999/original", "发票 999999 不存在"),
    ("/audit/invoices/999999/rendition.pdf", "发票 999999 不存在"),
    ("/audit/no-such-page", "页面 /audit/no-such-page 不存在"),
    ("/audit/vouchers/abc", "页面 /audit/vouchers/abc 不存在"),
    ("/no-such-page", "页面 /no-such-page 不存在"),
])
def test_a_signed_in_auditor_gets_a_chinese_404_page(service, voucher, path, says):
    sign_in(service)
    resp = service.app.get(path, expect_errors=True)
    _is_page(resp, 404, "页面不存在")
    assert says in resp.text


def test_another_organisations_records_are_404_pages(service, voucher):
    service.add_org("另一家公司", "91440300MA5XXXXX0X", "Z002")
    service.add_person("外审计", "auditor", "91440300MA5XXXXX0X")
    sign_in(service, "外审计")
    for path in (f"/audit/vouchers/{voucher['id']}", f"/audit/invoices/{voucher['invoice']['id']}/original",
                 f"/audit/invoices/{voucher['invoice']['id']}/rendition.pdf"):
        _is_page(service.app.get(path, expect_errors=True), 404, "页面不存在")


def test_the_api_keeps_its_json_errors(service, voucher):
    sign_in(service)
    resp = service.app.get("/api/v1/vouchers/999999", headers=service.headers("王审计"), status=404)
    assert resp.content_type == "application/json"
    assert resp.json["error"]["code"] == "voucher_not_found"
    resp = service.app.get("/api/v1/no-such-thing", headers=service.headers("王审计"), status=404)
    assert resp.json["error"]["code"] == "not_found"
    resp = service.app.get("/api/v1/search/vouchers", headers=service.headers("张经办"), status=403)
    assert resp.content_type == "application/json" and resp.json["error"]["code"] == "forbidden"


# -- 403 -------------------------------------------------------------------------------------

def test_signing_in_with_a_role_that_may_not_search_is_a_403_in_chinese(service):
    page = service.app.get("/audit/")
    form = page.forms[0]
    form["token"] = service.tokens["张经办"]
    resp = form.submit(status=403)
    assert resp.content_type == "text/html"
    assert "该令牌的角色（财务）无权使用审计查询。" in resp.text
    assert WEB_COOKIE not in service.app.cookies


def test_a_session_whose_role_lacks_the_permission_gets_a_403_page(service, voucher):
    """A session outliving its role's permission (a role changed by an upgrade, say)
    is refused page by page with the site's own 403 page, naming the role in Chinese."""
    service.app.set_cookie(WEB_COOKIE, web_session_for(service, "总账系统"))
    for path in ("/audit/", f"/audit/vouchers/{voucher['id']}/bundle", "/audit/items/1/package"):
        resp = service.app.get(path, expect_errors=True)
        _is_page(resp, 403, "无权访问")
        assert "当前角色（记账系统）无权查看此页面或下载此文件" in resp.text
        assert "accounting_system" not in resp.text


def test_signed_out_the_pages_send_you_to_sign_in_not_to_an_error(service, voucher):
    resp = service.app.get(f"/audit/vouchers/{voucher['id']}", status=303)
    assert resp.location.endswith("/audit/")


# -- what a person reads ---------------------------------------------------------------------

def _beijing(iso: str) -> str:
    when = dt.datetime.fromisoformat(iso).astimezone(dt.timezone(dt.timedelta(hours=8)))
    return when.strftime("%Y-%m-%d %H:%M:%S") + " 北京时间"


def test_the_voucher_page_reads_in_chinese_with_beijing_time(service, voucher):
    sign_in(service)
    page = service.app.get(f"/audit/vouchers/{voucher['id']}")
    trail = re.findall(r"<li><strong>(.+?)</strong> (.+?)（<span class=\"role\">(.+?)</span>）\s*"
                       r"<time datetime=\"(.+?)\">(.+?)</time>", page.text)
    assert [(step, who, role) for step, who, role, _, _ in trail] == [
        ("经办", "张经办", "财务"), ("审核", "李审核", "审批人"), ("审批", "陈审批", "审批人")]
    signoffs = voucher["claim"]["signoffs"]
    assert [shown for *_, shown in trail] == [_beijing(s["at"]) for s in signoffs]
    assert "UTC" not in page.text
    assert 'id="claim-status">已归档<' in page.text
    assert 'id="source-system">通用接口<' in page.text
    assert 'class="invoice-status">已归档<' in page.text
    assert "王审计（审计人员）" in page.text
    for code in ("finance", "approver", "archived", "generic_json", "auditor"):
        assert f">{code}<" not in page.text and f"（{code}）" not in page.text


def test_the_badge_and_its_checks_are_chinese(service, voucher):
    sign_in(service)
    page = service.app.get(f"/audit/vouchers/{voucher['id']}")
    badge = re.search(r'<span class="badge badge-unverifiable" data-verdict="present_not_verifiable" '
                      r'title="(.+?)">(.+?)</span>', page.text)
    assert badge is not None
    assert badge.groups() == ("接收时的验签结论：签名无法验证", "签名无法验证")
    [check] = re.findall(r'<li data-code="tax_bureau_signature" data-result="not_checked">(.+?)</li>', page.text)
    assert check.startswith("税务机关签名（未验证）：存在税务机关签名")
    assert not re.search(r"not_checked|tax_bureau_signature|present, not verifiable", check)


@pytest.mark.parametrize("source, shown", [("kingdee", "金蝶"), ("u8", "用友U8"), ("generic_json", "通用接口")])
def test_the_accounting_system_is_named_in_chinese(db_url, tmp_path, source, shown):
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path / "store", **{"accounting.source_name": source})
    try:
        v = archived_voucher(svc)
        assert svc.app.get(f"/api/v1/vouchers/{v['id']}", headers=svc.headers("王审计")).json["source_system"] \
            == source
        sign_in(svc)
        assert f'id="source-system">{shown}<' in svc.app.get(f"/audit/vouchers/{v['id']}").text
    finally:
        svc.engine.dispose()


def test_search_results_show_statuses_in_chinese(service, voucher):
    sign_in(service)
    page = service.app.get("/audit/", params={"fiscal_year": "2024"})
    assert re.findall(r'<td class="status">(.+?)</td>', page.text) == ["已归档"]
    options = re.findall(r'<option value="(\w+)" ?>(.+?)</option>', page.text)
    assert ("posted", "已入账") in options and ("reversed", "已冲销") in options and ("archived", "已归档") in options


# -- the original and its PDF rendition ------------------------------------------------------

def test_the_voucher_page_links_each_original_and_its_pdf(service, voucher):
    inv = voucher["invoice"]
    sign_in(service)
    page = service.app.get(f"/audit/vouchers/{voucher['id']}")
    original = page.click(linkid=f"original-{inv['id']}")
    assert original.content_type == "application/octet-stream"
    assert hashlib.sha256(original.body).hexdigest() == inv["sha256"]
    assert original.headers["Content-Disposition"].startswith("attachment;")
    pdf = page.click(linkid=f"pdf-{inv['id']}")
    assert pdf.content_type == "application/pdf" and pdf.body.startswith(b"%PDF-")
    assert pdf.headers["Content-Disposition"].startswith("inline;")
    events = service.app.get("/api/v1/audit/events", params={"object_type": "invoice", "limit": 500},
                             headers=service.headers("王审计")).json["items"]
    mine = [(e["action"], e["detail"].get("format"), e["detail"].get("via")) for e in events if e["actor"] == "王审计"]
    assert ("invoice.original_downloaded", None, "web") in mine
    assert ("invoice.rendition_viewed", "pdf", "web") in mine


def test_an_original_changed_in_the_store_is_not_served(service, voucher):
    """The web download reads through the fixity check, as the API does: a changed file
    is a 503 page naming the invoice, never the changed bytes."""
    inv = voucher["invoice"]
    [stored] = [p for p in service.stored_files() if p.name.startswith(inv["sha256"])]
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes() + b"<!-- changed -->")
    sign_in(service)
    for path in (f"/audit/invoices/{inv['id']}/original", f"/audit/invoices/{inv['id']}/rendition.pdf"):
        resp = service.app.get(path, expect_errors=True)
        _is_page(resp, 503, "暂时无法提供")
        assert f"发票 {inv['number']} 的原件校验值与接收时不符" in resp.text


def test_the_two_downloads_are_named_for_what_they_are(service, voucher):
    import zipfile
    from io import BytesIO
    from urllib.parse import unquote

    from invoice_archive.bundle import verify_bundle

    sign_in(service)
    page = service.app.get(f"/audit/vouchers/{voucher['id']}")
    assert re.search(r'id="download"[^>]*>下载审计包', page.text)
    assert re.search(r'id="download-package"[^>]*>下载归档包', page.text)
    audit_bundle = page.click(linkid="^download$")
    assert "filename*=UTF-8''审计包-2024-07-记-0041.zip" in unquote(audit_bundle.headers["Content-Disposition"])
    key = service.app.get("/api/v1/bundle-key").body
    assert verify_bundle(audit_bundle.body, key).status == "pass"
    package = page.click(linkid="download-package")
    names = zipfile.ZipFile(BytesIO(package.body)).namelist()
    assert any(n.endswith("/bagit.txt") for n in names) and "manifest.json" not in names
    refused = verify_bundle(package.body, key)
    assert refused.status == "fail" and any("这是归档包" in c.detail for c in refused.checks)
    # the API's archive package, under its name and its older one, is the same file
    item_id = service.app.get(f"/api/v1/vouchers/{voucher['id']}", headers=service.headers("王审计")
                              ).json["archive_item_id"]
    api = service.app.get(f"/api/v1/archive/items/{item_id}/package", headers=service.headers("王审计"))
    older = service.app.get(f"/api/v1/archive/items/{item_id}/bundle", headers=service.headers("王审计"))
    assert api.body == older.body == package.body


def test_with_the_database_down_the_pages_answer_a_503_page(tmp_path):
    """As the API's 503 (test_api.py), as a page: never a plain-text 500."""
    import webtest

    from invoice_archive.config import configure

    config = configure({"sqlalchemy.url": "postgresql+psycopg://postgres@127.0.0.1:9/none",
                        "archive.store_url": (tmp_path / "store").as_uri(), "here": str(tmp_path)})
    app = webtest.TestApp(config.make_wsgi_app())
    app.set_cookie(WEB_COOKIE, "ws_some-session")
    for path in ("/audit/", "/audit/vouchers/1", "/audit/invoices/1/original"):
        resp = app.get(path, status=503)
        _is_page(resp, 503, "暂时无法提供")
        assert "数据库暂时不可用" in resp.text and resp.headers["Retry-After"] == "30"


def test_input_the_guard_refuses_is_an_error_page_on_the_pages_and_json_on_the_api(service, voucher):
    sign_in(service)
    resp = service.app.get("/audit/", params={"fiscal_year": "2024", "period": "99999999999"}, expect_errors=True)
    _is_page(resp, 400, "请求无效")
    assert "查询参数 period 的数值超出范围。" in resp.text
    resp = service.app.get("/audit/?seller=%00", expect_errors=True)
    _is_page(resp, 400, "请求无效")
    api = service.app.get("/api/v1/search/vouchers", params={"period": "99999999999"},
                          headers=service.headers("王审计"), status=400)
    assert api.json["error"]["code"] == "number_out_of_range"


def test_a_status_or_order_the_page_does_not_offer_is_refused_in_its_words(service, voucher):
    sign_in(service)
    page = service.app.get("/audit/", params={"status": "nonsense"})
    assert "状态“nonsense”无效，可选：已入账、已归档、已冲销。" in page.text
    page = service.app.get("/audit/", params={"sort": "password"})
    assert "排序方式“password”无效，可选：日期（新→旧）" in page.text
    assert 'id="count"' not in page.text
