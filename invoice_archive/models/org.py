"""Organisations (会计主体 / 全宗), their API tokens and per-organisation counters."""
from __future__ import annotations

import datetime as dt
import enum
import unicodedata

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from invoice_archive.db import Base, UTCDateTime, utcnow


class Role(enum.StrEnum):
    FINANCE = "finance"
    APPROVER = "approver"
    ACCOUNTING_SYSTEM = "accounting_system"
    AUDITOR = "auditor"
    ARCHIVIST = "archivist"
    ADMIN = "admin"


def name_key(name: str) -> str:
    """How a person's name is compared: NFKC (full-width and half-width alike),
    spaces trimmed and collapsed, case folded. ``Finance-A001``, ``finance-A001 ``
    and ``ｆｉｎａｎｃｅ-A001`` are one person."""
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tax_id: Mapped[str] = mapped_column(String(20), unique=True)
    fonds_code: Mapped[str] = mapped_column(String(20), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="org")


class Person(Base):
    """Someone who acts in an organisation: a person (经办, 审核, 审批, 审计 ...) or
    a system account (the accounting system's adapter). Segregation of duties
    compares people, never the names written on tokens."""

    __tablename__ = "people"
    __table_args__ = (
        UniqueConstraint("org_id", "name_key", name="uq_people_org_id_name_key"),
        CheckConstraint("kind IN ('person','system')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="person")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebSession(Base):
    """A signed-in session on the auditors' pages: the cookie holds a random id
    (only its SHA-256 is stored), never the API token. It ends at expiry, at
    sign-out, or when its token is revoked or expires."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; the token itself is shown once.
    It belongs to a person and acts in one role; it may expire and be revoked."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(
            "role IN ('finance','approver','accounting_system','auditor','archivist','admin')",
            name="role_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    org: Mapped[Organisation] = relationship(back_populates="tokens")
    person: Mapped[Person] = relationship()


class Sequence(Base):
    """Gap-free counters per organisation (claim numbers, archive item numbers).

    A counter row is locked for update by the transaction that takes a number,
    so numbers are consecutive even under concurrent requests, and a rolled
    back transaction gives its number back.
    """

    __tablename__ = "sequences"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(120))
    value: Mapped[int] = mapped_column(Integer, default=0)
