"""The auditors' pages in headless Chromium, as an auditor uses them: the 404 and 403
pages, the two downloads by their names (the audit bundle verifies, the archive package
is a BagIt bag), the search by an invoice number as people write it, the sign-off trail
and statuses in Chinese with Beijing time, the links to the original and its PDF, and
the badge in Chinese. Screenshots go to test-artifacts/."""
from __future__ import annotations

import datetime as dt
import hashlib
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from invoice_archive.bundle import verify_bundle
from invoice_archive.security import WEB_COOKIE
from tests.browser.conftest import INVOICE_NUMBER
from tests.browser.test_audit_browser import _follow
from tests.support.server import serve
from tests.support.web import web_session_for


@pytest.fixture
def site(service: Any, archived_voucher: dict[str, Any], browser: Any) -> Iterator[str]:
    """The app on a loopback port, Chromium signed in as the auditor, downloads allowed."""
    from selenium.webdriver.common.by import By

    with serve(service.app.app) as url:
        browser.execute_cdp_cmd("Page.setDownloadBehavior",
                                {"behavior": "allow", "downloadPath": str(browser.download_dir)})
        browser.get(f"{url}/audit/")
        browser.find_element(By.ID, "token").send_keys(service.tokens["王审计"])
        _follow(browser, browser.find_element(By.ID, "signin"))
        assert browser.find_element(By.ID, "who").text == "王审计（审计人员）"
        yield url


def _download(browser: Any, element: Any, suffix: str, timeout: float = 60) -> Path:
    """Click a download link; the new file (once complete) in the download folder."""
    folder: Path = browser.download_dir
    before = set(folder.glob("*")) if folder.is_dir() else set()
    element.click()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [p for p in (set(folder.glob("*")) if folder.is_dir() else set()) - before
               if p.suffix == suffix]
        if new and not list(folder.glob("*.crdownload")):
            return new[0]
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} downloaded into {folder}")


def _text(browser: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, css).text


def test_missing_records_and_pages_are_chinese_404_pages(site, browser, screenshot):
    from selenium.webdriver.common.by import By

    for path, says in (("/audit/vouchers/999999", "凭证 999999 不存在。"),
                       ("/audit/invoices/999999/original", "发票 999999 不存在。"),
                       ("/audit/no-such-page", "页面 /audit/no-such-page 不存在。")):
        browser.get(site + path)
        assert browser.title.startswith("页面不存在（404）"), browser.title
        assert _text(browser, "#error-title") == "页面不存在"
        assert says in _text(browser, "#error-message")
        assert "Internal Server Error" not in browser.page_source
    screenshot("404")
    _follow(browser, browser.find_element(By.ID, "back-home"))
    assert browser.find_element(By.ID, "invoice_number")   # back on the search page, still signed in


def test_a_refused_page_is_a_chinese_403_page(service, site, browser, screenshot):
    browser.delete_cookie(WEB_COOKIE)
    browser.add_cookie({"name": WEB_COOKIE, "value": web_session_for(service, "总账系统"), "path": "/audit",
                        "httpOnly": True, "sameSite": "Strict"})
    browser.get(f"{site}/audit/")
    assert browser.title.startswith("无权访问（403）")
    assert _text(browser, "#error-title") == "无权访问"
    assert "当前角色（记账系统）无权查看此页面" in _text(browser, "#error-message")
    assert _text(browser, "#who") == "总账系统（记账系统）"
    screenshot("403")


