"""Posting through the accounting system, by way of the outbox.

Approval writes an outbox message in the same transaction (no request ever
waits on the accounting system); ``invoice-archive worker`` sends it with the
handlers here (the outbox's lease, retry and backoff are in ``outbox.py``):

- ``accounting.post``: build the draft from the database, talk to the system
  with no transaction open (first, if an earlier attempt may have reached it,
  look the deterministic external reference up, so that a retry never makes a
  second voucher), then record the voucher and its links, or the system's own
  refusal on the claim;
- ``accounting.reverse``: the red voucher, the same way.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from invoice_archive import outbox
from invoice_archive.ports.accounting import (
    AccountingError, DraftVoucher, Outcome, PostResult, RemoteStatus, RemoteVoucher, ReportEntry, VoucherReport,
    has_reached,
)
from invoice_archive.db import utcnow
from invoice_archive.models import (
    Claim, ClaimStatus, InvoiceStatus, Organisation, OutboxMessage, SyncState, Voucher, VoucherEntry,
)
from invoice_archive.outbox import OutboxWorker, WorkerPolicy, is_stuck
from invoice_archive.posting import TOPIC_POST, TOPIC_REVERSE
from invoice_archive.posting.drafting import (
    AccountMapping, ClaimForPosting, InvoiceForPosting, business_date, draft_voucher, external_ref,
)
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.compliance import PostingStatusHandler, enqueue_posting_status
from invoice_archive.services.vouchers import VoucherService
from invoice_archive.ports import is_configured
from invoice_archive.ports.taxplatform import PostingPurpose

log = logging.getLogger(__name__)

WORKER = "invoice-archive worker"
STATUS_ZH = {RemoteStatus.SAVED: "已保存（未审核）", RemoteStatus.AUDITED: "已审核（未过账）",
             RemoteStatus.POSTED: "已过账", RemoteStatus.VOID: "已作废"}
REQUIRED_ZH = {RemoteStatus.SAVED: "保存", RemoteStatus.AUDITED: "审核", RemoteStatus.POSTED: "审核、过账"}


# -- inside a request's transaction -------------------------------------------------

def enqueue_posting(db: Session, claim: Claim, fonds_code: str, audit: AuditLog) -> OutboxMessage:
    """Hand an approved claim to the accounting system (after commit, via the worker)."""
    earlier = outbox.count_failed(db, TOPIC_POST, key="claim_id", value=claim.id)
    ref = external_ref(fonds_code, claim.number, earlier + 1)
    msg = outbox.enqueue(db, org_id=claim.org_id, topic=TOPIC_POST, dedupe_key=ref,
                         payload={"claim_id": claim.id, "external_ref": ref})
    claim.status = ClaimStatus.POSTING
    claim.posting_error = None
    audit.record("claim.posting", "claim", claim.number, external_ref=ref)
    return msg


def latest_posting_message(db: Session, claim_id: int) -> OutboxMessage | None:
    """The claim's newest posting message (the one its status depends on)."""
    return outbox.latest(db, TOPIC_POST, key="claim_id", value=claim_id)


def retry_stuck(msg: OutboxMessage, audit: AuditLog, claim: Claim) -> bool:
    """Send a stuck message again under the same external reference. Its outcome
    is unknown, so the worker first looks the reference up: a voucher that did
    reach the system is linked, never posted a second time."""
    if not outbox.requeue(msg):
        return False
    audit.record("claim.posting_retried", "claim", claim.number, external_ref=msg.dedupe_key,
                 last_error=msg.last_error)
    return True


