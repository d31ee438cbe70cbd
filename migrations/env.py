"""Alembic environment: the database URL comes from the application's settings
(the ini file's [app:main] section, overridden by DATABASE_URL), so migrations
always run against the database the service uses."""
from __future__ import annotations

from alembic import context
from pyramid.paster import get_appsettings, setup_logging

from invoice_archive import models  # noqa: F401  (registers every table)
from invoice_archive.db import make_engine
from invoice_archive.settings import load

config = context.config
target_metadata = models.Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return url
    ini = config.config_file_name
    setup_logging(ini)
    return load(get_appsettings(ini, name="main")).database.url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _sqlite_pragma(connection, pragma: str) -> list:  # type: ignore[no-untyped-def]
    """Run a pragma on the driver connection outside any transaction (our engine
    emits BEGIN IMMEDIATE itself, and SQLite ignores foreign_keys inside one)."""
    if connection.in_transaction():
        connection.commit()
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        return cursor.execute(pragma).fetchall()
    finally:
        cursor.close()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a SQLite table by copy, drop and rename; with
        # foreign keys enforced, dropping a table other rows refer to fails.  They
        # are off while migrating (the pragma only works outside a transaction)
        # and every reference is checked before they are on again.
        _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        broken = _sqlite_pragma(connection, "PRAGMA foreign_key_check")
        _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")
        if broken:
            raise RuntimeError(f"foreign keys broken after migrating: {broken[:10]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
