"""The audit log without a serialisation point: writers append and never wait
for one another; the sequencer links committed events into each organisation's
hash chain after commit, and signs checkpoints an auditor checks offline.

Concurrency and crash tests run on PostgreSQL (the production database) with a
barrier and a real ``kill -9``; the inclusion proof runs on both databases.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from invoice_archive.archive.chain import verify_chain
from invoice_archive.cli import main
from invoice_archive.db import session_factory
from invoice_archive.models import AuditCheckpoint, AuditEvent
from invoice_archive.services.audit import AuditLog, AuditSequencer, chain_fields
from tests.support.app import make_service
from tests.support.invoices import synthetic_xml
from tests.support.journey import post_invoice
from tests.support.race import race

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_url(postgres_databases):
    url = postgres_databases.clone()
    yield url
    postgres_databases.drop(url)


@pytest.fixture
def signed(tmp_path):
    return {"bundle.signing_key": str(tmp_path / "keys" / "bundle.pem"), "bundle.signing_key_generate": "true",
            "pyramid_openapi3.enable_response_validation": "false"}


def _org_id(svc) -> int:
    with svc.engine.connect() as conn:
        return conn.execute(text("SELECT id FROM organisations ORDER BY id LIMIT 1")).scalar_one()


def _chain(svc, org_id):
    with session_factory(svc.engine)() as db:
        return [{**chain_fields(e), "hash": e.hash, "prev_hash": e.prev_hash} for e in db.execute(
            select(AuditEvent).where(AuditEvent.org_id == org_id, AuditEvent.chain_seq.is_not(None))
            .order_by(AuditEvent.chain_seq)).scalars()]


def _append(svc, org_id, n, *, actor="并发写入者", hold: threading.Event | None = None) -> None:
    with session_factory(svc.engine)() as db, db.begin():
        log = AuditLog(db, org_id=org_id, actor=actor, role="finance")
        for i in range(n):
            log.record("test.append", "invoice", i, n=i)
        db.flush()
        if hold is not None:
            hold.wait(30)


def _link(svc) -> int:
    with session_factory(svc.engine)() as db, db.begin():
        return AuditSequencer(db).link()


@pytest.mark.postgresql
def test_a_writer_never_waits_for_another_writers_open_transaction(pg_url, tmp_path):
    """With the old design the second writer blocked on the chain head until the
    first committed; now it commits at once, and links ahead of the open one."""
    svc = make_service(pg_url, tmp_path / "store")
    org = _org_id(svc)
    hold = threading.Event()
    first = threading.Thread(target=_append, args=(svc, org, 1), kwargs={"actor": "慢事务", "hold": hold})
    first.start()
    time.sleep(0.3)                                   # the first transaction holds its insert open
    started = time.monotonic()
    done = threading.Thread(target=_append, args=(svc, org, 1), kwargs={"actor": "快事务"})
    done.start()
    done.join(10)
    assert not done.is_alive(), "the second writer waited for the first"
    assert time.monotonic() - started < 5
    assert _link(svc) >= 1                             # the committed one is linked now
    hold.set()
    first.join(10)
    _link(svc)
    chain = _chain(svc, org)
    assert [e["actor"] for e in chain[-2:]] == ["快事务", "慢事务"]   # commit order, not insert order
    assert verify_chain(chain).ok
    svc.engine.dispose()


@pytest.mark.postgresql
def test_writers_and_sequencers_at_once_link_every_event_once(pg_url, tmp_path):
    svc = make_service(pg_url, tmp_path / "store")
    org = _org_id(svc)
    from invoice_archive.bundle import Ed25519Signer
    signer = Ed25519Signer.generate()
    writers = [lambda i=i: _append(svc, org, 5, actor=f"写入者{i}") for i in range(16)]

    def sequencer():
        total = 0
        for _ in range(20):
            with session_factory(svc.engine)() as db, db.begin():
                total += AuditSequencer(db, signer=signer, checkpoint_seconds=0).link(org)
            time.sleep(0.01)
        return total

    results = race([*writers, sequencer, sequencer, sequencer, sequencer])
    assert not [r for r in results if isinstance(r, Exception)], results
    with session_factory(svc.engine)() as db, db.begin():
        AuditSequencer(db, signer=signer).link(org, wait=True)
    chain = _chain(svc, org)
    appended = [e for e in chain if e["action"] == "test.append"]
    assert len(appended) == 80
    assert [e["id"] for e in chain] == list(range(1, len(chain) + 1))       # contiguous, each once
    assert verify_chain(chain).ok
    with session_factory(svc.engine)() as db:
        unlinked = db.execute(select(AuditEvent).where(AuditEvent.chain_seq.is_(None))).scalars().all()
        checkpoints = db.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars().all()
    assert not unlinked
    by_seq = {e["id"]: e["hash"] for e in chain}
    assert checkpoints and all(by_seq[cp.seq] == cp.hash for cp in checkpoints)
    svc.engine.dispose()


_LINK_AND_HANG = """
import sys, time
from invoice_archive.db import make_engine, session_factory
from invoice_archive.services.audit import AuditLog, AuditSequencer
engine = make_engine(sys.argv[1])
sessions = session_factory(engine)
with sessions() as db, db.begin():
    log = AuditLog(db, org_id=int(sys.argv[2]), actor="被杀的进程", role="system")
    for i in range(50):
        log.record("test.crash", "invoice", i)
