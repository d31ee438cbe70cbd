"""Choosing an archive store from its URL (``archive.store_url``)::

    file:///var/lib/invoice-archive/store              -> FileSystemStore
    s3://bucket/prefix?endpoint=http://127.0.0.1:8333  -> S3Store

S3 credentials come from the settings' S3 section (``archive.s3.access_key_id``,
``archive.s3.secret_access_key``, else ``ARCHIVE_S3_*`` environment variables: see
:class:`invoice_archive.settings.S3Settings`), then boto3's own chain (``AWS_*``,
profiles, roles); never from the URL.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from invoice_archive.archive.store import FileSystemStore

if TYPE_CHECKING:
    from invoice_archive.settings import S3Settings


def store_from_url(url: str, s3: S3Settings | None = None) -> Any:
    """An IArchiveStore for ``url``; ValueError for a scheme no store handles."""
    scheme = urlparse(url).scheme
    if scheme == "file":
        return FileSystemStore.from_url(url)
    if scheme == "s3":
        from invoice_archive.archive.s3store import S3Store

        return S3Store.from_url(url, s3)
    raise ValueError(f"unsupported archive store URL: {url} (use file:// or s3://)")
