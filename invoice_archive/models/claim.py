"""Reimbursement claims (报销单), their invoices and their sign-off trail."""
from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from invoice_archive.db import Base, UTCDateTime, utcnow
from invoice_archive.models.invoice import Invoice
from invoice_archive.models.types import Money


class ClaimStatus(enum.StrEnum):
    DRAFT = "draft"            # 草稿
    SUBMITTED = "submitted"    # 已提交 (经办)
    REVIEWED = "reviewed"      # 已审核 (审核)
    APPROVED = "approved"      # 已审批 (审批)
    POSTING = "posting"        # 入账中: handed to the accounting system through the outbox
    POSTED = "posted"          # 已入账
    ARCHIVED = "archived"      # 已归档
    REFUSED = "refused"        # 已退回
    REVERSED = "reversed"      # 已冲销: its voucher was reversed by a red voucher


CLAIM_STATUSES = tuple(s.value for s in ClaimStatus)


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("org_id", "number", name="uq_claims_org_number"),
        CheckConstraint(
            "status IN ('draft','submitted','reviewed','approved','posting','posted','archived','refused','reversed')",
            name="status_known",
        ),
        CheckConstraint("total >= 0", name="total_not_negative"),
        Index("ix_claims_org_status", "org_id", "status"),   # auditors' searches (migration 0005)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    number: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    expense_category: Mapped[str] = mapped_column(String(40))
    claimant: Mapped[str] = mapped_column(String(100))
    claimant_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)   # None: system
    status: Mapped[str] = mapped_column(String(16), default=ClaimStatus.DRAFT)
    total: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    posting_error: Mapped[str | None] = mapped_column(Text)      # the accounting system's refusal, verbatim
    reversal_required_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)   # a red invoice arrived

    lines: Mapped[list[ClaimInvoice]] = relationship(
        back_populates="claim", order_by="ClaimInvoice.position"
    )
    signoffs: Mapped[list[ClaimSignoff]] = relationship(
        back_populates="claim", order_by="ClaimSignoff.id"
    )


class ClaimInvoice(Base):
    """An invoice on a claim. While released_at is NULL the claim holds the invoice:
    a partial unique index lets one invoice be held by at most one claim."""

    __tablename__ = "claim_invoices"
    __table_args__ = (
        UniqueConstraint("claim_id", "invoice_id"),
        Index(
            "uq_claim_invoices_active_invoice",
            "invoice_id",
            unique=True,
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    position: Mapped[int]
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    claim: Mapped[Claim] = relationship(back_populates="lines")
    invoice: Mapped[Invoice] = relationship()


class ClaimSignoff(Base):
    """One step of the sign-off trail: 经办 (submit), 审核 (review), 审批 (approve), 退回 (refuse)."""

    __tablename__ = "claim_signoffs"
    __table_args__ = (
        CheckConstraint("step IN ('经办','审核','审批','退回')", name="step_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    step: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    role: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text)

    claim: Mapped[Claim] = relationship(back_populates="signoffs")