def outbox_status(db: Session, *, retrying_after: int = 3) -> dict[str, Any]:
    """The outbox as an operator sees it: counts by topic and state, and the
    messages that need attention (stuck, refused, retrying again and again),
    each with the claim it is about."""
    counts, rows = outbox.status(db, retrying_after=retrying_after)
    claim_ids = {m.payload.get("claim_id") for m in rows if m.topic == TOPIC_POST}
    numbers = dict(db.execute(select(Claim.id, Claim.number).where(Claim.id.in_(claim_ids))).all()) if claim_ids else {}
    attention = []
    for m in rows:
        state = ("stuck" if is_stuck(m) else "refused") if m.status == "failed" else "retrying"
        attention.append({
            "id": m.id, "topic": m.topic, "external_ref": m.dedupe_key, "state": state,
            "state_zh": {"stuck": "停滞", "refused": "被拒绝", "retrying": "重试中"}[state],
            "attempts": m.attempts, "last_outcome": m.last_outcome, "last_error": m.last_error,
            "claim_number": numbers.get(m.payload.get("claim_id")), "updated_at": m.updated_at.isoformat()})
    return {"counts": counts, "attention": attention}


# -- the outbox handlers ------------------------------------------------------------

def _report_from(v: DraftVoucher | RemoteVoucher, claim_number: str, voucher_number: str, ref: str,
                 prepared_by: str, remote: RemoteVoucher | None = None) -> VoucherReport:
    """What the accounting system holds (a draft it accepted, or a voucher found by
    sync), as the report VoucherService records; who audited and posted it there,
    when it was read back."""
    return VoucherReport(
        claim_number=claim_number, voucher_number=voucher_number, voucher_word=v.voucher_word,
        fiscal_year=v.fiscal_year, period=v.period, date=v.date, external_ref=ref,
        prepared_by=prepared_by, reviewed_by=remote.reviewer if remote else None,
        posted_by=remote.poster if remote else None,
        entries=tuple(ReportEntry(line_no=n, summary=e.summary, account_code=e.account_code,
                                  account_name=e.account_name, debit=e.debit, credit=e.credit)
                      for n, e in enumerate(v.entries, start=1)))


