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