with sessions() as db:
    db.begin()
    print(AuditSequencer(db).link(int(sys.argv[2])), flush=True)   # linked, not committed
    time.sleep(120)
"""


@pytest.mark.postgresql
def test_kill_9_between_append_and_link_loses_nothing_and_the_rerun_links(pg_url, tmp_path, monkeypatch, capsys):
    svc = make_service(pg_url, tmp_path / "store")
    org = _org_id(svc)
    proc = subprocess.Popen([sys.executable, "-c", _LINK_AND_HANG, pg_url, str(org)],
                            stdout=subprocess.PIPE, text=True, cwd=PROJECT)
    try:
        assert proc.stdout.readline().strip() == "50"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'test.crash'")).scalar_one() == 50
        assert conn.execute(text("SELECT count(*) FROM audit_events WHERE chain_seq IS NULL")).scalar_one() == 50
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", (tmp_path / "store").as_uri())
    assert main(["-c", str(PROJECT / "development.ini"), "audit-verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert report["ok"] and report["checked"] >= 50
    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events WHERE chain_seq IS NULL")).scalar_one() == 0
    svc.engine.dispose()


def test_requests_link_their_events_after_commit(db_url, tmp_path, signed):
    """No worker runs here: the service process's own sequencer thread links the
    events its requests committed, shortly after, and signs a checkpoint."""
    svc = make_service(db_url, tmp_path / "store", **signed)
    post_invoice(svc, synthetic_xml())
    assert _linked_and_checkpointed(svc)
    svc.engine.dispose()


def _linked_and_checkpointed(svc, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        with svc.engine.connect() as conn:
            pending = conn.execute(text("SELECT count(*) FROM audit_events WHERE chain_seq IS NULL")).scalar_one()
            checkpoints = conn.execute(text("SELECT count(*) FROM audit_checkpoints")).scalar_one()
        if pending == 0 and checkpoints > 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_an_event_is_proved_in_a_signed_checkpoint_offline(db_url, tmp_path, signed, capsys):
    svc = make_service(db_url, tmp_path / "store", **signed)
    inv = post_invoice(svc, synthetic_xml()).json
    for n in range(3):
        post_invoice(svc, synthetic_xml(f"24992000000000009{n:03d}"))
    events = svc.app.get("/api/v1/audit/events", {"object_type": "invoice", "object_id": str(inv["id"])},
                         headers=svc.headers("王审计")).json["items"]
    proof = svc.app.get(f"/api/v1/audit/events/{events[0]['id']}/proof", headers=svc.headers("王审计")).json
    assert proof["checkpoint"]["seq"] == proof["event"]["id"] + len(proof["path"])
    key = tmp_path / "key.pem"
    key.write_bytes(svc.app.get("/api/v1/bundle-key").body)
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof, ensure_ascii=False), encoding="utf-8")
    assert main(["verify-audit-proof", str(path), "--public-key", str(key)]) == 0
    assert "通过" in capsys.readouterr().out

    forged = json.loads(path.read_text(encoding="utf-8"))
    if forged["path"]:
        forged["path"][0]["actor"] = "冒名者"
    else:
        forged["event"]["detail"] = {"changed": True}
    path.write_text(json.dumps(forged, ensure_ascii=False), encoding="utf-8")
    assert main(["verify-audit-proof", str(path), "--public-key", str(key)]) == 1
    assert "未通过" in capsys.readouterr().out

    from invoice_archive.bundle import Ed25519Signer
    other = tmp_path / "other.pem"
    other.write_bytes(Ed25519Signer.generate().public_key_pem())
    path.write_text(json.dumps(proof, ensure_ascii=False), encoding="utf-8")
    assert main(["verify-audit-proof", str(path), "--public-key", str(other)]) == 1
    assert "签名" in capsys.readouterr().out
    svc.engine.dispose()


def test_a_rewritten_chain_no_longer_matches_its_signed_checkpoints(db_url, tmp_path, signed, monkeypatch, capsys):
    """Someone with the database's powers re-links the whole chain after editing an
    event: the chain verifies by itself, the signed checkpoints do not."""
    svc = make_service(db_url, tmp_path / "store", **signed)
    post_invoice(svc, synthetic_xml())
    assert _linked_and_checkpointed(svc)
    org = _org_id(svc)
    from invoice_archive.archive.chain import link
    chain = _chain(svc, org)
    chain[0]["actor"] = "冒名者"
    relinked = link([{k: v for k, v in e.items() if k not in ("hash", "prev_hash")} for e in chain])
    with svc.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_guard"))
            conn.execute(text("ALTER TABLE audit_chain_heads DISABLE TRIGGER ALL"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        for e in relinked:
            conn.execute(text("UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h "
                              "WHERE org_id = :o AND chain_seq = :s"),
                         {"a": e["actor"], "p": e["prev_hash"], "h": e["hash"], "o": org, "s": e["id"]})
        conn.execute(text("UPDATE audit_chain_heads SET hash = :h WHERE org_id = :o"),
                     {"h": relinked[-1]["hash"], "o": org})
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", (tmp_path / "store").as_uri())
    monkeypatch.setenv("BUNDLE_SIGNING_KEY", signed["bundle.signing_key"])
    assert main(["-c", str(PROJECT / "development.ini"), "audit-verify"]) == 1
    assert "签名检查点与链不符" in capsys.readouterr().out
    svc.engine.dispose()
