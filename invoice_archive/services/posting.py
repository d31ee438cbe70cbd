"""Posting through the accounting system, by way of the outbox.

Approval writes an outbox message in the same transaction (no request ever
waits on the accounting system). `invoice-archive worker` then, per message:

1. leases it in a short transaction of its own (attempts + 1, last outcome
   "sending", invisible to other workers until the lease ends), and builds the
   draft from the database;
2. talks to the accounting system with no transaction open: first, if an
   earlier attempt may have reached the system, it looks the deterministic
   external reference up, so that a retry never makes a second voucher;
3. records the answer in a second transaction: the voucher and its links when
   posted; the system's own message on the claim when rejected; a later retry,
   with backoff, when the system was unreachable or the outcome unknown.

A worker that dies between 1 and 3 leaves the message leased; once the lease
ends another worker takes it, sees "sending" and looks the reference up first.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from invoice_archive.accounting import (
    AccountingError, DraftVoucher, Outcome, PostResult, RemoteStatus, RemoteVoucher, ReportEntry, VoucherReport,
)
from invoice_archive.db import utcnow
from invoice_archive.errors import Conflict, Invalid
from invoice_archive.models import (
    Claim, ClaimStatus, InvoiceStatus, Organisation, OutboxMessage, OutboxStatus, SyncState, Voucher,
    VoucherEntry,
)
from invoice_archive.posting.drafting import (
    AccountMapping, ClaimForPosting, InvoiceForPosting, business_date, draft_voucher, external_ref,
)
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.vouchers import VoucherService

log = logging.getLogger(__name__)

_OUTBOX_ZH = {"pending": "处理中", "done": "已完成", "failed": "已失败"}

TOPIC_POST = "accounting.post"
TOPIC_REVERSE = "accounting.reverse"
WORKER = "invoice-archive worker"


# -- enqueueing (inside a request's transaction) ------------------------------------

def enqueue(db: Session, *, org_id: int, topic: str, dedupe_key: str, payload: dict[str, Any]) -> OutboxMessage:
    existing = db.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)).scalar_one_or_none()
    if existing is not None:
        return existing
    msg = OutboxMessage(org_id=org_id, topic=topic, dedupe_key=dedupe_key, payload=payload)
    db.add(msg)
    return msg


def enqueue_posting(db: Session, claim: Claim, fonds_code: str, audit: AuditLog) -> OutboxMessage:
    """Hand an approved claim to the accounting system (after commit, via the worker)."""
    earlier = db.execute(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.topic == TOPIC_POST, OutboxMessage.payload["claim_id"].as_integer() == claim.id,
        OutboxMessage.status == OutboxStatus.FAILED)).scalar_one()
    ref = external_ref(fonds_code, claim.number, earlier + 1)
    msg = enqueue(db, org_id=claim.org_id, topic=TOPIC_POST, dedupe_key=ref,
                  payload={"claim_id": claim.id, "external_ref": ref})
    claim.status = ClaimStatus.POSTING
    claim.posting_error = None
    audit.record("claim.posting", "claim", claim.number, external_ref=ref)
    return msg


def latest_posting_message(db: Session, claim_id: int) -> OutboxMessage | None:
    """The claim's newest posting message (the one its status depends on)."""
    return db.execute(select(OutboxMessage).where(
        OutboxMessage.topic == TOPIC_POST, OutboxMessage.payload["claim_id"].as_integer() == claim_id)
        .order_by(OutboxMessage.id.desc()).limit(1)).scalar_one_or_none()


def is_stuck(msg: OutboxMessage) -> bool:
    """A message the worker gave up on without an answer (attempts exhausted):
    whether the accounting system holds its voucher is unknown."""
    return msg.status == OutboxStatus.FAILED and msg.last_outcome != "rejected"


def retry_stuck(msg: OutboxMessage, audit: AuditLog, claim: Claim) -> bool:
    """Send a stuck message again under the same external reference. Its outcome
    is unknown, so the worker first looks the reference up: a voucher that did
    reach the system is linked, never posted a second time."""
    if not is_stuck(msg):
        return False
    msg.status = OutboxStatus.PENDING
    msg.attempts = 0
    msg.last_outcome = "unknown"
    msg.available_at = utcnow()
    msg.updated_at = msg.available_at
    audit.record("claim.posting_retried", "claim", claim.number, external_ref=msg.dedupe_key,
                 last_error=msg.last_error)
    return True


