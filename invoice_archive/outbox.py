"""The outbox: side effects on other systems, sent after commit, at least once.

A service that must tell another system something (post a voucher, reverse one,
report an invoice's 入账标识) calls :func:`enqueue` inside its own transaction.
The message commits with the change it describes or not at all; a retried
request finds the message by its deduplication key instead of adding a second.

:class:`OutboxWorker` (``invoice-archive worker``) then sends the messages with
the handlers it is given, one topic each. Per message it

1. leases the message in a short transaction of its own (attempts + 1, last
   outcome "sending", invisible to other workers until the lease ends);
2. calls the topic's handler with no transaction open; the handler talks to the
   other system and, where an earlier attempt may have reached it
   (``maybe_sent``), first looks its deterministic reference up, so that a retry
   never acts twice;
3. records the outcome through :meth:`OutboxWorker.finish`, in the handler's own
   transaction when the outcome changes records too.

A worker that dies between 1 and 3 leaves the message leased; once the lease
ends another worker takes it, sees "sending" and treats it as maybe sent.

This module knows messages, not what they mean: it imports no service, and the
services that own a topic register its handler (see ``docs/architecture.md``).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from invoice_archive.db import utcnow
from invoice_archive.models import OutboxMessage, OutboxStatus

if TYPE_CHECKING:
    from invoice_archive.settings import WorkerSettings

log = logging.getLogger(__name__)

STATUS_ZH = {"pending": "处理中", "done": "已完成", "failed": "已失败"}


# -- inside a request's transaction -------------------------------------------------

def enqueue(db: Session, *, org_id: int, topic: str, dedupe_key: str, payload: dict[str, Any]) -> OutboxMessage:
    """Add a message, or return the one already queued under ``dedupe_key``."""
    existing = by_key(db, dedupe_key)
    if existing is not None:
        return existing
    msg = OutboxMessage(org_id=org_id, topic=topic, dedupe_key=dedupe_key, payload=payload)
    db.add(msg)
    return msg


def by_key(db: Session, dedupe_key: str) -> OutboxMessage | None:
    return db.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)).scalar_one_or_none()


def latest(db: Session, topic: str, *, key: str, value: int) -> OutboxMessage | None:
    """The newest message of ``topic`` whose payload has ``key == value``."""
    return db.execute(select(OutboxMessage).where(
        OutboxMessage.topic == topic, OutboxMessage.payload[key].as_integer() == value)
        .order_by(OutboxMessage.id.desc()).limit(1)).scalar_one_or_none()


def count_failed(db: Session, topic: str, *, key: str, value: int) -> int:
    return db.execute(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.topic == topic, OutboxMessage.payload[key].as_integer() == value,
        OutboxMessage.status == OutboxStatus.FAILED)).scalar_one()


def is_stuck(msg: OutboxMessage) -> bool:
    """A message the worker gave up on without an answer (attempts exhausted):
    whether the other system acted on it is unknown."""
    return msg.status == OutboxStatus.FAILED and msg.last_outcome != "rejected"


def requeue(msg: OutboxMessage) -> bool:
    """Send a stuck message again under the same key. Its outcome is unknown, so
    the handler is told it may have been sent and looks it up first."""
    if not is_stuck(msg):
        return False
    msg.status = OutboxStatus.PENDING
    msg.attempts = 0
    msg.last_outcome = "unknown"
    msg.available_at = utcnow()
    msg.updated_at = msg.available_at
    return True


def settle(db: Session, dedupe_key: str, result: dict[str, Any]) -> None:
    """Mark a pending message done because its effect was observed another way
    (a voucher reported by hand or found by sync under the same reference)."""
    for msg in db.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key,
                                                      OutboxMessage.status != OutboxStatus.DONE)).scalars():
        msg.status = OutboxStatus.DONE
        msg.result = result
        msg.updated_at = utcnow()


def status(db: Session, *, retrying_after: int = 3) -> tuple[list[dict[str, Any]], list[OutboxMessage]]:
    """Counts by topic and state, and the messages that need attention: failed
    (stuck or refused), or retrying for the ``retrying_after``-th time or more."""
    counts = [{"topic": t, "status": st, "count": n} for t, st, n in db.execute(
        select(OutboxMessage.topic, OutboxMessage.status, func.count())
        .group_by(OutboxMessage.topic, OutboxMessage.status).order_by(OutboxMessage.topic, OutboxMessage.status))]
    rows = db.execute(select(OutboxMessage).where(
        (OutboxMessage.status == OutboxStatus.FAILED)
        | ((OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.attempts >= retrying_after)))
        .order_by(OutboxMessage.id)).scalars().all()
    return counts, list(rows)


# -- the worker ---------------------------------------------------------------------

@dataclass(frozen=True)
class WorkerPolicy:
    lease: dt.timedelta = dt.timedelta(minutes=5)
    backoff_base: float = 5.0          # seconds; doubled per attempt
    backoff_max: float = 3600.0
    max_attempts: int = 20             # then the message fails and needs a person
    confirm_interval: float = 300.0    # seconds between reads of a write the other system holds but has
                                       # not yet confirmed (outcome "awaiting": not a failed attempt)

    def backoff(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(seconds=min(self.backoff_max, self.backoff_base * 2 ** max(0, attempts - 1)))

    @classmethod
    def from_settings(cls, worker: WorkerSettings) -> WorkerPolicy:
        """From ``Settings.worker`` (``worker.*``, parsed and checked at start-up)."""
        return cls(lease=dt.timedelta(seconds=worker.lease_seconds), backoff_base=worker.backoff_base_seconds,
                   backoff_max=worker.backoff_max_seconds, max_attempts=worker.max_attempts,
                   confirm_interval=worker.confirm_interval_seconds)


class Handler(Protocol):
    def __call__(self, worker: OutboxWorker, msg_id: int, payload: dict[str, Any], maybe_sent: bool) -> None: ...


class OutboxWorker:
    """Sends due messages of the topics it has handlers for."""

    def __init__(self, sessions: sessionmaker[Session], handlers: Mapping[str, Handler], *,
                 policy: WorkerPolicy = WorkerPolicy(), clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.sessions = sessions
        self.handlers = dict(handlers)
        self.policy = policy
        self.clock = clock
        self._awaiting: set[int] = set()   # messages found awaiting in this run: not read again in it

    def _lease(self) -> tuple[int, str, dict[str, Any], bool] | None:
        with self.sessions() as db, db.begin():
            now = self.clock()
            query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING,
                                                OutboxMessage.topic.in_(list(self.handlers)),
                                                OutboxMessage.available_at <= now)
            if self._awaiting:
                query = query.where(OutboxMessage.id.not_in(self._awaiting))
            msg = db.execute(query.order_by(OutboxMessage.available_at, OutboxMessage.id).limit(1)
                             .with_for_update(skip_locked=True)).scalar_one_or_none()
            if msg is None:
                return None
            # "awaiting": the other system holds it; it is read back, never sent again
            maybe_sent = msg.last_outcome in ("sending", "unknown", "awaiting")
            msg.attempts += 1
            msg.last_outcome = "sending"
            msg.available_at = now + self.policy.lease
            msg.updated_at = now
            return msg.id, msg.topic, dict(msg.payload), maybe_sent

    def run_once(self, limit: int = 100) -> int:
        """Process due messages until none is left (or limit). Returns how many. A
        message found awaiting the other system is read once per run."""
        done = 0
        self._awaiting = set()
        while done < limit:
            leased = self._lease()
            if leased is None:
                break
            msg_id, topic, payload, maybe_sent = leased
            try:
                self.handlers[topic](self, msg_id, payload, maybe_sent)
            except Exception as exc:   # a bug or an outage: keep the message, retry later
                log.exception("outbox message %s (%s) failed", msg_id, topic)
                self.finish(msg_id, outcome="retryable", error=f"{type(exc).__name__}: {exc}")
            done += 1
        return done

    def finish(self, msg_id: int, *, outcome: str, error: str | None = None, result: dict | None = None,
               db: Session | None = None) -> None:
        """Record a message's outcome: done ("posted"/"done"), failed ("rejected",
        or attempts exhausted), due again after the backoff, or "awaiting": the other
        system holds the write but has not yet confirmed it (a voucher not yet audited
        or posted there), read again after ``confirm_interval`` without counting as a
        failed attempt. With ``db``, in the caller's transaction, so that the outcome
        commits with its records."""
        def apply(session: Session) -> None:
            msg = session.get(OutboxMessage, msg_id, with_for_update=True)
            now = self.clock()
            msg.last_outcome = outcome
            msg.last_error = error
            msg.updated_at = now
            if outcome == "awaiting":
                self._awaiting.add(msg_id)
                msg.attempts = 0
                msg.result = result
                msg.available_at = now + dt.timedelta(seconds=self.policy.confirm_interval)
            elif outcome in ("posted", "done"):
                msg.status = OutboxStatus.DONE
                msg.result = result
            elif outcome == "rejected" or msg.attempts >= self.policy.max_attempts:
                msg.status = OutboxStatus.FAILED
                msg.result = result
            else:
                msg.available_at = now + self.policy.backoff(msg.attempts)

        if db is not None:
            apply(db)
            return
        with self.sessions() as session, session.begin():
            apply(session)


__all__ = ["Handler", "OutboxWorker", "STATUS_ZH", "WorkerPolicy", "by_key", "count_failed", "enqueue", "is_stuck",
           "latest", "requeue", "settle", "status"]
