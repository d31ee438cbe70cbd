"""Writing the audit event log, and linking it into a hash chain per organisation.

Writers only append (:meth:`AuditLog.record`): an event is inserted with its
chain fields empty, and no writer waits for another. The :class:`AuditSequencer`
then links committed events, in the order they became visible, into their
organisation's chain. Each event gets the next number of the chain and the
SHA-256 of the previous event's hash with its own canonical form
(invoice_archive.archive.chain). It also signs checkpoints of the chain head
with the bundle key, so an auditor can check offline that an event is included
(docs/architecture.md, "The audit log").

Only the sequencer holds the chain head's lock, and only while it links. It
runs after each request that recorded events, in the worker loop, and before
anything reads the chain (audit-verify, bundles, the events API). The events'
own fields can never be updated or deleted (database triggers). The chain fields
can be filled once, from empty.
"""
from __future__ import annotations

import base64
import datetime as dt
import os
import threading
import time
from decimal import Decimal
from typing import Any

import logging

from sqlalchemy import bindparam as bindparam_
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from invoice_archive.archive.chain import GENESIS, canonical_time, checkpoint_bytes, event_hash
from invoice_archive.errors import DomainError, NotFound
from invoice_archive.db import execute_dml, utcnow
from invoice_archive.models import AuditChainHead, AuditCheckpoint, AuditEvent

log = logging.getLogger(__name__)

# Where the application keeps the bundle key (loaded at start-up by services.bundles).
SIGNER_KEY = "bundle.signer"


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


def _head(db: Session, org_id: int, *, wait: bool) -> AuditChainHead | None:
    """The organisation's chain head, locked until this transaction ends; None
    when another sequencer holds it and ``wait`` is false (it links for us)."""
    for _ in range(2):
        stmt = select(AuditChainHead).where(AuditChainHead.org_id == org_id).with_for_update(skip_locked=not wait)
        head = db.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()
        if head is not None:
            return head
        exists = db.execute(select(AuditChainHead.org_id).where(AuditChainHead.org_id == org_id)).first()
        if exists is not None:
            return None      # locked by another sequencer (SKIP LOCKED hid it)
        try:
            with db.begin_nested():
                db.add(AuditChainHead(org_id=org_id, seq=0, hash=GENESIS))
        except IntegrityError:
            pass   # created by a concurrent transaction: lock it on the next pass
    raise RuntimeError("audit chain head could not be locked")


