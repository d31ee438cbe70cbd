"""End to end in headless Chromium: an auditor signs in, finds a voucher by invoice
number, opens it (badge, rendition, claim trail), downloads the bundle, and the
bundle verifies offline with the published key; the audit log holds it all.
Screenshots go to test-artifacts/."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from invoice_archive.bundle import verify_bundle
from invoice_archive.security import WEB_COOKIE
from tests.browser.conftest import INVOICE_NUMBER
from tests.support.server import serve


def _wait_for_download(folder: Path, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob("*.zip")] if folder.is_dir() else []
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no bundle downloaded into {folder}")


def _follow(browser: Any, element: Any, timeout: float = 30) -> None:
    """Click something that loads a new page and wait until that page has loaded:
    a click returns before the navigation it starts has finished, and under a busy
    CI machine the next lookup would otherwise run against the old page."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find_element("tag name", "html")
    element.click()

    def old_page_gone(_: Any) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            # Chromium, asked mid-navigation, may answer "Node with given id does not belong
            # to the document" instead of a stale reference: the old page is gone too
            return "does not belong to the document" in str(exc)
        return False

    wait = WebDriverWait(browser, timeout)
    wait.until(old_page_gone)
    wait.until(lambda b: b.execute_script("return document.readyState") == "complete")


def test_auditor_journey_in_chromium(service, archived_voucher, browser, screenshot):
    from selenium.webdriver.common.by import By

    with serve(service.app.app) as url:
        browser.execute_cdp_cmd("Page.setDownloadBehavior",
                                {"behavior": "allow", "downloadPath": str(browser.download_dir)})
        browser.get(f"{url}/audit/")
        assert "审计人员登录" in browser.page_source
        browser.find_element(By.ID, "token").send_keys(service.tokens["王审计"])
        screenshot("1-sign-in")
        _follow(browser, browser.find_element(By.ID, "signin"))
        assert "王审计" in browser.find_element(By.ID, "who").text
        cookie = browser.get_cookie(WEB_COOKIE)
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"

        browser.find_element(By.ID, "invoice_number").send_keys(INVOICE_NUMBER)
        _follow(browser, browser.find_element(By.ID, "search"))
        assert "共找到 1 张凭证" in browser.find_element(By.ID, "count").text
        screenshot("2-search")

        _follow(browser, browser.find_element(By.CSS_SELECTOR, "a.voucher-link"))
        assert browser.find_element(By.ID, "voucher-title").text == "记账凭证 记-0041"
        badge = browser.find_element(By.CSS_SELECTOR, ".invoice .badge")
        assert badge.get_attribute("data-verdict") == archived_voucher["invoice"]["verdict"]
        assert badge.text == "签名无法验证"
        svg = browser.find_element(By.CSS_SELECTOR, ".rendition svg")
        assert svg.size["width"] > 300 and INVOICE_NUMBER in svg.get_attribute("innerHTML")
        assert [li.text[:2] for li in browser.find_elements(By.CSS_SELECTOR, "#trail li")] == ["经办", "审核", "审批"]
        screenshot("3-voucher")

        browser.find_element(By.ID, "download").click()
        bundle = _wait_for_download(browser.download_dir).read_bytes()
        key = httpx.get(f"{url}/api/v1/bundle-key").content
        report = verify_bundle(bundle, key)
        assert report.status == "pass", report.to_text()

        events = httpx.get(f"{url}/api/v1/audit/events", params={"limit": 500},
                           headers=service.headers("王审计")).json()["items"]
        mine = [e for e in events if e["actor"] == "王审计"]
        search = [e for e in mine if e["action"] == "search.vouchers"]
        assert search and search[-1]["detail"]["query"]["invoice_number"] == INVOICE_NUMBER
        assert any(e["action"] == "voucher.viewed" and e["detail"]["via"] == "web" for e in mine)
        assert any(e["action"] == "voucher.bundle_downloaded" and e["detail"]["via"] == "web" for e in mine)

        _follow(browser, browser.find_element(By.CSS_SELECTOR, ".signout button"))
        assert "审计人员登录" in browser.page_source
        assert browser.get_cookie(WEB_COOKIE) is None
        screenshot("4-signed-out")
