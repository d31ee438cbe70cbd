"""No invoice is received twice nor claimed twice, under real concurrency, on
PostgreSQL (the production database): exactly one request wins, the others get
409 with evidence, and none gets a 5xx."""
from __future__ import annotations

from collections import Counter

import httpx
import pytest

from tests.support.app import make_service
from tests.support.invoices import synthetic_xml
from tests.support.journey import post_invoice
from tests.support.race import race
from tests.support.server import serve



@pytest.fixture(params=["postgresql", "sqlite"])
def pg_service(request, tmp_path):
    """PostgreSQL always (skipped only outside CI without a server); the embedded
    SQLite default too, where writers queue on its write lock."""
    if request.param == "postgresql":
        dbs = request.getfixturevalue("postgres_databases")
    else:
        from tests.support.db import SQLiteDatabases

        (tmp_path / "sqlite").mkdir()
        dbs = SQLiteDatabases(tmp_path / "sqlite")
    url = dbs.clone()
    svc = make_service(url, tmp_path / "store", **{"pyramid_openapi3.enable_response_validation": "false"})
    yield svc
    svc.engine.dispose()
    dbs.drop(url)


def _burst(n: int, send) -> Counter:
    """n requests released together by a barrier."""
    return Counter(race([send] * n))


def test_50_concurrent_submissions_of_one_invoice(pg_service):
    data = synthetic_xml()
    headers = {**pg_service.headers("张经办"), "Content-Type": "application/xml"}
    with serve(pg_service.app.app, threads=50) as url, httpx.Client(timeout=60) as client:
        def send() -> int:
            return client.post(f"{url}/api/v1/invoices", content=data, headers=headers).status_code

        statuses = _burst(50, send)
    assert statuses == Counter({201: 1, 409: 49}), statuses
    assert pg_service.count("invoices") == 1
    assert len([p for p in pg_service.stored_files()]) == 1   # losers left no file behind


def test_20_concurrent_claims_over_one_invoice(pg_service):
    invoice = post_invoice(pg_service, synthetic_xml()).json
    body = {"title": "差旅费", "expense_category": "travel", "invoice_ids": [invoice["id"]]}
    with serve(pg_service.app.app, threads=20) as url, httpx.Client(timeout=60) as client:
        def send() -> int:
            return client.post(f"{url}/api/v1/claims", json=body, headers=pg_service.headers("张经办")).status_code

        statuses = _burst(20, send)
    assert statuses == Counter({201: 1, 409: 19}), statuses
    assert pg_service.count("claims") == 1
    assert pg_service.count("claim_invoices") == 1
