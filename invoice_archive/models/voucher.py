"""Accounting vouchers (记账凭证) as posted by the accounting system, and their links to invoices."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from invoice_archive.db import Base, UTCDateTime, utcnow
from invoice_archive.models.claim import Claim
from invoice_archive.models.types import Money


class Voucher(Base):
    """A posted voucher. Posted vouchers are immutable: database triggers refuse
    UPDATE and DELETE (see the migration); a correction is a reversal voucher."""

    __tablename__ = "vouchers"
    __table_args__ = (
        UniqueConstraint("org_id", "fiscal_year", "voucher_word", "voucher_number", name="uq_vouchers_org_number"),
        UniqueConstraint("org_id", "external_ref", name="uq_vouchers_org_external_ref"),
        # one posting voucher per claim; its reversal (红字冲销) points back at it
        Index("uq_vouchers_claim_posting", "claim_id", unique=True,
              sqlite_where=text("reverses_id IS NULL"), postgresql_where=text("reverses_id IS NULL")),
        UniqueConstraint("reverses_id", name="uq_vouchers_reverses_id"),
        CheckConstraint("debit_total = credit_total", name="balanced"),
        CheckConstraint("(red_flag AND debit_total < 0 AND reverses_id IS NOT NULL) "
                        "OR (NOT red_flag AND debit_total > 0 AND reverses_id IS NULL)", name="red_sign"),
        CheckConstraint("period BETWEEN 1 AND 12", name="period_valid"),
        Index("ix_vouchers_org_period", "org_id", "fiscal_year", "period"),
        # auditors' searches (migrations 0005, 0006): a period's vouchers newest first
        # are read off this index a page at a time
        Index("ix_vouchers_org_period_date", "org_id", "fiscal_year", "period", "date", "id"),
        Index("ix_vouchers_org_voucher_number", "org_id", "voucher_number"),
        Index("ix_vouchers_org_debit_total", "org_id", "debit_total"),
        Index("ix_vouchers_org_date", "org_id", "date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"))
    voucher_word: Mapped[str] = mapped_column(String(8))
    voucher_number: Mapped[str] = mapped_column(String(32))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    period: Mapped[int] = mapped_column(Integer)
    date: Mapped[dt.date] = mapped_column(Date)
    external_ref: Mapped[str] = mapped_column(String(64))
    prepared_by: Mapped[str] = mapped_column(String(100))
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    posted_by: Mapped[str | None] = mapped_column(String(100))
    debit_total: Mapped[Decimal] = mapped_column(Money)
    credit_total: Mapped[Decimal] = mapped_column(Money)
    attachment_count: Mapped[int] = mapped_column(Integer)
    source_system: Mapped[str] = mapped_column(String(64))
    system_id: Mapped[str | None] = mapped_column(String(64))        # the accounting system's own id
    red_flag: Mapped[bool] = mapped_column(Boolean, default=False)   # 红字冲销凭证
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"))
    reason: Mapped[str | None] = mapped_column(Text)                 # why it was reversed (on the red voucher)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reported_by: Mapped[str] = mapped_column(String(100))

    claim: Mapped[Claim] = relationship()
    reverses: Mapped[Voucher | None] = relationship(remote_side="Voucher.id")
    entries: Mapped[list[VoucherEntry]] = relationship(
        back_populates="voucher", order_by="VoucherEntry.line_no"
    )
    links: Mapped[list[InvoiceVoucherLink]] = relationship(back_populates="voucher")

    @property
    def display_number(self) -> str:
        return f"{self.voucher_word}-{self.voucher_number}"


class VoucherEntry(Base):
    __tablename__ = "voucher_entries"
    __table_args__ = (
        UniqueConstraint("voucher_id", "line_no"),
        CheckConstraint("(debit = 0) <> (credit = 0)", name="one_side"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)
    account_code: Mapped[str] = mapped_column(String(40))
    account_name: Mapped[str | None] = mapped_column(String(100))
    debit: Mapped[Decimal] = mapped_column(Money)
    credit: Mapped[Decimal] = mapped_column(Money)

    voucher: Mapped[Voucher] = relationship(back_populates="entries")


class InvoiceVoucherLink(Base):
    """An invoice posted on a voucher. One invoice is posted once (重复入账 prevented by the database)."""

    __tablename__ = "invoice_voucher_links"
    __table_args__ = (
        UniqueConstraint("invoice_id", name="uq_invoice_voucher_links_invoice_id"),
        # a voucher's invoices read off the index alone (auditors' searches, migration 0006)
        Index("ix_invoice_voucher_links_voucher_invoice", "voucher_id", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"), index=True)
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    voucher: Mapped[Voucher] = relationship(back_populates="links")