class AccountingHandlers:
    """The outbox handlers for one accounting system: postings and reversals.

    A voucher the system accepted counts as 入账 only once it has reached
    ``posted_when`` there (saved < audited < posted; ``accounting.posted_when``),
    as read back from the system: until then the message waits ("awaiting") and is
    read again every ``worker.confirm_interval_seconds``, never sent again. A voucher
    that disappears over there while awaiting (deleted by an accountant) comes back
    to the claim as a refusal.
    """

    def __init__(self, sessions: sessionmaker[Session], accounting: Any, mapping: AccountMapping | None, *,
                 posting_purpose: PostingPurpose | None = None, clock: Callable[[], dt.datetime] = utcnow,
                 posted_when: RemoteStatus = RemoteStatus.POSTED) -> None:
        self.sessions = sessions
        self.accounting = accounting
        self.mapping = mapping
        self.posting_purpose = posting_purpose
        self.clock = clock
        self.posted_when = RemoteStatus(posted_when)

    def topics(self) -> dict[str, outbox.Handler]:
        return {TOPIC_POST: self._post, TOPIC_REVERSE: self._reverse}

    # accounting.post -----------------------------------------------------------
    def draft(self, db: Session, claim: Claim, ref: str) -> DraftVoucher:
        assert self.mapping is not None, "posting.account.* settings are needed to post"
        data = ClaimForPosting(
            number=claim.number, title=claim.title, claimant=claim.claimant,
            expense_category=claim.expense_category, total=claim.total,
            invoices=[InvoiceForPosting(i.kind, i.amount_excl_tax, i.tax, i.total or claim.total)
                      for i in (line.invoice for line in claim.lines)])
        approved = max((s.at for s in claim.signoffs if s.step == "审批"), default=self.clock())
        return draft_voucher(data, self.mapping, ref=ref, date=business_date(approved), preparer=WORKER)

    def _post(self, worker: OutboxWorker, msg_id: int, payload: dict[str, Any], maybe_sent: bool) -> None:
        ref = payload["external_ref"]
        with self.sessions() as db:
            claim = db.get(Claim, payload["claim_id"])
            draft = self.draft(db, claim, ref)
            claim_number = claim.number
            awaited = _awaited(db, msg_id)
        result: PostResult | None = None
        remote: RemoteVoucher | None = None
        try:
            if maybe_sent or awaited:   # it may have reached the system (or did): never post twice
                remote = self.accounting.find_by_external_ref(ref)
                if remote is None and awaited:
                    self._reject(worker, msg_id, payload["claim_id"], _vanished(awaited, self.accounting.name),
                                 code="voucher_deleted")
                    return
                result = PostResult.existing(remote) if remote is not None else None
            if result is None:
                result = self.accounting.post(draft)
            if result.status is Outcome.POSTED and remote is None:
                remote = self._read_back(result, ref)
        except AccountingError as exc:
            if exc.retryable:
                worker.finish(msg_id, outcome="retryable", error=str(exc))
            else:
                self._reject(worker, msg_id, payload["claim_id"], f"{exc.message}（{exc.code}）", code=exc.code)
            return
        if result.status is Outcome.POSTED:
            state = remote.status if remote is not None else result.remote_status
            if state is RemoteStatus.VOID:
                self._reject(worker, msg_id, payload["claim_id"],
                             f"凭证 {result.voucher_number} 在记账系统中已作废，未入账", code="voucher_void")
            elif not has_reached(state, self.posted_when):
                self._await(worker, msg_id, result, state, "凭证")
            else:
                self._record_posted(worker, msg_id, payload["claim_id"], claim_number, draft, result, remote)
        elif result.status is Outcome.REJECTED:
            self._reject(worker, msg_id, payload["claim_id"], result.message or "记账系统拒绝了该凭证", code=result.code)
        else:
            worker.finish(msg_id, outcome=result.status.value, error=result.message)

    def _read_back(self, result: PostResult, ref: str) -> RemoteVoucher | None:
        """The voucher as the system holds it, when the state matters and the adapter
        did not read it back itself (or to learn who audited and posted it)."""
        if result.remote_status is not None and not has_reached(result.remote_status, self.posted_when):
            return None
        return self.accounting.find_by_external_ref(ref)

    def _await(self, worker: OutboxWorker, msg_id: int, result: PostResult, state: RemoteStatus | None,
               what: str) -> None:
        """The system holds it, not yet where it counts: wait for its accountants."""
        shown = STATUS_ZH.get(state, "状态未知") if state else "状态未知"
        message = (f"{what} {result.voucher_number or result.system_id} 已在记账系统中{shown}，"
                   f"待在记账系统中{REQUIRED_ZH[self.posted_when]}后入账")
        worker.finish(msg_id, outcome="awaiting", error=message, result={"awaiting": {
            "system_id": result.system_id, "voucher_number": result.voucher_number,
            "status": state.value if state else None, "required": self.posted_when.value}})

    def _audit(self, db: Session, org_id: int) -> AuditLog:
        return AuditLog(db, org_id=org_id, actor=WORKER, role="system")

    def _record_posted(self, worker: OutboxWorker, msg_id: int, claim_id: int, claim_number: str, draft: DraftVoucher,
                       result: PostResult, remote: RemoteVoucher | None = None) -> None:
        with self.sessions() as db, db.begin():
            claim = db.get(Claim, claim_id, with_for_update=True)
            audit = self._audit(db, claim.org_id)
            vouchers = VoucherService(db, audit, None, org_id=claim.org_id, actor=WORKER,
                                      source_name=self.accounting.name,
                                      posting_status_purpose=self.posting_purpose)
            report = _report_from(draft, claim_number, result.voucher_number or result.system_id or "?",
                                  draft.external_ref, draft.preparer, remote)
            voucher, _ = vouchers.record_report(report, source=self.accounting.name, system_id=result.system_id)
            worker.finish(msg_id, outcome="posted", db=db,
                          result={"voucher_id": voucher.id, "voucher_number": voucher.display_number,
                                  "system_id": result.system_id, "already_existed": result.already_existed})

    def _reject(self, worker: OutboxWorker, msg_id: int, claim_id: int, message: str, *, code: str | None) -> None:
        with self.sessions() as db, db.begin():
            claim = db.get(Claim, claim_id, with_for_update=True)
            if claim.status == ClaimStatus.POSTING:
                claim.status = ClaimStatus.APPROVED     # back to the finance staff, with the system's words
            claim.posting_error = message
            self._audit(db, claim.org_id).record("claim.posting_rejected", "claim", claim.number,
                                                 message=message, code=code)
            worker.finish(msg_id, outcome="rejected", error=message, db=db, result={"code": code})

    # accounting.reverse --------------------------------------------------------
    def _reverse(self, worker: OutboxWorker, msg_id: int, payload: dict[str, Any], maybe_sent: bool) -> None:
        ref = payload["external_ref"]
        with self.sessions() as db:
            original = db.get(Voucher, payload["voucher_id"])
            system_id = original.system_id
            awaited = _awaited(db, msg_id)
        result: PostResult | None = None
        remote: RemoteVoucher | None = None
        try:
            if maybe_sent or awaited:
                remote = self.accounting.find_by_external_ref(ref)
                if remote is None and awaited:
                    worker.finish(msg_id, outcome="rejected", error=_vanished(awaited, self.accounting.name))
                    return
                result = PostResult.existing(remote) if remote is not None else None
            if result is None:
                result = self.accounting.reverse(system_id, date=dt.date.fromisoformat(payload["date"]),
                                                 reason=payload["reason"], external_ref=ref)
            if result.status is Outcome.POSTED and not result.withdrawn and remote is None:
                remote = self._read_back(result, ref)
        except AccountingError as exc:
            worker.finish(msg_id, outcome="retryable" if exc.retryable else "rejected", error=str(exc))
            return
        if result.status is not Outcome.POSTED:
            worker.finish(msg_id, outcome=result.status.value, error=result.message)
            return
        if not result.withdrawn:
            state = remote.status if remote is not None else result.remote_status
            if state is RemoteStatus.VOID:
                worker.finish(msg_id, outcome="rejected", error=f"红字冲销凭证 {result.voucher_number} 在记账系统中已作废")
                return
            if not has_reached(state, self.posted_when):
                self._await(worker, msg_id, result, state, "红字冲销凭证")
                return
        with self.sessions() as db, db.begin():
            original = db.get(Voucher, payload["voucher_id"])
            db.get(Claim, original.claim_id, with_for_update=True, populate_existing=True)
            red = record_reversal(db, original, voucher_number=result.voucher_number or "?",
                                  system_id=result.system_id, external_ref=ref,
                                  date=dt.date.fromisoformat(payload["date"]), reason=payload["reason"],
                                  source=self.accounting.name, revoke_posting_status=self.posting_purpose is not None,
                                  withdrawn=result.message if result.withdrawn else None)
            self._audit(db, original.org_id).record(
                "voucher.withdrawn" if result.withdrawn else "voucher.reversed", "voucher", original.id,
                reversal_id=red.id, number=red.display_number, reason=payload["reason"],
                **({"system_message": result.message} if result.withdrawn else {}))
            worker.finish(msg_id, outcome="posted", db=db,
                          result={"voucher_id": red.id, "voucher_number": red.display_number,
                                  "withdrawn": result.withdrawn})