def request_reversal(db: Session, voucher: Voucher, *, date: dt.date, reason: str, audit: AuditLog) -> OutboxMessage:
    """Queue the red voucher. The claim's row is locked before anything is read,
    so of two concurrent requests one queues and the other gets a 409."""
    db.execute(select(Claim).where(Claim.id == voucher.claim_id).with_for_update()
               .execution_options(populate_existing=True)).scalar_one()
    if voucher.red_flag:
        raise Conflict(f"凭证 {voucher.display_number} 本身是冲销凭证，不能再冲销。", code="voucher_is_reversal")
    if voucher.claim.status == ClaimStatus.REVERSED:
        raise Conflict(f"凭证 {voucher.display_number} 已经冲销。", code="already_reversed")
    if not voucher.system_id:
        raise Invalid(f"凭证 {voucher.display_number} 由记账系统自行录入，请在记账系统中冲销后由系统同步。",
                      code="reversal_not_supported")
    ref = f"{voucher.external_ref}-R"
    queued = db.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == ref)).scalar_one_or_none()
    if queued is not None:
        raise Conflict(f"凭证 {voucher.display_number} 的冲销已于 {queued.created_at:%Y-%m-%d %H:%M} 提交记账系统"
                       f"（{ref}，{_OUTBOX_ZH.get(queued.status, queued.status)}），不能重复冲销。",
                       code="reversal_already_requested",
                       detail={"external_ref": ref, "status": queued.status, "last_error": queued.last_error})
    msg = enqueue(db, org_id=voucher.org_id, topic=TOPIC_REVERSE, dedupe_key=ref,
                  payload={"voucher_id": voucher.id, "external_ref": ref, "date": date.isoformat(),
                           "reason": reason})
    audit.record("voucher.reversal_requested", "voucher", voucher.id, reason=reason, external_ref=ref)
    return msg


def outbox_status(db: Session, *, retrying_after: int = 3) -> dict[str, Any]:
    """Counts by topic and state, and the messages that need attention: stuck
    (attempts exhausted, outcome unknown), refused (the system said no), or
    retrying for the ``retrying_after``-th time or more."""
    counts = [{"topic": t, "status": st, "count": n} for t, st, n in db.execute(
        select(OutboxMessage.topic, OutboxMessage.status, func.count())
        .group_by(OutboxMessage.topic, OutboxMessage.status).order_by(OutboxMessage.topic, OutboxMessage.status))]
    rows = db.execute(select(OutboxMessage).where(
        (OutboxMessage.status == OutboxStatus.FAILED)
        | ((OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.attempts >= retrying_after)))
        .order_by(OutboxMessage.id)).scalars().all()
    claim_ids = {m.payload.get("claim_id") for m in rows if m.topic == TOPIC_POST}
    numbers = dict(db.execute(select(Claim.id, Claim.number).where(Claim.id.in_(claim_ids))).all()) if claim_ids else {}
    attention = []
    for m in rows:
        state = ("stuck" if is_stuck(m) else "refused") if m.status == OutboxStatus.FAILED else "retrying"
        attention.append({
            "id": m.id, "topic": m.topic, "external_ref": m.dedupe_key, "state": state,
            "state_zh": {"stuck": "停滞", "refused": "被拒绝", "retrying": "重试中"}[state],
            "attempts": m.attempts, "last_outcome": m.last_outcome, "last_error": m.last_error,
            "claim_number": numbers.get(m.payload.get("claim_id")), "updated_at": m.updated_at.isoformat()})
    return {"counts": counts, "attention": attention}


# -- the worker ---------------------------------------------------------------------

