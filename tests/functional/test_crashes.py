"""Nothing lost: long operations ended by a real kill -9, then run again.

An archive run writes each package to the write-once store before its
transaction commits; killed in between, the database forgets the 档号 while the
store keeps the packages. Intake stores the original before its row commits.
Run again, both complete: 档号 unique and gap-free, every record's object
present, and no stored object left that nothing references.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from invoice_archive.cli import main
from tests.support.invoices import synthetic_xml
from tests.support.journey import (
    approve_claim, create_claim, post_invoice, post_voucher, prepare_archiving, voucher_report,
)
from tests.support.process import INI, kill9, start_cli, start_server
from tests.support.server import free_port


def _rows(svc, sql: str) -> list:
    with svc.engine.connect() as conn:
        return list(conn.execute(text(sql)))


def _fixity(svc, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", svc.db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", svc.store_dir.as_uri())
    capsys.readouterr()
    code = main(["-c", str(INI), "audit-fixity", "--quiet"])
    return code, capsys.readouterr().out


def _posted_vouchers(svc, n: int) -> None:
    for i in range(1, n + 1):
        inv = post_invoice(svc, synthetic_xml(f"2499200000000{i:07d}")).json
        claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
        post_voucher(svc, voucher_report(claim, number=f"{i:04d}", date=f"2024-07-{1 + i % 28:02d}"))


def _packages(svc) -> list:
    # whole objects only: a write cut short by the kill stays a ".tmp-" file the store ignores
    return [p for p in svc.stored_files() if "packages" in p.parts and not p.name.startswith(".tmp-")]


VOUCHERS = 40


def test_an_archive_run_killed_midway_completes_when_run_again(service, monkeypatch, capsys):
    svc = service
    _posted_vouchers(svc, VOUCHERS)
    prepare_archiving(svc, 2024, 7)
    run = start_cli(["archive-run", "--org", "Z001", "--year", "2024", "--period", "7"], svc.db_url, svc.store_dir)
    deadline = time.monotonic() + 120
    while len(_packages(svc)) < 3 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    status = kill9(run)
    assert status == -9, f"the run ended by itself before it could be killed: {run.stdout.read()}"
    written = len(_packages(svc))
    assert 3 <= written < VOUCHERS
    assert _rows(svc, "SELECT count(*) FROM archive_items")[0][0] == 0     # the transaction died with it

    code, out = _fixity(svc, monkeypatch, capsys)
    assert code == 1 and out.count("unreferenced: packages/") == written

    again = start_cli(["archive-run", "--org", "Z001", "--year", "2024", "--period", "7"],
                      svc.db_url, svc.store_dir)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    numbers = [r[0] for r in _rows(svc, "SELECT item_no FROM archive_items ORDER BY item_no")]
    assert numbers == list(range(1, VOUCHERS + 1))                          # unique and gap-free
    assert _rows(svc, "SELECT count(DISTINCT voucher_id) FROM archive_items")[0][0] == VOUCHERS
    details = [d if isinstance(d, dict) else json.loads(d)
               for (d,) in _rows(svc, "SELECT detail FROM audit_events WHERE action = 'archive.archived'")]
    assert sum(1 for d in details if d.get("adopted_from_interrupted_run")) == written
    assert len(_packages(svc)) == VOUCHERS
    code, out = _fixity(svc, monkeypatch, capsys)
    assert code == 0, out
    # and each adopted package passes the four-property check where it lies
    checked = svc.app.post_json("/api/v1/archive/checks", {"fiscal_year": 2024},
                                headers=svc.headers("赵档案")).json
    assert checked["checked"] == VOUCHERS and checked["failed"] == []


def test_a_stored_object_that_matches_no_voucher_stops_the_run_and_is_reported(service, monkeypatch, capsys):
    """Something else sits where the next package would go: never overwritten,
    never registered; the run says so, and audit-fixity lists the object."""
    svc = service
    _posted_vouchers(svc, 1)
    prepare_archiving(svc, 2024, 7)
    planted = svc.store_dir / "packages" / "Z001" / "2024" / "Z001-PZ·2024·D30-0007-0001.zip"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    code, out = _fixity(svc, monkeypatch, capsys)
    assert code == 1 and "unreferenced: packages/Z001/2024/Z001-PZ·2024·D30-0007-0001.zip" in out
    err = svc.app.post_json("/api/v1/archive/runs", {"fiscal_year": 2024, "period": 7},
                            headers=svc.headers("赵档案"), status=409).json["error"]
    assert err["code"] == "archive_store_conflict" and "Z001-PZ·2024·D30-0007-0001" in err["message"]
    assert planted.read_bytes() == b"PK\x05\x06" + b"\x00" * 18
    assert _rows(svc, "SELECT count(*) FROM archive_items")[0][0] == 0


def test_intake_killed_midway_leaves_nothing_a_retry_cannot_resolve(service, monkeypatch, capsys):
    svc = service
    files = [synthetic_xml(f"2499200000001{i:07d}") for i in range(60)]
    port = free_port()
    server = start_server(svc.db_url, svc.store_dir, port)
    url = f"http://127.0.0.1:{port}/api/v1/invoices"
    headers = {**svc.headers("张经办"), "Content-Type": "application/xml"}
    answered: list[int] = []

    def send(data: bytes) -> int | None:
        try:
            status = httpx.post(url, content=data, headers=headers, timeout=60).status_code
        except httpx.TransportError:
            return None
        answered.append(status)
        return status

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(send, f) for f in files]
        while len(answered) < 15 and not all(f.done() for f in futures):
            time.sleep(0.005)
        kill9(server)
        first = [f.result() for f in futures]
    assert None in first, "every request finished before the kill"

    # no half-registered invoice: every row's original is there, byte for byte
    stored = {p.relative_to(svc.store_dir).as_posix() for p in svc.stored_files()}
    keys = [r[0] for r in _rows(svc, "SELECT storage_key FROM invoices")]
    assert set(keys) <= stored

    server = start_server(svc.db_url, svc.store_dir, port)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            again = list(pool.map(send, files))
    finally:
        kill9(server)
    assert set(again) <= {201, 409} and again.count(201) == 60 - len(keys)
    assert _rows(svc, "SELECT count(*) FROM invoices")[0][0] == 60
    code, out = _fixity(svc, monkeypatch, capsys)
    assert code == 0, out                       # nothing missing, nothing unreferenced
