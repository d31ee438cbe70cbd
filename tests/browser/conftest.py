"""The auditors' web pages: a voucher to look at, and (for the browser tests) headless
Debian Chromium driven by Selenium against the real app served on loopback."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.invoices import synthetic_xml
from tests.support.journey import (
    approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report,
)

PROJECT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
INVOICE_NUMBER = "24992000000000000041"


@pytest.fixture
def service_overrides(tmp_path: Path) -> dict[str, str]:
    return {"bundle.signing_key": str(tmp_path / "bundle-key.pem"), "bundle.signing_key_generate": "true"}


@pytest.fixture
def archived_voucher(service: Any) -> dict[str, Any]:
    inv = post_invoice(service, synthetic_xml(INVOICE_NUMBER), f"{INVOICE_NUMBER}.xml").json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    voucher = post_voucher(service, voucher_report(claim, number="0041")).json
    archive_period(service)
    return {**voucher, "invoice": inv}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium (no browser download). Skipped where it is absent,
    except under CI=true, where its absence is a failure."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        message = (f"chromium/chromedriver not found ({', '.join(missing)}): "
                   "apt-get install -y chromium chromium-driver")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1600", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False,
                                              # a PDF is saved, as a browser without a viewer does
                                              "plugins.always_open_pdf_externally": True})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.download_dir = tmp_path / "downloads"
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser: Any, request: pytest.FixtureRequest):
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        browser.save_screenshot(str(path))
        return path

    return take
