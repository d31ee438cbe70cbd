"""The audit log is tamper-evident (a hash chain per organisation) and the stored
objects are audited for fixity; both through the console script."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from invoice_archive.cli import main
from invoice_archive.db import session_factory
from invoice_archive.services.audit import AuditSequencer
from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def service_overrides(tmp_path):
    """The bundle key (the audit log's checkpoints, the signed 移交清册)."""
    return {"bundle.signing_key": str(tmp_path / "bundle-key.pem"), "bundle.signing_key_generate": "true"}


@pytest.fixture
def journey(service, monkeypatch):
    inv = post_invoice(service, synthetic_xml()).json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    post_voucher(service, voucher_report(claim))
    archive_period(service)
    with session_factory(service.engine)() as db, db.begin():   # what the sequencer thread does shortly after
        AuditSequencer(db).link(wait=True)
    monkeypatch.setenv("DATABASE_URL", service.db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", service.store_dir.as_uri())
    return ["-c", str(PROJECT / "development.ini")]


def test_the_chain_links_every_event(service, journey, capsys):
    assert main([*journey, "audit-verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert report["ok"] is True and report["checked"] == service.count("audit_events")
    with service.engine.connect() as conn:
        seqs = conn.execute(text("SELECT chain_seq FROM audit_events ORDER BY chain_seq")).scalars().all()
    assert seqs == list(range(1, len(seqs) + 1))     # no gaps


def test_the_database_refuses_to_change_the_log(service, journey):
    for stmt in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError):
            with service.engine.begin() as conn:
                conn.execute(text(stmt))


def test_an_edited_event_is_named(service, journey, capsys):
    """Someone with the database's own powers removes the guard and edits history."""
    with service.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_guard"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("UPDATE audit_events SET actor = '冒名者' WHERE chain_seq = 3"))
    assert main([*journey, "audit-verify"]) == 1
    out = capsys.readouterr().out
    assert "第 " in out and "断裂" in out


def test_fixity_audit_catches_one_changed_byte(service, journey, capsys):
    assert main([*journey, "audit-fixity", "--quiet"]) == 0
    victim = next(p for p in service.stored_files() if p.suffix == ".xml")
    raw = bytearray(victim.read_bytes())
    raw[10] ^= 0x01
    victim.write_bytes(bytes(raw))
    capsys.readouterr()
    assert main([*journey, "audit-fixity", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert victim.name in out and "mismatch" in out


def test_transfer_is_rechecked_by_the_receiver(service, journey, tmp_path, capsys, monkeypatch):
    """A signed transfer (docs/disposition.md) exported by the console script and checked by the
    receiver with the sender's published key; a byte changed in transit is caught."""
    from tests.support.records import add_people, waive

    add_people(service)
    transfer = service.app.post_json("/api/v1/archive/transfers", {"fiscal_year": 2024, "receiver_unit": "档案室"},
                                     headers=service.headers("钱会计")).json
    for who, role in (("钱会计", "handover"), ("赵档案", "receiver"), ("李审核", "supervisor")):
        service.app.post_json(f"/api/v1/archive/transfers/{transfer['id']}/sign", {"role": role, **waive(service)},
                              headers=service.headers(who))
    monkeypatch.setenv("BUNDLE_SIGNING_KEY", str(tmp_path / "bundle-key.pem"))
    key = tmp_path / "key.pem"
    key.write_bytes(service.app.get("/api/v1/bundle-key").body)
    out = tmp_path / "transfer-2024.zip"
    assert main([*journey, "transfer", "export", "--org", "Z001", "--year", "2024", "--out", str(out)]) == 0
    assert main([*journey, "transfer", "check", str(out), "--public-key", str(key), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report == {"ok": True, "items": 1, "passed": 1, "problems": [], "item_failures": {},
                      "signature": "checked"}
    # a byte changed in transit is caught by the receiver
    raw = bytearray(out.read_bytes())
    raw[len(raw) // 3] ^= 0x01
    out.write_bytes(bytes(raw))
    assert main([*journey, "transfer", "check", str(out)]) == 1


def test_appraisal_lists_items_whose_retention_ended(service, journey, capsys):
    assert main([*journey, "appraisal", "--org", "Z001", "--as-of", "2054-12-31", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main([*journey, "appraisal", "--org", "Z001", "--as-of", "2055-01-01", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["retention_until"] == "2054-12-31"
