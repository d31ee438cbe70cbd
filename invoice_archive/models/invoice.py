"""Invoices (原始凭证): one row per business key per organisation."""
from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from invoice_archive.db import Base, UTCDateTime, utcnow
from invoice_archive.models.types import JSONDoc, Money


class InvoiceStatus(enum.StrEnum):
    RECEIVED = "received"        # 已接收: read and verified, not on a claim
    CLAIMED = "claimed"          # 已报销: on an active claim
    POSTED = "posted"            # 已入账: linked to a posted voucher
    ARCHIVED = "archived"        # 已归档
    REVERSED = "reversed"        # 已冲销: its voucher was reversed


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("org_id", "business_key", name="uq_invoices_org_business_key"),
        CheckConstraint("status IN ('received','claimed','posted','archived','reversed')", name="status_known"),
        Index("ix_invoices_org_issue_date", "org_id", "issue_date"),
        Index("ix_invoices_number", "number"),
        Index("ix_invoices_seller_tax_id", "seller_tax_id"),
        # auditors' searches (migration 0005)
        Index("ix_invoices_org_total", "org_id", "total"),
        Index("ix_invoices_org_status_issue_date", "org_id", "status", "issue_date"),
        # an accounting period's invoices newest first, counted and filtered by status off
        # the index alone on PostgreSQL (status is an INCLUDE column there; migration 0007)
        Index("ix_invoices_org_posted_period", "org_id", "posted_fiscal_year", "posted_period", "issue_date", "id",
              postgresql_include=["status"]),
        CheckConstraint("(posted_fiscal_year IS NULL) = (posted_period IS NULL)", name="posted_period_whole"),
        # seller-name contains: pg_trgm GIN on PostgreSQL, a plain b-tree elsewhere
        Index("ix_invoices_seller_name_trgm", "seller_name",
              postgresql_using="gin", postgresql_ops={"seller_name": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    business_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    source_format: Mapped[str] = mapped_column(String(8))
    code: Mapped[str | None] = mapped_column(String(12))
    number: Mapped[str | None] = mapped_column(String(20))
    check_code: Mapped[str | None] = mapped_column(String(32))
    issue_date: Mapped[dt.date | None] = mapped_column(Date)
    seller_name: Mapped[str | None] = mapped_column(String(200))
    seller_tax_id: Mapped[str | None] = mapped_column(String(20))
    buyer_name: Mapped[str | None] = mapped_column(String(200))
    buyer_tax_id: Mapped[str | None] = mapped_column(String(20))
    amount_excl_tax: Mapped[Decimal | None] = mapped_column(Money)
    tax: Mapped[Decimal | None] = mapped_column(Money)
    total: Mapped[Decimal | None] = mapped_column(Money)
    is_red: Mapped[bool] = mapped_column(Boolean, default=False)
    original_number: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default=InvoiceStatus.RECEIVED)
    # 入账期间: the accounting period of the voucher that posted this invoice, copied
    # from it in the same flush that links them (vouchers never change period); it
    # lets an auditor's "this period's invoices" search read one index instead of
    # joining every posted invoice to its voucher.
    posted_fiscal_year: Mapped[int | None] = mapped_column(Integer)
    posted_period: Mapped[int | None] = mapped_column(Integer)

    # the original file, byte for byte as received
    filename: Mapped[str | None] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sm3: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))

    document: Mapped[dict[str, Any]] = mapped_column(JSONDoc)          # everything the reader found
    verdict: Mapped[str] = mapped_column(String(32))                   # signature verdict
    verification: Mapped[dict[str, Any]] = mapped_column(JSONDoc)      # the per-check report
    rules: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)   # business rules report
    tax_status: Mapped[str | None] = mapped_column(String(24))         # latest tax-platform answer
    tax_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_by: Mapped[str] = mapped_column(String(100))
