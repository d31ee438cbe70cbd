"""Every migration runs both ways on the test database's dialect, and the models
match the migrations (what `alembic check` verifies in CI)."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from invoice_archive import models
from invoice_archive.cli import alembic_config
from tests.support.db import PROJECT


def test_downgrade_to_base_and_up_again(db_url):
    cfg = alembic_config(str(PROJECT / "development.ini"), db_url)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    engine.dispose()
    assert diff == []


def test_0007_backfills_the_posting_period_of_posted_invoices(service, db_url):
    """Invoices posted before migration 0007 get their voucher's period; the others none."""
    from sqlalchemy import text

    from tests.support.invoices import synthetic_xml
    from tests.support.journey import approve_claim, create_claim, post_invoice, post_voucher, voucher_report

    posted = post_invoice(service, synthetic_xml("24992000000000000701"), "a.xml").json
    waiting = post_invoice(service, synthetic_xml("24992000000000000702"), "b.xml").json
    claim = approve_claim(service, create_claim(service, [posted["id"]]).json["id"])
    post_voucher(service, voucher_report(claim, year=2024, period=9, date="2024-09-30"))
    service.engine.dispose()   # no pooled connection may hold the tables the migration alters

    cfg = alembic_config(str(PROJECT / "development.ini"), db_url)
    command.downgrade(cfg, "0006")
    command.upgrade(cfg, "head")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text(
            "SELECT id, posted_fiscal_year || '-' || posted_period FROM invoices")).all())
    engine.dispose()
    assert rows == {posted["id"]: "2024-9", waiting["id"]: None}


def test_0008_makes_one_person_of_every_spelling_of_a_name(service, db_url):
    """Tokens, claimants and signers written before 0008 become people by
    normalised name: "李审核" and " 李审核 " are one person, with both tokens."""
    from sqlalchemy import text

    from tests.support.invoices import synthetic_xml
    from tests.support.journey import create_claim, post_invoice

    service.add_person(" 李审核 ", "approver")
    inv = post_invoice(service, synthetic_xml("24992000000000000801"), "a.xml").json
    claim = create_claim(service, [inv["id"]]).json
    service.app.post_json(f"/api/v1/claims/{claim['id']}/submit", {}, headers=service.headers("张经办"))
    service.engine.dispose()

    cfg = alembic_config(str(PROJECT / "development.ini"), db_url)
    command.downgrade(cfg, "0007")
    engine = create_engine(db_url)
    with engine.begin() as conn:   # as 0007 kept them: two spellings of one name
        conn.execute(text("UPDATE api_tokens SET name = ' 李审核 ' WHERE id = "
                          "(SELECT max(id) FROM api_tokens WHERE name = '李审核')"))
    engine.dispose()
    command.upgrade(cfg, "head")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_tokens WHERE name = ' 李审核 '")).scalar_one() == 1
        reviewers = conn.execute(text(
            "SELECT DISTINCT t.person_id FROM api_tokens t WHERE t.name IN ('李审核', ' 李审核 ')")).all()
        claimant = conn.execute(text("SELECT p.name FROM claims c JOIN people p ON p.id = c.claimant_id")).scalar_one()
        signer = conn.execute(text("SELECT p.name FROM claim_signoffs s JOIN people p ON p.id = s.person_id")).scalar_one()
        orphans = conn.execute(text("SELECT count(*) FROM api_tokens WHERE person_id IS NULL")).scalar_one()
    engine.dispose()
    assert len(reviewers) == 1 and claimant == signer == "张经办" and orphans == 0
