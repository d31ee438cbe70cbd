"""Reading one organisation's records: by id within the organisation, or not at
all, and stored bytes only once they match the digest recorded for them.

Every "get by id" of a service and every route factory goes through
:func:`scoped_get`, so tenant scoping is written once.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_archive.digests import sha256_hex
from invoice_archive.errors import Gone, NotFound, StoreUnavailable
from invoice_archive.models import (
    ApiToken, ArchiveItem, ArchiveTombstone, Claim, DestroyedObject, Destruction, Invoice, Voucher,
)

_CHINA = dt.timezone(dt.timedelta(hours=8))

T = TypeVar("T")

# model -> (what a clerk calls it, the 404's code)
_NAMES: dict[type, tuple[str, str]] = {
    Invoice: ("发票", "invoice_not_found"),
    Claim: ("报销单", "claim_not_found"),
    Voucher: ("凭证", "voucher_not_found"),
    ArchiveItem: ("档案", "archive_item_not_found"),
    ApiToken: ("令牌", "token_not_found"),
}

MAX_ID = 2**31 - 1   # ids are INTEGER columns: anything larger cannot exist


def not_found(model: type, ident: Any) -> NotFound:
    label, code = _NAMES[model]
    return NotFound(f"{label} {ident} 不存在", code=code)


def scoped_get(db: Session, model: type[T], ident: Any, org_id: int, *, for_update: bool = False) -> T:
    """The row of ``model`` with id ``ident`` in organisation ``org_id``, or a 404.
    ``for_update`` locks the row and reloads it (the identity map may hold a copy
    read before the lock was taken)."""
    try:
        key = int(ident)
    except (TypeError, ValueError):
        raise not_found(model, ident) from None
    if not 0 < key <= MAX_ID:
        raise not_found(model, ident)
    stmt = select(model).where(model.id == key, model.org_id == org_id)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = db.execute(stmt).scalar_one_or_none()
    if row is None:
        raise not_found(model, ident)
    return row


def scoped_named(db: Session, model: type[T], ident: Any, org_id: int, label: str, code: str, *,
                 lock: bool = False) -> T:
    """As :func:`scoped_get`, for a model not in the table above: the 404 says ``label``
    and carries ``code``."""
    try:
        key = int(ident)
    except (TypeError, ValueError):
        key = 0
    row = None
    if 0 < key <= MAX_ID:
        stmt = select(model).where(model.id == key, model.org_id == org_id)  # type: ignore[attr-defined]
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        row = db.execute(stmt).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{label} {ident} 不存在", code=code)
    return row


def ensure_not_destroyed(db: Session, item: ArchiveItem) -> None:
    """410 for an item destroyed after appraisal (docs/disposition.md): its metadata and
    digests remain (the tombstone), its content does not."""
    tomb = db.get(ArchiveTombstone, item.id)
    if tomb is not None:
        number = db.get(Destruction, tomb.destruction_id).number
        raise Gone(f"档案 {item.archival_code} 已于 {tomb.destroyed_at.astimezone(_CHINA):%Y-%m-%d} 按销毁清册 {number} "
                   f"销毁，只保留其元数据和校验值。", code="archive_item_destroyed",
                   detail={"archival_code": item.archival_code, "destruction": number})


def ensure_original_kept(db: Session, org_id: int, key: str, what: str) -> None:
    """410 for a stored original a destruction removed (the invoice row and its digests remain)."""
    gone = db.execute(select(DestroyedObject).where(DestroyedObject.org_id == org_id,
                                                    DestroyedObject.store_key == key)).scalar_one_or_none()
    if gone is not None:
        number = db.get(Destruction, gone.destruction_id).number
        raise Gone(f"{what}的原件已随档案按销毁清册 {number} 销毁，只保留其元数据和校验值。",
                   code="original_destroyed", detail={"destruction": number})


def original_bytes(store: Any, inv: Invoice, *, read: Any = None) -> bytes:
    """The invoice's original as received: present, and still its intake SHA-256.
    ``read(key)`` fetches it where the caller has it on its way (read ahead)."""
    try:
        data = (read or store.get)(inv.storage_key)
    except KeyError:
        data = None
    if data is None:
        raise StoreUnavailable(f"发票 {inv.number or inv.business_key} 的原件在存储中缺失，请联系档案管理员。",
                               code="original_missing", status=503)
    if sha256_hex(data) != inv.sha256:
        raise StoreUnavailable(f"发票 {inv.number or inv.business_key} 的原件校验值与接收时不符，可能已被篡改。",
                               code="original_fixity_failed", status=503)
    return data


def package_bytes(store: Any, item: ArchiveItem) -> bytes:
    """The archive item's package: present, and still the SHA-256 it was archived with."""
    try:
        data = store.get(item.package_key)
    except KeyError:
        raise StoreUnavailable(f"档案 {item.archival_code} 的归档包在存储中缺失，请联系档案管理员。",
                               code="package_missing", status=503) from None
    if sha256_hex(data) != item.package_sha256:
        raise StoreUnavailable(f"档案 {item.archival_code} 的归档包校验值不符，可能已被篡改，请联系档案管理员。",
                               code="package_fixity_failed", status=503)
    return data


__all__ = ["MAX_ID", "ensure_not_destroyed", "ensure_original_kept", "not_found", "original_bytes", "package_bytes", "scoped_get", "scoped_named"]
