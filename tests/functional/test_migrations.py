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