class AuditSequencer:
    """Links committed, unlinked audit events into their organisation's chain.

    ``signer`` (the bundle key) signs a checkpoint of the head after a pass
    that linked events, at most every ``checkpoint_seconds`` unless asked for.
    """

    def __init__(self, db: Session, *, signer: Any = None, checkpoint_seconds: float = 10.0,
                 batch: int = 5000) -> None:
        self.skipped = False     # an organisation was skipped: another sequencer holds its chain
        self.db = db
        self.signer = signer
        self.checkpoint_seconds = checkpoint_seconds
        self.batch = batch

    def link(self, org_id: int | None = None, *, wait: bool = False, checkpoint: bool = False) -> int:
        """Link pending events (of one organisation, or of all); the number linked.
        Without ``wait`` an organisation another sequencer is linking is skipped."""
        if org_id is None:
            orgs = list(self.db.execute(select(AuditEvent.org_id).where(
                AuditEvent.chain_seq.is_(None), AuditEvent.org_id.is_not(None)).distinct()).scalars())
        else:
            orgs = [org_id]
        return sum(self._link_org(org, wait=wait, checkpoint=checkpoint) for org in orgs)

    def _link_org(self, org_id: int, *, wait: bool, checkpoint: bool) -> int:
        db = self.db
        head = _head(db, org_id, wait=wait)
        if head is None:
            self.skipped = True
            return 0
        linked = 0
        while True:
            pending = list(db.execute(
                select(AuditEvent).where(AuditEvent.org_id == org_id, AuditEvent.chain_seq.is_(None))
                .order_by(AuditEvent.id).limit(self.batch)).scalars())
            if not pending:
                break
            rows = []
            for event in pending:
                seq, prev = head.seq + 1, head.hash
                fields = {**chain_fields(event), "id": seq}
                digest = event_hash(prev, fields)
                rows.append({"e_id": event.id, "e_seq": seq, "e_prev": prev, "e_hash": digest})
                head.seq, head.hash, head.updated_at = seq, digest, utcnow()
            table = AuditEvent.__table__
            db.execute(update(table).where(table.c.id == bindparam_("e_id"), table.c.chain_seq.is_(None))
                       .values(chain_seq=bindparam_("e_seq"), prev_hash=bindparam_("e_prev"),
                               hash=bindparam_("e_hash")), rows)
            for event in pending:   # the loaded objects reflect what was written
                db.expire(event)
            linked += len(pending)
            if len(pending) < self.batch:
                break
        db.flush()
        if self.signer is not None and head.seq:
            self._checkpoint(head, force=checkpoint)
        return linked

    def _checkpoint(self, head: AuditChainHead, *, force: bool) -> AuditCheckpoint | None:
        last = self.latest_checkpoint(head.org_id)
        if last is not None and last.seq == head.seq:
            return last
        now = utcnow()
        if not force and last is not None and (now - last.at).total_seconds() < self.checkpoint_seconds:
            return None
        cp = AuditCheckpoint(org_id=head.org_id, seq=head.seq, hash=head.hash, at=now,
                             key_id=self.signer.key_id(), algorithm=self.signer.algorithm)
        cp.signature = base64.b64encode(self.signer.sign(checkpoint_bytes(cp_fields(cp)))).decode("ascii")
        self.db.add(cp)
        self.db.flush()
        return cp

    def latest_checkpoint(self, org_id: int) -> AuditCheckpoint | None:
        return self.db.execute(select(AuditCheckpoint).where(AuditCheckpoint.org_id == org_id)
                               .order_by(AuditCheckpoint.seq.desc()).limit(1)).scalar_one_or_none()

    def checkpoint_covering(self, org_id: int, seq: int) -> AuditCheckpoint | None:
        """The first signed checkpoint at or after chain number ``seq`` (made now if none is)."""
        stmt = (select(AuditCheckpoint).where(AuditCheckpoint.org_id == org_id, AuditCheckpoint.seq >= seq)
                .order_by(AuditCheckpoint.seq).limit(1))
        found = self.db.execute(stmt).scalar_one_or_none()
        if found is None and self.signer is not None:
            self._link_org(org_id, wait=True, checkpoint=True)
            found = self.db.execute(stmt).scalar_one_or_none()
        return found


def linked_fields(event: AuditEvent) -> dict[str, Any]:
    """A linked event as a proof carries it: the chained fields (times canonical), its links."""
    fields = chain_fields(event)
    return {**fields, "at": canonical_time(fields["at"]), "prev_hash": event.prev_hash, "hash": event.hash}


def cp_fields(cp: AuditCheckpoint) -> dict[str, Any]:
    """The fields a checkpoint's signature covers."""
    return {"org_id": cp.org_id, "seq": cp.seq, "hash": cp.hash, "at": cp.at, "key_id": cp.key_id,
            "algorithm": cp.algorithm}


def link_after_commit(sessions: sessionmaker[Session], org_id: int, signer: Any = None) -> bool:
    """Best effort, after commits: link an organisation's pending events now.
    False when another sequencer holds the chain (try again later). Never raises."""
    try:
        with sessions() as db, db.begin():
            sequencer = AuditSequencer(db, signer=signer)
            sequencer.link(org_id)
            return not sequencer.skipped
    except (OperationalError, IntegrityError) as exc:   # a busy database: the worker links later
        log.info("audit events of org %s left for the next sequencer pass: %s", org_id, exc)
    except Exception:  # noqa: BLE001 - a committed request must not fail afterwards
        log.exception("audit sequencing after commit failed for org %s", org_id)
    return False


class BackgroundSequencer:
    """One per service process: links the events requests committed, off the
    request path and batched. A request's after-commit hook only notes its
    organisation; this thread waits a moment for concurrent commits to gather,
    then links them in one pass. When another process holds the chain it tries
    again shortly, so the last events of a burst are not left waiting for the
    worker."""

    RETRIES = 40

    def __init__(self, sessions: sessionmaker[Session], signer: Any = None, *, delay: float = 0.2) -> None:
        self.sessions = sessions
        self.signer = signer
        self.delay = delay
        self._pending: dict[int, int] = {}      # org -> retries left
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def notify(self, org_id: int) -> None:
        with self._cv:
            self._pending[org_id] = self.RETRIES
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()      # a forked service process starts its own thread
                self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)
                self._thread.start()
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending:
                    self._cv.wait()
            time.sleep(self.delay)
            with self._cv:
                batch, self._pending = self._pending, {}
            for org_id, retries in batch.items():
                if not link_after_commit(self.sessions, org_id, self.signer) and retries > 0:
                    with self._cv:
                        self._pending.setdefault(org_id, retries - 1)


