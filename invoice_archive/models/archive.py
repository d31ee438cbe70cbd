"""Archive items (件): one posted voucher with its claim and original invoices (class PZ), or one
ledger, report or other accounting record (classes ZB, BG, QT; docs/records.md), packaged."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from invoice_archive.db import Base, UTCDateTime, utcnow
from invoice_archive.models.types import JSONDoc
from invoice_archive.models.voucher import Voucher


class ArchiveItem(Base):
    __tablename__ = "archive_items"
    __table_args__ = (
        # never archived twice: one item per voucher unless an archivist withdrew it
        Index("uq_archive_items_voucher_current", "voucher_id", unique=True,
              sqlite_where=text("withdrawn_at IS NULL"), postgresql_where=text("withdrawn_at IS NULL")),
        UniqueConstraint("org_id", "archival_code", name="uq_archive_items_org_archival_code"),
        UniqueConstraint("org_id", "class_code", "volume_no", "item_no", name="uq_archive_items_org_class_item"),
        # a record other than a voucher is archived once too: one current item per record key
        Index("uq_archive_items_record_current", "org_id", "record_key", unique=True,
              sqlite_where=text("withdrawn_at IS NULL"), postgresql_where=text("withdrawn_at IS NULL")),
        # a voucher's item names its voucher; any other names its record (kind and key)
        CheckConstraint("(category = 'voucher' AND voucher_id IS NOT NULL AND record_key IS NULL) OR "
                        "(category <> 'voucher' AND voucher_id IS NULL AND record_key IS NOT NULL "
                        "AND record_kind IS NOT NULL)", name="voucher_or_record"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"), nullable=True)
    # 会计档案管理办法 附表1 category (archive/retention.py): voucher for class PZ; for the other
    # classes the record's kind (archive/records.py KINDS), its key (kind:文号, unique among current
    # items), 文号 and 题名, and the intake row of a bank statement or receipt
    category: Mapped[str] = mapped_column(String(32), default="voucher", server_default="voucher")
    record_kind: Mapped[str | None] = mapped_column(String(32))
    record_key: Mapped[str | None] = mapped_column(String(120))
    document_number: Mapped[str | None] = mapped_column(String(80))
    title: Mapped[str | None] = mapped_column(String(300))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), nullable=True)
    archival_code: Mapped[str] = mapped_column(String(80))      # 档号
    fonds_code: Mapped[str] = mapped_column(String(20))         # 全宗号
    class_code: Mapped[str] = mapped_column(String(40))         # 类别号, e.g. PZ·2024·D30
    volume_no: Mapped[int] = mapped_column(Integer)             # 案卷号
    item_no: Mapped[int] = mapped_column(Integer)               # 件号
    fiscal_year: Mapped[int] = mapped_column(Integer)
    period: Mapped[int] = mapped_column(Integer)
    retention: Mapped[str] = mapped_column(String(8))           # D30 / Y (永久)
    retention_until: Mapped[dt.date | None] = mapped_column(Date)
    package_key: Mapped[str] = mapped_column(String(255))
    package_sha256: Mapped[str] = mapped_column(String(64))
    package_sm3: Mapped[str] = mapped_column(String(64))
    package_size: Mapped[int] = mapped_column(BigInteger)
    manifest: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    archived_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_by: Mapped[str] = mapped_column(String(100))
    checks: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)   # four-property report at archiving
    # the archived mark removed by an archivist (for manual re-archiving); the only
    # columns that may ever change, once, from NULL (enforced by triggers)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(100))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)

    voucher: Mapped[Voucher | None] = relationship()

    @property
    def is_voucher(self) -> bool:
        return self.voucher_id is not None


class ArchiveCheckWaiver(Base):
    """An archivist's waiver of one DA/T 70 check item that could not be performed
    for one voucher's item (docs/archive-waivers.md): who, when and why. Without one,
    a check not performed blocks the item's registration; with one, the waiver is
    written into the item's four-property report. Never changed or deleted (the
    migration's triggers refuse UPDATE and DELETE)."""

    __tablename__ = "archive_check_waivers"
    __table_args__ = (
        UniqueConstraint("voucher_id", "check_code", name="uq_archive_check_waivers_voucher_check"),
        CheckConstraint("check_code LIKE 'GD-%'", name="check_code_gd"),
        CheckConstraint("length(trim(reason)) > 0", name="reason_given"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"))
    check_code: Mapped[str] = mapped_column(String(16))        # GD-4-1
    reason: Mapped[str] = mapped_column(Text)
    waived_by: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    waived_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    voucher: Mapped[Voucher] = relationship()
