"""The real application on a real database, for functional and acceptance tests."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import webtest

from invoice_archive.config import configure
from invoice_archive.db import make_engine, session_factory
from invoice_archive.services.admin import create_org, create_token
from tests.support.clamav import scanner_settings

BUYER = {"name": "南京测试买方有限公司", "tax_id": "91320115MA202UKD7X", "fonds_code": "Z001"}


@dataclass
class TestService:
    """A running app (WebTest) with an organisation and one token per person."""

    app: webtest.TestApp
    db_url: str
    store_dir: Path
    engine: Any
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def app_settings(self) -> Any:
        """The settings as the running app parsed them (invoice_archive.settings.Settings)."""
        return self.app.app.registry.app_settings

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def add_person(self, who: str, role: str, org_tax_id: str = BUYER["tax_id"]) -> str:
        with session_factory(self.engine)() as db, db.begin():
            token, _ = create_token(db, org=org_tax_id, role=role, name=who)
        self.tokens[who] = token
        return token

    def add_org(self, name: str, tax_id: str, fonds_code: str) -> None:
        with session_factory(self.engine)() as db, db.begin():
            create_org(db, name=name, tax_id=tax_id, fonds_code=fonds_code)

    # what is in the database and the store, for "nothing was left behind" checks
    def count(self, table: str) -> int:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()

    def stored_files(self) -> list[Path]:
        return sorted(p for p in self.store_dir.rglob("*") if p.is_file())


PEOPLE = {
    "张经办": "finance",
    "李审核": "approver",
    "陈审批": "approver",
    "总账系统": "accounting_system",
    "赵档案": "archivist",
    "王审计": "auditor",
}


def make_service(db_url: str, store_dir: Path, *, org: dict[str, str] | None = None,
                 **extra_settings: Any) -> TestService:
    settings = {
        "sqlalchemy.url": db_url,
        "archive.store_url": store_dir.as_uri(),
        # the real ClamAV with a one-signature database, where installed (tests/support/clamav.py)
        **scanner_settings(store_dir.parent / "clamav"),
        "pyramid_openapi3.enable_response_validation": "true",
        # as the demo: fully digital invoices are claimable without a tax-platform check
        "verification.reimbursable_verdicts": "valid valid_with_warning unsigned present_not_verifiable",
        "verification.unsigned_requires_tax_check": "false",
        "here": str(Path(__file__).resolve().parents[2]),
    }
    settings.update(extra_settings)
    engine = make_engine(db_url)
    app = configure(settings, **{"invoice_archive.engine": engine}).make_wsgi_app()
    service = TestService(app=webtest.TestApp(app), db_url=db_url, store_dir=store_dir, engine=engine)
    org = org or BUYER
    service.add_org(org["name"], org["tax_id"], org["fonds_code"])
    for who, role in PEOPLE.items():
        service.add_person(who, role, org["tax_id"])
    return service
