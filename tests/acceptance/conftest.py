"""The in-process run of the acceptance features (``make test``): the same step
definitions as ``invoice-archive acceptance`` (invoice_archive/acceptance/steps), driving
the real app through WebTest, over HTTP semantics only.

The harness here builds the app the way each scenario asks (its Given steps state
their needs: a trust store, a tax platform, an accounting system, ClamAV ...),
starts the fakes of the systems around it, runs one pass of the real worker when a
step lets the worker work, and reaches the store and the console script where a
scenario simulates the world (a byte flipped on the medium, a run killed with
kill -9). The steps themselves never touch the database or the store.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from unittest import mock
from urllib.parse import urlencode

import pytest
import webtest
from pyramid.path import DottedNameResolver

from invoice_archive.acceptance.cast import Cast
from invoice_archive.acceptance.client import HttpClient, Request, Response, encode
from invoice_archive.acceptance.data import EICAR, Buyer, Factory
from invoice_archive.acceptance.harness import HarnessBase, Need
from invoice_archive.acceptance.steps import *  # noqa: F401,F403 - the step definitions
from invoice_archive.acceptance.clauses import IN_PROCESS_ONLY, TAG_PREFIX

PROJECT = Path(__file__).resolve().parents[2]
MAPPING = {
    "posting.book": "001",
    "posting.account.expense.default": "6602",
    "posting.account.expense.travel": "660201",
    "posting.account.input_vat": "22210101",
    "posting.account.credit": "2241",
}


def pytest_bdd_apply_tag(tag: str, function: Any) -> Any:
    """Clause tags (@条款:...) and @进程内 are the report's, not pytest markers."""
    return True if tag.startswith(TAG_PREFIX) or tag == IN_PROCESS_ONLY else None


class WebTestClient:
    """The app in-process through WebTest: the same HTTP exchanges as against a URL."""

    base_url = "http://localhost"

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi = wsgi_app
        self.app = webtest.TestApp(wsgi_app)

    def request(self, method: str, path: str, *, token: str | None = None, json: Any = None,
                body: bytes | None = None, content_type: str | None = None,
                params: Mapping[str, Any] | None = None, form: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None) -> Response:
        content, ctype = encode(json=json, body=body, content_type=content_type, form=form)
        url = path + ("?" + urlencode(params, doseq=True) if params else "")
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        if ctype:
            hdrs["Content-Type"] = ctype
        r = self.app.request(url, method=method, body=content or b"", headers=hdrs, expect_errors=True)
        return Response(r.status_int, r.body, {k.lower(): v for k, v in r.headers.items()})

    def session(self) -> WebTestClient:
        return WebTestClient(self.wsgi)

    def race(self, requests: list[Request]) -> list[Response]:
        from tests.support.server import serve

        with serve(self.wsgi, threads=len(requests)) as url:
            client = HttpClient(url)
            try:
                return client.race(requests)
            finally:
                client.close()


