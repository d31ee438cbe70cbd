"""Pooled PostgreSQL connections: one that rested and died meanwhile is replaced
before a request sees it (invoice_archive/db.py, ``_ping_after_idle``)."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from invoice_archive import db as dbmod


def test_a_rested_connection_that_died_is_replaced(db_url, monkeypatch):
    if not db_url.startswith("postgresql"):
        pytest.skip("the embedded SQLite database has no server connection to lose")
    engine = dbmod.make_engine(db_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:   # the pool has one connection: this is the same one
            assert other.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
        admin = dbmod.make_engine(db_url)
        with admin.connect() as killer:
            assert killer.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar_one()
        admin.dispose()
        monkeypatch.setattr(dbmod, "IDLE_BEFORE_PING", 0.0)   # as after ten quiet seconds
        with engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged(db_url):
    """A connection back within IDLE_BEFORE_PING seconds goes out without a round trip."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    engine = dbmod.make_engine(db_url, pool_size=1, max_overflow=0)
    pings = []
    real = engine.dialect.do_ping
    engine.dialect.do_ping = lambda c: pings.append(1) or real(c)   # type: ignore[method-assign]
    try:
        for _ in range(5):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        assert pings == []
    finally:
        engine.dispose()


def test_each_request_session_commits_or_aborts_with_its_own_request(db_url):
    """zope.sqlalchemy's listeners sit on the RequestSession class once; each session
    follows the transaction manager it was made with, and a plain session none."""
    import transaction
    from sqlalchemy import insert, select

    from invoice_archive.models import Organisation

    engine = dbmod.make_engine(db_url)
    try:
        factory = dbmod.request_session_factory(engine)
        kept, dropped = transaction.TransactionManager(explicit=True), transaction.TransactionManager(explicit=True)
        for tm, code, end in ((kept, "K001", kept.commit), (dropped, "D001", dropped.abort)):
            tm.begin()
            session = dbmod.tm_session(factory, tm)
            session.add(Organisation(name=f"会话 {code}", tax_id=f"91110000SESSN{code}", fonds_code=code))
            dbmod.execute_dml(session, insert(Organisation).values(   # a Core write marks it changed too
                name=f"会话 {code}C", tax_id=f"91110000SESSC{code}", fonds_code=f"{code}C"))
            end()
        with dbmod.session_factory(engine)() as plain, plain.begin():   # not joined to any manager
            codes = set(plain.execute(select(Organisation.fonds_code)).scalars())
            plain.add(Organisation(name="普通会话", tax_id="91110000PLAIN0001", fonds_code="P001"))
        assert {"K001", "K001C"} <= codes and not codes & {"D001", "D001C"}
        with dbmod.session_factory(engine)() as plain:
            assert plain.execute(select(Organisation.id).where(Organisation.fonds_code == "P001")).scalar_one()
        with pytest.raises(TypeError):
            dbmod.tm_session(dbmod.session_factory(engine), kept)
    finally:
        engine.dispose()
