"""Choosing an archive store from its URL (``archive.store_url``)::

    file:///var/lib/invoice-archive/store              -> FileSystemStore
    s3://bucket/prefix?endpoint=http://127.0.0.1:8333  -> S3Store

S3 credentials come from ``settings`` (``archive.s3.access_key_id``,
``archive.s3.secret_access_key``), then ``ARCHIVE_S3_*`` environment variables,
then boto3's own chain (``AWS_*``, profiles, roles); never from the URL.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from invoice_archive.archive.store import FileSystemStore


def store_from_url(url: str, settings: Mapping[str, Any] | None = None) -> Any:
    """An IArchiveStore for ``url``; ValueError for a scheme no store handles."""
    scheme = urlparse(url).scheme
    if scheme == "file":
        return FileSystemStore.from_url(url)
    if scheme == "s3":
        from invoice_archive.archive.s3store import S3Store, credentials_from_env

        merged = {**credentials_from_env(), **dict(settings or {})}
        return S3Store.from_url(url, merged)
    raise ValueError(f"unsupported archive store URL: {url} (use file:// or s3://)")
