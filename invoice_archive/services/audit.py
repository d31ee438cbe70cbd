"""Writing the audit event log, as a hash chain per organisation.

Each event gets the next number of its organisation's chain and the SHA-256 of
the previous event's hash with its own canonical form (invoice_archive.archive
.chain). The chain head is locked for update by the writing transaction, so
events are linked in commit order without gaps; the events themselves can
never be updated or deleted (database triggers).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from invoice_archive.archive.chain import GENESIS, event_hash
from invoice_archive.db import utcnow
from invoice_archive.models import AuditChainHead, AuditEvent


def _plain(value: Any) -> Any:
    """Detail values as the chain's canonical JSON accepts them (no floats, no Decimal)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return value


def chain_fields(event: AuditEvent) -> dict[str, Any]:
    """The fields the chain covers; the chain number stands for the event id."""
    return {"id": event.chain_seq, "at": event.at, "org_id": event.org_id, "actor": event.actor, "role": event.role,
            "action": event.action, "object_type": event.object_type, "object_id": event.object_id,
            "detail": event.detail}


def _head(db: Session, org_id: int) -> AuditChainHead:
    """The organisation's chain head, locked until this transaction ends (cached per session)."""
    heads = db.info.setdefault("audit_chain_heads", {})
    head = heads.get(org_id)
    if head is not None:
        return head
    for _ in range(2):
        head = db.execute(select(AuditChainHead).where(AuditChainHead.org_id == org_id).with_for_update()
                          ).scalar_one_or_none()
        if head is not None:
            heads[org_id] = head
            return head
        try:
            with db.begin_nested():
                db.add(AuditChainHead(org_id=org_id, seq=0, hash=GENESIS))
        except IntegrityError:
            pass   # created by a concurrent transaction: lock it on the next pass
    raise RuntimeError("audit chain head could not be locked")


class AuditLog:
    def __init__(self, db: Session, *, org_id: int | None, actor: str, role: str) -> None:
        self.db = db
        self.org_id = org_id
        self.actor = actor
        self.role = role

    @classmethod
    def for_request(cls, request: Any) -> AuditLog:
        ident = request.identity
        return cls(request.db, org_id=ident.org_id, actor=ident.name, role=ident.role)

    def events(self, *, object_type: str | None = None, object_id: str | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[AuditEvent], int]:
        """The organisation's audit events in chain order, optionally of one object."""
        stmt = select(AuditEvent).where(AuditEvent.org_id == self.org_id)
        if object_type:
            stmt = stmt.where(AuditEvent.object_type == object_type)
        if object_id:
            stmt = stmt.where(AuditEvent.object_id == object_id)
        total = self.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self.db.execute(stmt.order_by(AuditEvent.id).limit(limit).offset(offset)).scalars()
        return list(rows), total

    def record(self, action: str, object_type: str, object_id: Any, **detail: Any) -> AuditEvent:
        event = AuditEvent(at=utcnow(), org_id=self.org_id, actor=self.actor, role=self.role, action=action,
                           object_type=object_type, object_id=str(object_id), detail=_plain(detail))
        if self.org_id is not None:
            head = _head(self.db, self.org_id)
            event.chain_seq = head.seq + 1
            event.prev_hash = head.hash
            event.hash = event_hash(head.hash, chain_fields(event))
            head.seq = event.chain_seq
            head.hash = event.hash
            head.updated_at = event.at
        self.db.add(event)
        return event
