"""Fixtures for the archive tests (the SeaweedFS server itself is in tests/conftest.py)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest



@pytest.fixture
def s3_prefix() -> str:
    """A fresh key prefix per test, so tests never see each other's objects."""
    return f"t-{uuid.uuid4().hex[:16]}"