def test_the_audit_bundle_and_the_archive_package_by_their_names(site, archived_voucher, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{site}/audit/vouchers/{archived_voucher['id']}")
    audit_link = browser.find_element(By.ID, "download")
    package_link = browser.find_element(By.ID, "download-package")
    assert audit_link.text.startswith("下载审计包") and "verify-bundle" in audit_link.get_attribute("title")
    assert package_link.text.startswith("下载归档包") and "sha256sum" in package_link.get_attribute("title")
    key = httpx.get(f"{site}/api/v1/bundle-key").content

    audit_bundle = _download(browser, audit_link, ".zip")
    assert audit_bundle.name.startswith("审计包-")
    report = verify_bundle(audit_bundle.read_bytes(), key)
    assert report.status == "pass", report.to_text()

    package = _download(browser, package_link, ".zip")
    assert package.name.startswith("Z001-PZ")
    names = zipfile.ZipFile(package).namelist()
    assert any(n.endswith("/bagit.txt") for n in names) and "manifest.json" not in names
    refused = verify_bundle(package.read_bytes(), key)
    assert refused.status == "fail" and any("这是归档包" in c.detail for c in refused.checks)


#: the invoice number as people write it: grouped by spaces or dashes, in full-width digits
#: (a Chinese input method), with a full-width space
TYPED = ("2499 2000 0000 0000 0041", "2499-2000-0000-0000-0041",
         "２４９９２０００００００００００００４１", "２４９９　２０００　００００　００００　００４１")


def test_the_search_finds_the_invoice_number_as_people_write_it(site, browser, screenshot):
    from selenium.webdriver.common.by import By

    for typed in TYPED:
        assert len([c for c in typed if c.isdigit()]) == 20
        field = browser.find_element(By.ID, "invoice_number")
        field.clear()
        field.send_keys(typed)
        _follow(browser, browser.find_element(By.ID, "search"))
        assert "共找到 1 张凭证" in _text(browser, "#count"), typed
        assert _text(browser, "a.voucher-link") == "记-0041"
        assert INVOICE_NUMBER in _text(browser, "table.results")
        assert browser.find_element(By.ID, "invoice_number").get_attribute("value") == typed
    screenshot("search-full-width")


def test_trail_statuses_and_system_read_in_chinese_with_beijing_time(service, site, archived_voucher, browser,
                                                                     screenshot):
    from selenium.webdriver.common.by import By

    browser.get(f"{site}/audit/?fiscal_year=2024")
    assert _text(browser, "td.status") == "已归档"
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "a.voucher-link"))
    headers = service.headers("王审计")
    claim_id = service.app.get(f"/api/v1/invoices/{archived_voucher['invoice']['id']}", headers=headers
                               ).json["claim"]["id"]
    claim = service.app.get(f"/api/v1/claims/{claim_id}", headers=headers).json
    expected = []
    for s in claim["signoffs"]:
        at = dt.datetime.fromisoformat(s["at"]).astimezone(dt.timezone(dt.timedelta(hours=8)))
        role = {"finance": "财务", "approver": "审批人"}[s["role"]]
        expected.append(f"{s['step']} {s['actor']}（{role}） {at:%Y-%m-%d %H:%M:%S} 北京时间")
    shown = [li.text.split(" · ")[0] for li in browser.find_elements(By.CSS_SELECTOR, "#trail li")]
    assert shown == expected
    assert _text(browser, "#claim-status") == "已归档"
    assert _text(browser, "#source-system") == "通用接口"
    assert _text(browser, ".invoice-status") == "已归档"
    assert _text(browser, "#archived-at").endswith("北京时间")
    body = _text(browser, "main")
    for code in ("finance", "approver", "UTC", "archived", "generic_json"):
        assert code not in body, code
    screenshot("voucher-in-chinese")


def test_the_voucher_page_links_the_original_and_its_pdf(site, archived_voucher, browser):
    from selenium.webdriver.common.by import By

    inv = archived_voucher["invoice"]
    browser.get(f"{site}/audit/vouchers/{archived_voucher['id']}")
    original_link = browser.find_element(By.ID, f"original-{inv['id']}")
    assert original_link.text == f"下载发票原件（{INVOICE_NUMBER}.xml）"
    original = _download(browser, original_link, ".xml")
    assert hashlib.sha256(original.read_bytes()).hexdigest() == inv["sha256"]
    pdf_link = browser.find_element(By.ID, f"pdf-{inv['id']}")
    assert pdf_link.text == "查看 PDF 版式"
    pdf = _download(browser, pdf_link, ".pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_the_badge_is_chinese(site, archived_voucher, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{site}/audit/vouchers/{archived_voucher['id']}")
    badge = browser.find_element(By.CSS_SELECTOR, ".invoice .badge")
    assert badge.text == "签名无法验证"
    assert badge.get_attribute("title") == "接收时的验签结论：签名无法验证"
    [check] = browser.find_elements(By.CSS_SELECTOR, ".invoice ul.failing li")
    assert check.text.startswith("税务机关签名（未验证）：存在税务机关签名")
    header_and_checks = _text(browser, ".invoice h3") + _text(browser, ".invoice ul.failing")
    for english in ("not_checked", "tax_bureau_signature", "present_not_verifiable", "not verifiable"):
        assert english not in header_and_checks
