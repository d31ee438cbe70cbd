"""Compliance records: tax-platform checks (查验) and alerts that need a person."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from invoice_archive.db import Base, UTCDateTime, utcnow
from invoice_archive.models.types import JSONDoc


class TaxCheck(Base):
    """One answer of the tax platform about one invoice, kept with its time and
    source (the platform allows about five checks per invoice per day)."""

    __tablename__ = "tax_checks"
    __table_args__ = (Index("ix_tax_checks_invoice_checked", "invoice_id", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(24))
    discrepancies: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    result: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    requested_by: Mapped[str] = mapped_column(String(100))


class Alert(Base):
    """Something a person must act on, e.g. a red invoice arriving for a blue one
    that was already reimbursed or posted (reversal required)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_claim", "claim_id"), Index("ix_alerts_invoice", "invoice_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(48))
    message: Mapped[str] = mapped_column(Text)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))       # the affected (blue) invoice
    cause_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id")) # the red invoice
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"))
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