@dataclass(frozen=True)
class WorkerPolicy:
    lease: dt.timedelta = dt.timedelta(minutes=5)
    backoff_base: float = 5.0          # seconds; doubled per attempt
    backoff_max: float = 3600.0
    max_attempts: int = 20             # then the message fails and needs a person

    def backoff(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(seconds=min(self.backoff_max, self.backoff_base * 2 ** max(0, attempts - 1)))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> WorkerPolicy:
        return cls(lease=dt.timedelta(seconds=float(settings.get("worker.lease_seconds", 300))),
                   backoff_base=float(settings.get("worker.backoff_base_seconds", 5)),
                   backoff_max=float(settings.get("worker.backoff_max_seconds", 3600)),
                   max_attempts=int(settings.get("worker.max_attempts", 20)))


def _report_from(v: DraftVoucher | RemoteVoucher, claim_number: str, voucher_number: str, ref: str,
                 prepared_by: str) -> VoucherReport:
    """What the accounting system holds (a draft it accepted, or a voucher found by
    sync), as the report VoucherService records."""
    return VoucherReport(
        claim_number=claim_number, voucher_number=voucher_number, voucher_word=v.voucher_word,
        fiscal_year=v.fiscal_year, period=v.period, date=v.date, external_ref=ref,
        prepared_by=prepared_by, reviewed_by=None, posted_by=None,
        entries=tuple(ReportEntry(line_no=n, summary=e.summary, account_code=e.account_code,
                                  account_name=e.account_name, debit=e.debit, credit=e.credit)
                      for n, e in enumerate(v.entries, start=1)))


class OutboxWorker:
    def __init__(self, sessions: sessionmaker[Session], accounting: Any = None, mapping: AccountMapping | None = None,
                 *, taxplatform: Any = None, posting_purpose: Any = None, policy: WorkerPolicy = WorkerPolicy(),
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        """Handles the topics of the systems it is given: accounting postings and
        reversals with an accounting system, posting statuses with a tax platform."""
        self.sessions = sessions
        self.accounting = accounting
        self.mapping = mapping
        self.taxplatform = taxplatform
        self.posting_purpose = posting_purpose if taxplatform is not None else None
        self.policy = policy
        self.clock = clock
        self.handlers: dict[str, Any] = {}
        if accounting is not None:
            self.handlers.update({TOPIC_POST: self._post, TOPIC_REVERSE: self._reverse})
        if taxplatform is not None:
            from invoice_archive.services.compliance import TOPIC_POSTING_STATUS

            self.handlers[TOPIC_POSTING_STATUS] = self._posting_status

    # one message ---------------------------------------------------------------
    def _lease(self) -> tuple[int, str, dict[str, Any], bool] | None:
        with self.sessions() as db, db.begin():
            now = self.clock()
            msg = db.execute(
                select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING,
                                            OutboxMessage.topic.in_(list(self.handlers)),
                                            OutboxMessage.available_at <= now)
                .order_by(OutboxMessage.available_at, OutboxMessage.id).limit(1)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if msg is None:
                return None
            maybe_sent = msg.last_outcome in ("sending", "unknown")
            msg.attempts += 1
            msg.last_outcome = "sending"
            msg.available_at = now + self.policy.lease
            msg.updated_at = now
            return msg.id, msg.topic, dict(msg.payload), maybe_sent

    def run_once(self, limit: int = 100) -> int:
        """Process due messages until none is left (or limit). Returns how many."""
        done = 0
        while done < limit:
            leased = self._lease()
            if leased is None:
                break
            msg_id, topic, payload, maybe_sent = leased
            try:
                self.handlers[topic](msg_id, payload, maybe_sent)
            except Exception as exc:   # a bug or an outage: keep the message, retry later
                log.exception("outbox message %s (%s) failed", msg_id, topic)
                self._finish(msg_id, outcome="retryable", error=f"{type(exc).__name__}: {exc}")
            done += 1
        return done

    def _finish(self, msg_id: int, *, outcome: str, error: str | None = None, result: dict | None = None,
                db: Session | None = None) -> None:
        def apply(session: Session) -> OutboxMessage:
            msg = session.get(OutboxMessage, msg_id, with_for_update=True)
            now = self.clock()
            msg.last_outcome = outcome
            msg.last_error = error
            msg.updated_at = now
            if outcome in ("posted", "done"):
                msg.status = OutboxStatus.DONE
                msg.result = result
            elif outcome == "rejected" or msg.attempts >= self.policy.max_attempts:
                msg.status = OutboxStatus.FAILED
                msg.result = result
            else:
                msg.available_at = now + self.policy.backoff(msg.attempts)
            return msg

        if db is not None:
            apply(db)
            return
        with self.sessions() as session, session.begin():
            apply(session)

    # accounting.post -----------------------------------------------------------
    def _draft(self, db: Session, claim: Claim, ref: str) -> DraftVoucher:
        assert self.mapping is not None, "posting.account.* settings are needed to post"
        data = ClaimForPosting(
            number=claim.number, title=claim.title, claimant=claim.claimant,
            expense_category=claim.expense_category, total=claim.total,
            invoices=[InvoiceForPosting(i.kind, i.amount_excl_tax, i.tax, i.total or claim.total)
                      for i in (line.invoice for line in claim.lines)])
        approved = max((s.at for s in claim.signoffs if s.step == "审批"), default=self.clock())
        return draft_voucher(data, self.mapping, ref=ref, date=business_date(approved), preparer=WORKER)

    def _post(self, msg_id: int, payload: dict[str, Any], maybe_sent: bool) -> None:
        ref = payload["external_ref"]
        with self.sessions() as db:
            claim = db.get(Claim, payload["claim_id"])
            draft = self._draft(db, claim, ref)
            claim_number = claim.number
        result: PostResult | None = None
        try:
            if maybe_sent:   # an earlier attempt may have reached the system: never post twice
                found = self.accounting.find_by_external_ref(ref)
                result = PostResult.existing(found) if found is not None else None
            if result is None:
                result = self.accounting.post(draft)
        except AccountingError as exc:
            if exc.retryable:
                self._finish(msg_id, outcome="retryable", error=str(exc))
            else:
                self._reject(msg_id, payload["claim_id"], f"{exc.message}（{exc.code}）", code=exc.code)
            return
        if result.status is Outcome.POSTED:
            self._record_posted(msg_id, payload["claim_id"], claim_number, draft, result)
        elif result.status is Outcome.REJECTED:
            self._reject(msg_id, payload["claim_id"], result.message or "记账系统拒绝了该凭证", code=result.code)
        else:
            self._finish(msg_id, outcome=result.status.value, error=result.message)

    def _audit(self, db: Session, org_id: int) -> AuditLog:
        return AuditLog(db, org_id=org_id, actor=WORKER, role="system")

    def _record_posted(self, msg_id: int, claim_id: int, claim_number: str, draft: DraftVoucher,
                       result: PostResult) -> None:
        with self.sessions() as db, db.begin():
            claim = db.get(Claim, claim_id, with_for_update=True)
            audit = self._audit(db, claim.org_id)
            vouchers = VoucherService(db, audit, None, org_id=claim.org_id, actor=WORKER,
                                      source_name=self.accounting.name,
                                      posting_status_purpose=self.posting_purpose)
            report = _report_from(draft, claim_number, result.voucher_number or result.system_id or "?",
                                  draft.external_ref, draft.preparer)
            voucher, _ = vouchers.record_report(report, source=self.accounting.name, system_id=result.system_id)
            self._finish(msg_id, outcome="posted", db=db,
                         result={"voucher_id": voucher.id, "voucher_number": voucher.display_number,
                                 "system_id": result.system_id, "already_existed": result.already_existed})

    def _reject(self, msg_id: int, claim_id: int, message: str, *, code: str | None) -> None:
        with self.sessions() as db, db.begin():
            claim = db.get(Claim, claim_id, with_for_update=True)
            if claim.status == ClaimStatus.POSTING:
                claim.status = ClaimStatus.APPROVED     # back to the finance staff, with the system's words
            claim.posting_error = message
            self._audit(db, claim.org_id).record("claim.posting_rejected", "claim", claim.number,
                                                 message=message, code=code)
            self._finish(msg_id, outcome="rejected", error=message, db=db, result={"code": code})

    # accounting.reverse --------------------------------------------------------
    def _reverse(self, msg_id: int, payload: dict[str, Any], maybe_sent: bool) -> None:
        ref = payload["external_ref"]
        with self.sessions() as db:
            original = db.get(Voucher, payload["voucher_id"])
            system_id = original.system_id
        result: PostResult | None = None
        try:
            if maybe_sent:
                found = self.accounting.find_by_external_ref(ref)
                result = PostResult.existing(found) if found is not None else None
            if result is None:
                result = self.accounting.reverse(system_id, date=dt.date.fromisoformat(payload["date"]),
                                                 reason=payload["reason"], external_ref=ref)
        except AccountingError as exc:
            self._finish(msg_id, outcome="retryable" if exc.retryable else "rejected", error=str(exc))
            return
        if result.status is not Outcome.POSTED:
            self._finish(msg_id, outcome=result.status.value, error=result.message)
            return
        with self.sessions() as db, db.begin():
            original = db.get(Voucher, payload["voucher_id"])
            db.get(Claim, original.claim_id, with_for_update=True, populate_existing=True)
            red = record_reversal(db, original, voucher_number=result.voucher_number or "?",
                                  system_id=result.system_id, external_ref=ref,
                                  date=dt.date.fromisoformat(payload["date"]), reason=payload["reason"],
                                  source=self.accounting.name, revoke_posting_status=self.posting_purpose is not None)
            self._audit(db, original.org_id).record(
                "voucher.reversed", "voucher", original.id, reversal_id=red.id, number=red.display_number,
                reason=payload["reason"])
            self._finish(msg_id, outcome="posted", db=db,
                         result={"voucher_id": red.id, "voucher_number": red.display_number})


    # tax.posting_status -----------------------------------------------------------
    def _posting_status(self, msg_id: int, payload: dict[str, Any], maybe_sent: bool) -> None:
        """Send one invoice's 入账标识. The idempotency key makes a resend after a
        lost reply harmless: the platform recognises it."""
        from invoice_archive.services.compliance import posting_status_from_payload
        from invoice_archive.taxplatform import TaxPlatformError

        try:
            ack = self.taxplatform.report_posting(posting_status_from_payload(payload))
        except TaxPlatformError as exc:
            self._finish(msg_id, outcome="retryable" if exc.retryable else "rejected", error=str(exc))
            return
        self._finish(msg_id, outcome="done", result=ack.to_dict())


def record_reversal(db: Session, original: Voucher, *, voucher_number: str, system_id: str | None,
                    external_ref: str, date: dt.date, reason: str, source: str,
                    revoke_posting_status: bool = False) -> Voucher:
    """The red voucher (红字冲销): the original's entries with their amounts negated."""
    red = Voucher(
        org_id=original.org_id, claim_id=original.claim_id, voucher_word=original.voucher_word,
        voucher_number=voucher_number, fiscal_year=date.year, period=date.month, date=date,
        external_ref=external_ref, prepared_by=WORKER, debit_total=-original.debit_total,
        credit_total=-original.credit_total, attachment_count=0, source_system=source, reported_by=WORKER,
        system_id=system_id, red_flag=True, reverses_id=original.id, reason=reason)
    db.add(red)
    db.flush()
    for e in original.entries:
        db.add(VoucherEntry(voucher_id=red.id, line_no=e.line_no,
                            summary=f"[冲销{original.date:%Y.%m.%d} {original.display_number}号凭证]{e.summary}",
                            account_code=e.account_code, account_name=e.account_name,
                            debit=-e.debit, credit=-e.credit))
    original.claim.status = ClaimStatus.REVERSED
    for line in original.claim.lines:
        line.invoice.status = InvoiceStatus.REVERSED
    if revoke_posting_status:
        from invoice_archive.services.compliance import enqueue_posting_status
        from invoice_archive.taxplatform import PostingPurpose

        enqueue_posting_status(db, original, [line.invoice for line in original.claim.lines],
                               purpose=PostingPurpose.REVOKE, revoke=True)
    return red


# -- inbound: pulling what the accounting system holds ------------------------------

class SyncService:
    """`invoice-archive sync`: vouchers that carry one of our external references and
    are posted or audited in the accounting system are linked to their claims."""

    def __init__(self, sessions: sessionmaker[Session], accounting: Any) -> None:
        self.sessions = sessions
        self.accounting = accounting

    def run_once(self) -> dict[str, int]:
        counts = {"seen": 0, "linked": 0}
        with self.sessions() as db, db.begin():
            state = db.execute(select(SyncState).where(SyncState.system == self.accounting.name)
                               .with_for_update()).scalars().first()
            since = state.watermark if state else None
            changes, watermark = self.accounting.pull_changes(since)
            for remote in changes:
                counts["seen"] += 1
                if self._link(db, remote):
                    counts["linked"] += 1
            if state is None:
                org_id = db.execute(select(Organisation.id).order_by(Organisation.id)).scalars().first()
                if org_id is None:
                    return counts
                state = SyncState(system=self.accounting.name, org_id=org_id)
                db.add(state)
            state.watermark = watermark
            state.updated_at = utcnow()
        return counts

    def _link(self, db: Session, remote: RemoteVoucher) -> bool:
        ref = remote.external_ref or ""
        if not ref.startswith("IA-") or remote.status not in (RemoteStatus.POSTED, RemoteStatus.AUDITED):
            return False
        if db.execute(select(Voucher.id).where(Voucher.external_ref == ref)).first():
            return False
        fonds, _, rest = ref[3:].partition("-")
        claim_number = rest.rsplit("-v", 1)[0]
        claim = db.execute(select(Claim).join(Organisation, Organisation.id == Claim.org_id).where(
            Organisation.fonds_code == fonds, Claim.number == claim_number)).scalar_one_or_none()
        if claim is None or claim.status not in (ClaimStatus.APPROVED, ClaimStatus.POSTING):
            return False
        audit = AuditLog(db, org_id=claim.org_id, actor="invoice-archive sync", role="system")
        report = _report_from(remote, claim.number, remote.voucher_number, ref, "记账系统")
        VoucherService(db, audit, None, org_id=claim.org_id, actor="invoice-archive sync",
                       source_name=self.accounting.name).record_report(
            report, source=self.accounting.name, system_id=remote.system_id)
        for msg in db.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == ref,
                                                          OutboxMessage.status == OutboxStatus.PENDING)).scalars():
            msg.status = OutboxStatus.DONE
            msg.result = {"linked_by": "sync"}
        return True


__all__ = ["OutboxWorker", "SyncService", "WorkerPolicy", "enqueue_posting", "is_stuck", "latest_posting_message",
           "outbox_status", "request_reversal", "retry_stuck"]
