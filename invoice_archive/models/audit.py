"""The append-only audit event log: who did what, when, on which object.

Database triggers refuse UPDATE and DELETE on this table (see the migrations).
The log is tamper-evident: each organisation's events form a hash chain
(invoice_archive.archive.chain), numbered by chain_seq, whose head is kept in
audit_chain_heads; `invoice-archive audit-verify` checks it.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from invoice_archive.db import Base, UTCDateTime, utcnow
from invoice_archive.models.types import JSONDoc


class AuditEvent(Base):
    """One event. Writers append it with the chain fields empty; the sequencer
    (services/audit.py) fills chain_seq, prev_hash and hash once, after commit."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),
                      UniqueConstraint("org_id", "chain_seq", name="uq_audit_events_org_chain_seq"),
                      Index("ix_audit_events_unlinked", "org_id", "id",
                            postgresql_where=text("chain_seq IS NULL"), sqlite_where=text("chain_seq IS NULL")))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    chain_seq: Mapped[int | None] = mapped_column(Integer)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditChainHead(Base):
    """The newest link of an organisation's audit chain (locked by the sequencer while it links)."""

    __tablename__ = "audit_chain_heads"

    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditCheckpoint(Base):
    """A signed statement of an organisation's chain head: "N events, head H,
    at T" (archive/chain.py ``checkpoint_bytes``), signed with the bundle key.
    Append-only (database triggers)."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("org_id", "seq", name="uq_audit_checkpoints_org_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    key_id: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(Text)
