"""What happens to archive items after archiving (docs/disposition.md): holds for unsettled
matters, appraisal (鉴定), destruction (销毁) with its approvals, 监销 and tombstones, and
transfer (移交) with its sign-offs.

The state of an item is never written on the item (archive items are append-only): an
item is held while it has an active hold, destroyed once it has a tombstone, and
transferred once a completed transfer lists it. Each "at most one" is a unique index:
one active hold per item, one pending or executed destruction per item, one
unfinished or completed transfer per item, one tombstone per item.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from invoice_archive.db import Base, UTCDateTime, utcnow
from invoice_archive.models.archive import ArchiveItem
from invoice_archive.models.types import JSONDoc


class ArchiveHold(Base):
    """An item kept from destruction while a matter is unsettled (会计档案管理办法 第十九条:
    未结清的债权债务, 其他未了事项). Released once, when the matter is settled."""

    __tablename__ = "archive_holds"
    __table_args__ = (
        Index("uq_archive_holds_item_active", "item_id", unique=True,
              sqlite_where=text("released_at IS NULL"), postgresql_where=text("released_at IS NULL")),
        CheckConstraint("matter IN ('unsettled_debt','pending_matter')", name="matter_known"),
        CheckConstraint("length(trim(reason)) > 0", name="reason_given"),
        CheckConstraint("(released_at IS NULL) = (released_by IS NULL)", name="release_whole"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("archive_items.id"))
    matter: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(100))
    release_reason: Mapped[str | None] = mapped_column(Text)

    item: Mapped[ArchiveItem] = relationship()


class Appraisal(Base):
    """One appraisal (鉴定) of the items whose retention had ended on ``as_of``, with its
    会计档案鉴定意见书 archived as an item of its own (``opinion_item_id``). Never changed."""

    __tablename__ = "appraisals"
    __table_args__ = (UniqueConstraint("org_id", "number", name="uq_appraisals_org_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    number: Mapped[str] = mapped_column(String(40))                 # JD-2026-0001
    as_of: Mapped[dt.date] = mapped_column(Date)
    opinion: Mapped[str] = mapped_column(Text)
    participants: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    created_by: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    opinion_item_id: Mapped[int] = mapped_column(ForeignKey("archive_items.id"))

    entries: Mapped[list[AppraisalEntry]] = relationship(back_populates="appraisal", order_by="AppraisalEntry.id")
    opinion_item: Mapped[ArchiveItem] = relationship(foreign_keys=[opinion_item_id])


class AppraisalEntry(Base):
    """The appraisal's conclusion on one item: destroy (销毁), retain (继续保管, with the
    new end of its retention), or held (暂缓销毁: an active hold for an unsettled matter)."""

    __tablename__ = "appraisal_entries"
    __table_args__ = (
        UniqueConstraint("appraisal_id", "item_id", name="uq_appraisal_entries_appraisal_item"),
        CheckConstraint("conclusion IN ('destroy','retain','held')", name="conclusion_known"),
        CheckConstraint("(conclusion = 'retain') = (retain_until IS NOT NULL)", name="retain_has_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    appraisal_id: Mapped[int] = mapped_column(ForeignKey("appraisals.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("archive_items.id"), index=True)
    conclusion: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    retain_until: Mapped[dt.date | None] = mapped_column(Date)

    appraisal: Mapped[Appraisal] = relationship(back_populates="entries")
    item: Mapped[ArchiveItem] = relationship()


class DestructionStatus:
    PROPOSED = "proposed"       # 销毁清册 drawn up, awaiting approvals
    APPROVED = "approved"       # approved by two different people
    EXECUTING = "executing"     # tombstones written; content being removed from the store
    DESTROYED = "destroyed"     # content removed, 监销 recorded, the list archived
    CANCELLED = "cancelled"     # refused by an approver, or withdrawn: its items are free again


class Destruction(Base):
    """A destruction (销毁) of items an appraisal concluded may be destroyed: its
    会计档案销毁清册, two approvals by different people, the 监销 and the final list,
    archived permanently (``list_item_id``)."""

    __tablename__ = "destructions"
    __table_args__ = (
        UniqueConstraint("org_id", "number", name="uq_destructions_org_number"),
        CheckConstraint("status IN ('proposed','approved','executing','destroyed','cancelled')",
                        name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    number: Mapped[str] = mapped_column(String(40))                 # XH-2026-0001
    appraisal_id: Mapped[int] = mapped_column(ForeignKey("appraisals.id"))
    status: Mapped[str] = mapped_column(String(12), default=DestructionStatus.PROPOSED)
    created_by: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(100))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    executed_by: Mapped[str | None] = mapped_column(String(100))
    executed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    supervision: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDoc, nullable=True)   # 监销
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    list_item_id: Mapped[int | None] = mapped_column(ForeignKey("archive_items.id"), nullable=True)

    appraisal: Mapped[Appraisal] = relationship()
    entries: Mapped[list[DestructionEntry]] = relationship(back_populates="destruction",
                                                           order_by="DestructionEntry.id")
    approvals: Mapped[list[DestructionApproval]] = relationship(back_populates="destruction",
                                                                order_by="DestructionApproval.id")
    list_item: Mapped[ArchiveItem | None] = relationship(foreign_keys=[list_item_id])


class DestructionEntry(Base):
    """An item on a destruction list. While ``released_at`` is NULL the list holds the
    item: a partial unique index lets one item be on at most one live list, so two
    destructions of one item cannot both proceed."""

    __tablename__ = "destruction_entries"
    __table_args__ = (
        Index("uq_destruction_entries_item_live", "item_id", unique=True,
              sqlite_where=text("released_at IS NULL"), postgresql_where=text("released_at IS NULL")),
        UniqueConstraint("destruction_id", "item_id", name="uq_destruction_entries_destruction_item"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    destruction_id: Mapped[int] = mapped_column(ForeignKey("destructions.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("archive_items.id"))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    destruction: Mapped[Destruction] = relationship(back_populates="entries")
    item: Mapped[ArchiveItem] = relationship()


class DestructionApproval(Base):
    """One person's approval (or refusal) of a destruction list, in a capacity
    会计档案管理办法 第十八条 names (单位负责人, 档案管理机构负责人, 会计管理机构负责人 ...).
    One per person per list."""

    __tablename__ = "destruction_approvals"
    __table_args__ = (
        UniqueConstraint("destruction_id", "person_id", name="uq_destruction_approvals_destruction_person"),
        CheckConstraint("decision IN ('approve','refuse')", name="decision_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    destruction_id: Mapped[int] = mapped_column(ForeignKey("destructions.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    name: Mapped[str] = mapped_column(String(100))
    capacity: Mapped[str] = mapped_column(String(40))
    decision: Mapped[str] = mapped_column(String(8))
    opinion: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    destruction: Mapped[Destruction] = relationship(back_populates="approvals")


class ArchiveTombstone(Base):
    """What remains of a destroyed item, permanently: its 档号, digests, manifest and the
    DA/T 94 metadata it was archived with, and every stored object removed (key, SHA-256,
    size). Written before any content is removed; never changed or deleted."""

    __tablename__ = "archive_tombstones"

    item_id: Mapped[int] = mapped_column(ForeignKey("archive_items.id"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    destruction_id: Mapped[int] = mapped_column(ForeignKey("destructions.id"), index=True)
    archival_code: Mapped[str] = mapped_column(String(80))
    package_sha256: Mapped[str] = mapped_column(String(64))
    package_sm3: Mapped[str] = mapped_column(String(64))
    package_size: Mapped[int] = mapped_column(BigInteger)
    manifest: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    metadata_xml: Mapped[str] = mapped_column(Text)
    objects: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)     # [{key, sha256, size}]
    destroyed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    destroyed_by: Mapped[str] = mapped_column(String(100))


class DestroyedObject(Base):
    """A stored object a destruction removed (one row per key): the fixity audit expects
    it absent, and a download of it answers 410 naming the destruction."""

    __tablename__ = "destroyed_objects"
    __table_args__ = (UniqueConstraint("org_id", "store_key", name="uq_destroyed_objects_org_store_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    store_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    item_id: Mapped[int] = mapped_column(ForeignKey("archive_items.id"))
    destruction_id: Mapped[int] = mapped_column(ForeignKey("destructions.id"))


class TransferStatus:
    PREPARED = "prepared"       # 移交清册 drawn up, awaiting the three sign-offs
    COMPLETED = "completed"     # signed by 移交人, 接收人 and 监交人; items marked transferred, list archived
    CANCELLED = "cancelled"


#: the three who sign a 移交清册 (会计档案管理办法 第二十四条): both sides' 经办人 and the 监督人
TRANSFER_ROLES = {"handover": "移交人", "receiver": "接收人", "supervisor": "监交人"}


class Transfer(Base):
    """A transfer (移交) of a year's items to the archives unit (第十一条, 第十二条)."""

    __tablename__ = "transfers"
    __table_args__ = (
        UniqueConstraint("org_id", "number", name="uq_transfers_org_number"),
        CheckConstraint("status IN ('prepared','completed','cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    number: Mapped[str] = mapped_column(String(40))                 # YJ-2026-0001
    fiscal_year: Mapped[int] = mapped_column(Integer)
    receiver_unit: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=TransferStatus.PREPARED)
    created_by: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(100))
    list_item_id: Mapped[int | None] = mapped_column(ForeignKey("archive_items.id"), nullable=True)

    entries: Mapped[list[TransferEntry]] = relationship(back_populates="transfer", order_by="TransferEntry.id")
    signoffs: Mapped[list[TransferSignoff]] = relationship(back_populates="transfer", order_by="TransferSignoff.id")
    list_item: Mapped[ArchiveItem | None] = relationship(foreign_keys=[list_item_id])


class TransferEntry(Base):
    """An item on a transfer list; an item is on at most one live (prepared or completed)
    transfer, so it is transferred once."""

    __tablename__ = "transfer_entries"
    __table_args__ = (
        Index("uq_transfer_entries_item_live", "item_id", unique=True,
              sqlite_where=text("released_at IS NULL"), postgresql_where=text("released_at IS NULL")),
        UniqueConstraint("transfer_id", "item_id", name="uq_transfer_entries_transfer_item"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("archive_items.id"))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    transfer: Mapped[Transfer] = relationship(back_populates="entries")
    item: Mapped[ArchiveItem] = relationship()


class TransferSignoff(Base):
    """One of the three sign-offs on a 移交清册, each by a different person."""

    __tablename__ = "transfer_signoffs"
    __table_args__ = (
        UniqueConstraint("transfer_id", "role", name="uq_transfer_signoffs_transfer_role"),
        UniqueConstraint("transfer_id", "person_id", name="uq_transfer_signoffs_transfer_person"),
        CheckConstraint("role IN ('handover','receiver','supervisor')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"))
    role: Mapped[str] = mapped_column(String(12))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    name: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    transfer: Mapped[Transfer] = relationship(back_populates="signoffs")
