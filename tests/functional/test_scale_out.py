"""Production serving, as docs/deployment.md describes it: ``invoice-archive serve``
runs two service processes on one port, two ``invoice-archive worker`` processes
share the outbox, and all of them use one PostgreSQL database and one S3 store
(SeaweedFS). Invoices arrive concurrently; one service process is killed with
-9 in the middle and replaced; every claim is posted to the accounting system
exactly once, every original is in the bucket, and the audit chain holds.
"""
from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from invoice_archive_adapters.testing.fakes import FakeServer, make_fake
from invoice_archive_adapters.testing.fakes.cli import settings_for
from tests.support.app import make_service
from tests.support.invoices import synthetic_xml
from tests.support.posting import MAPPING
from tests.support.race import race
from tests.support.server import free_port

pytestmark = pytest.mark.postgresql
PROJECT = Path(__file__).resolve().parents[2]
MAIN = "import sys; from invoice_archive.cli import main; sys.exit(main(sys.argv[1:]))"
INVOICES = 24
PER_CLAIM = 4


@pytest.fixture
def pg_url(postgres_databases):
    url = postgres_databases.clone()
    yield url
    postgres_databases.drop(url)


def _ini(tmp_path: Path, overrides: dict[str, str]) -> Path:
    """production.ini with this deployment's settings."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str   # type: ignore[assignment, method-assign]
    parser.read(PROJECT / "production.ini", encoding="utf-8")
    for key, value in overrides.items():
        parser.set("app:main", key, value)
    path = tmp_path / "deployment.ini"
    with path.open("w", encoding="utf-8") as f:
        parser.write(f)
    return path


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return sorted(out)


def _wait(predicate, timeout: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_two_service_processes_and_two_workers_share_one_database_and_store(pg_url, tmp_path, seaweed, s3_bucket):
    fake_app = make_fake("generic_json")
    prefix = f"scale-{uuid.uuid4().hex[:8]}/"
    with FakeServer(fake_app) as fake:
        # a voucher counts as 入账 once saved: this test is about processes, not the ledger's states
        accounting = {**settings_for("generic_json", fake), **MAPPING, "accounting.posted_when": "saved"}
        seeded = make_service(pg_url, tmp_path / "unused-store", **accounting)   # org, people and their tokens
        headers = seeded.headers
        ini = _ini(tmp_path, {
            "sqlalchemy.url": pg_url, "archive.store_url": seaweed.url(s3_bucket, prefix), **seaweed.settings(),
            **accounting, "bundle.signing_algorithm": "ed25519",
            "bundle.signing_key": str(tmp_path / "bundle.pem"), "bundle.signing_key_generate": "true",
            "verification.reimbursable_verdicts": "valid unsigned present_not_verifiable",
            "verification.unsigned_requires_tax_check": "false",
        })
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name in ("DATABASE_URL", "ARCHIVE_STORE_URL", "BUNDLE_SIGNING_KEY", "ACCOUNTING_BACKEND"):
            env.pop(name, None)
        cli = [sys.executable, "-c", MAIN, "-c", str(ini)]
        server = subprocess.Popen([*cli, "serve", "--processes", "2", "--threads", "4", "--listen", f"127.0.0.1:{port}"],
                                  cwd=PROJECT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=(tmp_path / "serve.log").open("wb"))   # a file: an unread pipe fills up
        workers = [subprocess.Popen([*cli, "worker", "--poll", "0.2"], cwd=PROJECT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=(tmp_path / f"worker{n}.log").open("wb"))
                   for n in range(2)]
        try:
            _wait(lambda: _healthy(url), what="the service")
            first = _children(server.pid)
            assert len(first) == 2, first

            with httpx.Client(base_url=url, timeout=60) as client:
                posts = race([lambda i=i: httpx.post(
                    f"{url}/api/v1/invoices?filename=inv{i}.xml", content=synthetic_xml(f"2499200000{i:010d}"),
                    headers={**headers("张经办"), "Content-Type": "application/xml"}, timeout=60)
                    for i in range(INVOICES)])
                assert [getattr(r, "status_code", r) for r in posts] == [201] * INVOICES, \
                    [r.text for r in posts if getattr(r, "status_code", 0) != 201][:3]
                ids = [r.json()["id"] for r in posts]

                os.kill(first[0], signal.SIGKILL)             # a service process dies ...
                _wait(lambda: len(_children(server.pid)) == 2 and first[0] not in _children(server.pid),
                      what="the supervisor to replace the killed process")

                claims = []
                for n in range(INVOICES // PER_CLAIM):          # ... and the service carries on
                    claim = client.post("/api/v1/claims", json={
                        "title": f"差旅费报销 {n}", "expense_category": "travel",
                        "invoice_ids": ids[n * PER_CLAIM:(n + 1) * PER_CLAIM]}, headers=headers("张经办"))
                    assert claim.status_code == 201, claim.text
                    cid = claim.json()["id"]
                    for step, who in (("submit", "张经办"), ("review", "李审核"), ("approve", "陈审批")):
                        r = client.post(f"/api/v1/claims/{cid}/{step}", json={}, headers=headers(who))
                        assert r.status_code == 200, r.text
                    claims.append(cid)

                def all_posted() -> bool:
                    states = [client.get(f"/api/v1/claims/{c}", headers=headers("王审计")).json()["status"]
                              for c in claims]
                    return all(s == "posted" for s in states)

                _wait(all_posted, what="the workers to post every claim")

            refs = [v.external_ref for v in fake.vouchers]
            assert len(refs) == len(claims) == len(set(refs))        # each claim posted exactly once
            with seeded.engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM invoices")).scalar_one() == INVOICES
                assert conn.execute(text("SELECT count(*) FROM vouchers")).scalar_one() == len(claims)
            listed = seaweed.client().list_objects_v2(Bucket=s3_bucket, Prefix=prefix)
            originals = [o["Key"] for o in listed.get("Contents", []) if "/originals/" in f"/{o['Key']}"
                         or o["Key"].endswith((".xml", ".ofd", ".pdf"))]
            assert len(originals) >= INVOICES

            verify = subprocess.run([*cli, "audit-verify", "--json"], cwd=PROJECT, env=env,
                                    capture_output=True, text=True, timeout=120)
            assert verify.returncode == 0, verify.stdout + verify.stderr
        finally:
            server.send_signal(signal.SIGTERM)
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for proc in (server, *workers):
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            seeded.engine.dispose()
    assert not _children(server.pid)
