"""The outbox: side effects to other systems, written in the same transaction as
the change that causes them, and sent after commit by `invoice-archive worker`.

A message is identified by its dedupe key (e.g. the voucher's external
reference), so a retried request never enqueues the same effect twice, and the
worker's handlers are idempotent on the receiving side.
"""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from invoice_archive.db import Base, UTCDateTime, utcnow
from invoice_archive.models.types import JSONDoc


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"    # to be sent (again) at available_at
    DONE = "done"          # delivered; result holds the answer
    FAILED = "failed"      # refused for good (needs a person); last_error says why


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_messages_dedupe_key"),
        CheckConstraint("status IN ('pending','done','failed')", name="status_known"),
        Index("ix_outbox_messages_due", "status", "available_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    topic: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_outcome: Mapped[str | None] = mapped_column(String(16))   # posted/rejected/retryable/unknown
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncState(Base):
    """How far `invoice-archive sync` has read an accounting system's changes."""

    __tablename__ = "sync_states"
    __table_args__ = (UniqueConstraint("system", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    watermark: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