class InProcessHarness(HarnessBase):
    """The app built as the scenario needs it, with the fakes around it."""

    def __init__(self, db_url: str, tmp_path: Path, factory: Factory) -> None:
        self.db_url = db_url
        self.tmp = tmp_path
        self.factory = factory
        self._cast = Cast({})
        self.settings: dict[str, str] = {
            # as the demo: fully digital invoices are claimable without a tax-platform check
            "verification.reimbursable_verdicts": "valid valid_with_warning unsigned present_not_verifiable",
            "bundle.signing_key": str(tmp_path / "bundle-key.pem"), "bundle.signing_key_generate": "true",
            "deployment.profile": "tests",
        }
        self.store_dir = tmp_path / "store"
        self.stack = contextlib.ExitStack()
        self._service: Any = None
        self._tax_platform: Any = None
        self._accounting: Any = None

    # -- the app, built at its first use ---------------------------------------------------
    @property
    def service(self) -> Any:
        if self._service is None:
            from tests.support.app import make_service

            self._service = make_service(self.db_url, self.store_dir, **self.settings)
            self._service.add_person("管理员", "admin")
            self._cast.tokens.update(self._service.tokens)
            self._client = WebTestClient(self._service.app.app)
        return self._service

    @property
    def client(self) -> WebTestClient:
        self.service
        return self._client

    @property
    def cast(self) -> Cast:
        """The people's tokens, issued when the app is built."""
        self.service
        return self._cast

    def buyer(self) -> Buyer:
        """The organisation this harness sets the app up for (tests/support/app.py BUYER): known
        before the app is built, so that a scenario may still state its needs after the
        background has named the organisation."""
        from tests.support.app import BUYER

        return Buyer(BUYER["name"], BUYER["tax_id"], BUYER["fonds_code"])

    def close(self) -> None:
        if self._service is not None:
            self._service.engine.dispose()
        self.stack.close()

    def _configure(self, need: Need, **settings: str) -> None:
        if self._service is not None:
            raise AssertionError(f"场景在使用部署之后才声明需求「{need.text}」：需求须写在最前面的假如步骤中")
        self.settings.update(settings)

    def require(self, need: Need) -> None:
        code = need.code
        if code in ("trusts_run_root", "trust_store"):
            if "verification.trust_store" not in self.settings:
                trust = self.factory.pki.write_trust_store(self.tmp / "trust")
                self._configure(need, **{"verification.trust_store": str(trust)})
        elif code == "only_valid":
            self._configure(need, **{"verification.reimbursable_verdicts": "valid"})
        elif code in ("tax_platform", "scripted_tax_platform"):
            if self._tax_platform is None:
                from invoice_archive_adapters.testing.fakes.taxplatform import FakeTaxPlatform

                self._tax_platform = self.stack.enter_context(FakeTaxPlatform(hang_seconds=1.0))
                self._configure(need, **{
                    "taxplatform.backend": "invoice_archive_adapters.taxplatform.http:HttpTaxPlatform",
                    "taxplatform.url": self._tax_platform.url, "taxplatform.read_timeout": "0.4"})
        elif code == "accounting":
            from invoice_archive_adapters.testing.fakes import FakeServer, make_fake
            from invoice_archive_adapters.testing.fakes.cli import settings_for

            system, _, posted_when = (need.value or "").partition(":")
            app = make_fake(system)
            app.hang_seconds = 1.0
            self._accounting = self.stack.enter_context(FakeServer(app))
            self._configure(need, **{**MAPPING, **settings_for(system, self._accounting),
                                     "accounting.read_timeout": "0.4", "accounting.posted_when": posted_when})
        elif code == "scripted_accounting":
            assert self._accounting is not None, "「记账系统由验收程序操控」须在「单位使用记账系统」之后"
        elif code == "virus_scanner":
            if shutil.which("clamscan") is None:
                message = "ClamAV (clamscan) is not installed: apt-get install clamav"
                if os.environ.get("CI") == "true":
                    pytest.fail(message)
                pytest.skip(message)
            db = self.tmp / "eicar.ndb"
            db.write_text(f"Invoice-Archive.Test.EICAR:0:*:{EICAR.hex()}\n", encoding="ascii")
            self._configure(need, **{"archive.clamav_database": str(db)})
        elif code == "no_virus_scanner":   # a scanner the settings name but the machine cannot run
            from tests.support.clamav import unavailable_scanner_settings

            self._configure(need, **unavailable_scanner_settings())
        elif code in ("no_tax_platform", "vouchers_reported"):
            assert "taxplatform.backend" not in self.settings or code != "no_tax_platform"
            assert "accounting.backend" not in self.settings or code != "vouchers_reported"
        elif code in ("synthetic_claimable", "signed_claimable", "signing_key", "store_access", "local_processes"):
            pass   # the in-process app is so configured, and the harness reaches its store and processes
        else:
            raise AssertionError(f"未知的需求 {code}")
        from invoice_archive.acceptance.harness import unmet_by_profile

        if not need.world and self._service is not None:   # what the app now says of itself
            why = unmet_by_profile(need, self.profile(), run_root_sha256=self.run_root_sha256())
            assert why is None, f"{need.text}：{why}"

    # -- the worker, one pass per step ------------------------------------------------------------
    def settle(self, done: Callable[[], bool], what: str, *, timeout: float | None = None) -> None:
        from invoice_archive.db import session_factory
        from invoice_archive.outbox import WorkerPolicy
        from invoice_archive.services.posting import build_worker

        app_settings = self.service.app_settings
        resolve = DottedNameResolver().maybe_resolve
        section = app_settings.accounting
        accounting = resolve(section.backend)(section.options) if section.backend else None
        platform = app_settings.taxplatform
        taxplatform = resolve(platform.backend)(platform.options) if platform.backend else None
        build_worker(session_factory(self.service.engine), accounting,
                     app_settings.posting.mapping if accounting else None, taxplatform=taxplatform,
                     posting_purpose=platform.posting_purpose, posted_when=section.posted_when,
                     policy=WorkerPolicy(backoff_base=0.0, confirm_interval=0.0)).run_once()

    # -- the world around the app ------------------------------------------------------------------
    @property
    def tax_platform(self) -> Any:
        assert self._tax_platform is not None, "未接入模拟税务平台"
        return self._tax_platform

    @property
    def accounting(self) -> Any:
        assert self._accounting is not None, "未接入模拟记账系统"
        return self._accounting

    def stored_packages(self) -> dict[str, bytes]:
        # whole objects only: a write cut short stays a ".tmp-" file
        return {p.name: p.read_bytes() for p in self.store_dir.rglob("*")
                if p.is_file() and "packages" in p.parts and not p.name.startswith(".tmp-")}

    def tamper_with_stored_package(self, archival_code: str) -> str:
        [victim] = [p for p in self.store_dir.rglob(f"{archival_code}.zip") if p.is_file()]
        raw = bytearray(victim.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        victim.write_bytes(bytes(raw))
        return victim.name

    def fixity_audit(self) -> tuple[int, str]:
        from invoice_archive.cli import main

        out = io.StringIO()
        env = {"DATABASE_URL": self.db_url, "ARCHIVE_STORE_URL": self.store_dir.as_uri()}
        with mock.patch.dict(os.environ, env), contextlib.redirect_stdout(out):
            code = main(["-c", str(PROJECT / "development.ini"), "audit-fixity", "--quiet"])
        return code, out.getvalue()

    def archive_run_killed(self, fiscal_year: int, period: int, *, after_packages: int) -> dict[str, bytes]:
        from tests.support.process import kill9, start_cli

        self.service
        run = start_cli(["archive-run", "--org", self.buyer().fonds_code, "--year", str(fiscal_year),
                         "--period", str(period), "--by", "赵档案"], self.db_url, self.store_dir)
        deadline = time.monotonic() + 120
        while len(self.stored_packages()) < after_packages and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert kill9(run) == -9, "the run ended before it could be killed"
        return self.stored_packages()


@pytest.fixture(scope="session")
def run_factory() -> Factory:
    """One run's synthetic data (and its SM2 PKI) for the whole session."""
    return Factory()


@pytest.fixture
def harness(db_url: str, tmp_path: Path, run_factory: Factory) -> Iterator[InProcessHarness]:
    h = InProcessHarness(db_url, tmp_path, run_factory)
    try:
        yield h
    finally:
        h.close()