class AuditLog:
    def __init__(self, db: Session, *, org_id: int | None, actor: str, role: str,
                 after_commit: Any = None) -> None:
        self.db = db
        self.org_id = org_id
        self.actor = actor
        self.role = role
        self._after_commit = after_commit

    @classmethod
    def for_request(cls, request: Any) -> AuditLog:
        ident = request.identity
        return cls(request.db, org_id=ident.org_id, actor=ident.name, role=ident.role,
                   after_commit=_request_hook(request))

    def events(self, *, object_type: str | None = None, object_id: str | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[AuditEvent], int]:
        """The organisation's audit events in chain order, optionally of one object."""
        if self.org_id is not None:
            AuditSequencer(self.db).link(self.org_id, wait=True)
        stmt = select(AuditEvent).where(AuditEvent.org_id == self.org_id)
        if object_type:
            stmt = stmt.where(AuditEvent.object_type == object_type)
        if object_id:
            stmt = stmt.where(AuditEvent.object_id == object_id)
        total = self.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self.db.execute(stmt.order_by(AuditEvent.chain_seq, AuditEvent.id).limit(limit).offset(offset)).scalars()
        return list(rows), total

    def proof(self, event_id: int, signer: Any) -> dict[str, Any]:
        """That an event of this organisation is included in a signed checkpoint:
        the event, the events after it up to the checkpoint, and the checkpoint.
        Checked offline with ``invoice-archive verify-audit-proof`` and the key
        published at /api/v1/bundle-key (archive/chain.py ``verify_inclusion``)."""
        event = self.db.get(AuditEvent, event_id) if 0 < event_id < 2**31 else None  # an INTEGER id
        if event is None or event.org_id != self.org_id:   # a wrong id is a 404 whatever the configuration
            raise NotFound(f"没有编号为 {event_id} 的审计事件。", code="audit_event_not_found")
        if signer is None:
            raise DomainError("审计包签名密钥未配置（bundle.signing_key），暂不能出具审计日志检查点证明，请联系管理员。",
                              code="bundle_signing_unconfigured", status=503)
        sequencer = AuditSequencer(self.db, signer=signer)
        sequencer.link(self.org_id, wait=True)
        self.db.refresh(event)
        cp = sequencer.checkpoint_covering(self.org_id, event.chain_seq)
        path = list(self.db.execute(select(AuditEvent).where(
            AuditEvent.org_id == self.org_id, AuditEvent.chain_seq > event.chain_seq,
            AuditEvent.chain_seq <= cp.seq).order_by(AuditEvent.chain_seq)).scalars())
        return {
            "event": linked_fields(event),
            "path": [linked_fields(e) for e in path],
            "checkpoint": {**cp_fields(cp), "at": canonical_time(cp.at), "signature": cp.signature},
            "public_key": "/api/v1/bundle-key",
        }

    def record(self, action: str, object_type: str, object_id: Any, **detail: Any) -> None:
        """Append an event (linked into the chain after commit, by the sequencer):
        one prepared INSERT, with no object for the session to track."""
        execute_dml(self.db, _APPEND, {"at": utcnow(), "org_id": self.org_id, "actor": self.actor, "role": self.role,
                                  "action": action, "object_type": object_type, "object_id": str(object_id),
                                  "detail": _plain(detail)})
        if self._after_commit is not None and self.org_id is not None:
            self._after_commit(self.org_id)


_APPEND = insert(AuditEvent.__table__)   # the chain fields stay NULL until the sequencer links the event


_BACKGROUND_KEY = "audit.background_sequencer"
_BACKGROUND_LOCK = threading.Lock()


def _request_hook(request: Any) -> Any:
    """Notes, once per request and organisation, that events wait to be linked
    once the request's transaction has committed (BackgroundSequencer)."""
    registry = request.registry
    sessions = registry.get("db.session_factory")
    if sessions is None or getattr(request, "tm", None) is None:
        return None
    with _BACKGROUND_LOCK:
        sequencer = registry.get(_BACKGROUND_KEY)
        if sequencer is None:
            sequencer = registry[_BACKGROUND_KEY] = BackgroundSequencer(sessions, registry.get(SIGNER_KEY))

    def hook(org_id: int) -> None:
        done = request.environ.setdefault("invoice_archive.audit_hooks", set())
        if org_id in done:
            return
        done.add(org_id)
        request.tm.get().addAfterCommitHook(lambda ok: ok and sequencer.notify(org_id))

    return hook