def _awaited(db: Session, msg_id: int) -> dict[str, Any] | None:
    """What the system held when the message last waited for it (None if it never did)."""
    msg = db.get(OutboxMessage, msg_id)
    return (msg.result or {}).get("awaiting") if msg is not None else None


def _vanished(awaited: dict[str, Any], system: str) -> str:
    return (f"记账系统（{system}）中已找不到凭证 {awaited.get('voucher_number') or awaited.get('system_id')}"
            f"（此前状态：{awaited.get('status') or '未知'}），可能已被删除；请与会计核对后重新入账")


def record_reversal(db: Session, original: Voucher, *, voucher_number: str, system_id: str | None,
                    external_ref: str, date: dt.date, reason: str, source: str,
                    revoke_posting_status: bool = False, withdrawn: str | None = None) -> Voucher:
    """The red voucher (红字冲销): the original's entries with their amounts negated.

    ``withdrawn`` (the system's words) when the accounting system took the voucher back
    instead (not yet posted there: 反审核 + 删除, docs/accounting-systems.md): vouchers
    here are never edited, so the red record is how this archive says it no longer
    counts; it has no counterpart over there (no system id) and its number says so."""
    if withdrawn is not None:
        voucher_number, system_id = f"{original.voucher_number}-撤回-{original.id}", None
        reason = f"{reason}（{withdrawn}）"
    red = Voucher(
        org_id=original.org_id, claim_id=original.claim_id, voucher_word=original.voucher_word,
        voucher_number=voucher_number, fiscal_year=date.year, period=date.month, date=date,
        external_ref=external_ref, prepared_by=WORKER, debit_total=-original.debit_total,
        credit_total=-original.credit_total, attachment_count=0, source_system=source, reported_by=WORKER,
        system_id=system_id, red_flag=True, reverses_id=original.id, reason=reason)
    db.add(red)
    db.flush()
    mark = "撤回" if withdrawn is not None else "冲销"
    for e in original.entries:
        db.add(VoucherEntry(voucher_id=red.id, line_no=e.line_no,
                            summary=f"[{mark}{original.date:%Y.%m.%d} {original.display_number}号凭证]{e.summary}",
                            account_code=e.account_code, account_name=e.account_name,
                            debit=-e.debit, credit=-e.credit))
    original.claim.status = ClaimStatus.REVERSED
    for line in original.claim.lines:
        line.invoice.status = InvoiceStatus.REVERSED
    if revoke_posting_status:
        enqueue_posting_status(db, original, [line.invoice for line in original.claim.lines],
                               purpose=PostingPurpose.REVOKE, revoke=True)
    return red


