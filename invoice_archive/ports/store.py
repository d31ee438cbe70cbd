"""The archive store port: write-once object storage.

Implementations: ``invoice_archive/archive/store.py`` (filesystem) and
``invoice_archive/archive/s3store.py`` (S3-compatible), chosen by URL.
"""
from __future__ import annotations

from typing import Iterable

from zope.interface import Attribute, Interface


class IArchiveStore(Interface):
    """Write-once object storage for original files and archive packages."""

    url = Attribute("Where the store lives (for logs and metadata).")

    def put(key: str, data: bytes) -> bool:  # noqa: N805
        """Store data under key. Never overwrites: storing the same bytes again is a
        no-op (returns False); different bytes under an existing key raise
        ObjectExists. Returns True when the object was created by this call."""

    def get(key: str) -> bytes:  # noqa: N805
        """The object's bytes; KeyError when absent."""

    def exists(key: str) -> bool:  # noqa: N805
        """Whether the object exists."""

    def delete_created(key: str) -> None:  # noqa: N805
        """Remove an object this process just created, when its transaction aborted.
        Not for use on archived objects."""

    def destroy(key: str, sha256: str) -> bool:  # noqa: N805
        """The one deliberate deletion of an archived object, used only by the
        destruction (销毁) of an appraised item after its tombstone is committed
        (docs/disposition.md): removes the object if its bytes still hash to
        ``sha256`` (True), returns False when it is already gone, and raises
        DestructionRefused, removing nothing, when the bytes differ."""

    def keys(prefix: str = "") -> Iterable[str]:  # noqa: N805
        """Every key under prefix, in a stable order."""


__all__ = ["IArchiveStore"]