# -- inbound: pulling what the accounting system holds ------------------------------

class SyncService:
    """`invoice-archive sync`: vouchers that carry one of our external references and
    have reached ``accounting.posted_when`` in the accounting system are linked to their claims."""

    def __init__(self, sessions: sessionmaker[Session], accounting: Any, *,
                 posted_when: RemoteStatus = RemoteStatus.POSTED) -> None:
        self.sessions = sessions
        self.accounting = accounting
        self.posted_when = RemoteStatus(posted_when)

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
        if not ref.startswith("IA-") or not has_reached(remote.status, self.posted_when):
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
        report = _report_from(remote, claim.number, remote.voucher_number, ref, remote.preparer or "记账系统", remote)
        VoucherService(db, audit, None, org_id=claim.org_id, actor="invoice-archive sync",
                       source_name=self.accounting.name).record_report(
            report, source=self.accounting.name, system_id=remote.system_id)
        outbox.settle(db, ref, {"linked_by": "sync"})
        return True


def build_worker(sessions: sessionmaker[Session], accounting: Any = None, mapping: AccountMapping | None = None, *,
                 taxplatform: Any = None, posting_purpose: PostingPurpose | None = None,
                 policy: WorkerPolicy = WorkerPolicy(), clock: Callable[[], dt.datetime] = utcnow,
                 posted_when: RemoteStatus = RemoteStatus.POSTED) -> OutboxWorker:
    """The worker for the systems it is given: accounting postings and reversals
    with an accounting system, 入账标识 with a tax platform (whose purpose the
    accounting handlers also need, to enqueue the status after posting)."""
    purpose = posting_purpose if is_configured(taxplatform) else None
    handlers: dict[str, outbox.Handler] = {}
    if is_configured(accounting):
        handlers.update(AccountingHandlers(sessions, accounting, mapping, posting_purpose=purpose,
                                           clock=clock, posted_when=posted_when).topics())
    if is_configured(taxplatform):
        handlers.update(PostingStatusHandler(taxplatform).topics())
    return OutboxWorker(sessions, handlers, policy=policy, clock=clock)


__all__ = ["AccountingHandlers", "SyncService", "build_worker", "enqueue_posting", "latest_posting_message",
           "outbox_status", "retry_stuck"]
