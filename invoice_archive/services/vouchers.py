"""Vouchers (记账凭证) reported by the accounting system: recorded once, linked to the
claim's invoices, immutable afterwards."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from invoice_archive import outbox
from invoice_archive.errors import Conflict, Invalid, NotFound
from invoice_archive.ports import IVoucherReportParser, is_configured
from invoice_archive.models import (
    ArchiveItem, Claim, ClaimStatus, InvoiceStatus, InvoiceVoucherLink, OutboxMessage, Voucher, VoucherEntry,
)
from invoice_archive.posting import TOPIC_POST, TOPIC_REVERSE
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.compliance import enqueue_posting_status
from invoice_archive.services.scoping import scoped_get

ZERO = Decimal("0.00")


def _same(voucher: Voucher, report: Any, external_ref: str) -> bool:
    """Whether a recorded voucher is the one reported (an idempotent replay)."""
    head = (voucher.voucher_word, voucher.voucher_number, voucher.fiscal_year, voucher.period,
            voucher.date, voucher.external_ref)
    if head != (report.voucher_word, report.voucher_number, report.fiscal_year, report.period,
                report.date, external_ref):
        return False
    ours = [(e.account_code, e.debit, e.credit) for e in voucher.entries]
    theirs = [(e.account_code, e.debit, e.credit) for e in report.entries]
    return ours == theirs


class VoucherService:
    def __init__(self, db: Session, audit: AuditLog, parse_report: Any, *, org_id: int, actor: str,
                 source_name: str, posting_status_purpose: Any = None) -> None:
        #: when set, each posted invoice's 入账标识 is sent to the tax platform (outbox)
        self.posting_status_purpose = posting_status_purpose
        self.db = db
        self.audit = audit
        self.parse_report = parse_report
        self.source_name = source_name
        self.org_id = org_id
        self.actor = actor

    @classmethod
    def factory(cls, context: Any, request: Any) -> VoucherService:
        accounting = request.registry.app_settings.accounting
        ident = request.identity
        purpose = (request.registry["compliance.policy"].posting_purpose
                   if is_configured(request.registry["taxplatform"]) else None)
        return cls(request.db, AuditLog.for_request(request), request.find_service(IVoucherReportParser),
                   org_id=ident.org_id, actor=ident.name, source_name=accounting.source_name,
                   posting_status_purpose=purpose)

    def get(self, voucher_id: Any) -> Voucher:
        return scoped_get(self.db, Voucher, voucher_id, self.org_id)

    def related(self, v: Voucher) -> dict[str, Any]:
        """What a voucher's rendering shows beside the row: its archive item and
        the red voucher that reverses it."""
        return {
            "archive_item_id": self.db.execute(
                select(ArchiveItem.id).where(ArchiveItem.voucher_id == v.id)).scalar_one_or_none(),
            "reversed_by_id": self.db.execute(
                select(Voucher.id).where(Voucher.reverses_id == v.id)).scalar_one_or_none(),
        }

    def reverse(self, voucher_id: Any, *, date: dt.date, reason: str) -> OutboxMessage:
        """Queue the red voucher (红字冲销) for the accounting system. The claim's row
        is locked before anything is read, so of two concurrent requests one
        queues and the other gets a 409."""
        voucher = self.get(voucher_id)
        scoped_get(self.db, Claim, voucher.claim_id, self.org_id, for_update=True)
        if voucher.red_flag:
            raise Conflict(f"凭证 {voucher.display_number} 本身是冲销凭证，不能再冲销。", code="voucher_is_reversal")
        if voucher.claim.status == ClaimStatus.REVERSED:
            raise Conflict(f"凭证 {voucher.display_number} 已经冲销。", code="already_reversed")
        if not voucher.system_id:
            raise Invalid(f"凭证 {voucher.display_number} 由记账系统自行录入，请在记账系统中冲销后由系统同步。",
                          code="reversal_not_supported")
        ref = f"{voucher.external_ref}-R"
        queued = outbox.by_key(self.db, ref)
        if queued is not None:
            raise Conflict(f"凭证 {voucher.display_number} 的冲销已于 {queued.created_at:%Y-%m-%d %H:%M} 提交记账系统"
                           f"（{ref}，{outbox.STATUS_ZH.get(queued.status, queued.status)}），不能重复冲销。",
                           code="reversal_already_requested",
                           detail={"external_ref": ref, "status": queued.status, "last_error": queued.last_error})
        msg = outbox.enqueue(self.db, org_id=voucher.org_id, topic=TOPIC_REVERSE, dedupe_key=ref,
                             payload={"voucher_id": voucher.id, "external_ref": ref, "date": date.isoformat(),
                                      "reason": reason})
        self.audit.record("voucher.reversal_requested", "voucher", voucher.id, reason=reason, external_ref=ref)
        return msg

    def parse(self, payload: dict[str, Any]) -> Any:
        try:
            return self.parse_report(payload)
        except Exception as exc:   # the adapter's own error type carries .code and .message
            code = getattr(exc, "code", None)
            if code is None:
                raise
            raise Invalid(getattr(exc, "message", str(exc)), code=code) from exc

    def record(self, payload: dict[str, Any]) -> tuple[Voucher, bool]:
        """Record a posted voucher reported over the API. Returns (voucher, created)."""
        return self.record_report(self.parse(payload), source=self.source_name, reported=True)

    def record_report(self, report: Any, *, source: str, system_id: str | None = None,
                      reported: bool = False) -> tuple[Voucher, bool]:
        """Record a voucher the accounting system holds (reported over the API, posted
        by the worker, or found by sync). Idempotent: the same voucher again returns it.

        A claim queued for posting (入账中) belongs to the worker: a report over the
        API is accepted only when it is that very voucher (it carries the queued
        external reference, and the message is then settled); any other voucher
        would be a second one in the accounting system, so it is refused."""
        external_ref = report.external_ref or (
            f"{source}:{report.fiscal_year}:{report.voucher_word}-{report.voucher_number}")
        display = f"{report.voucher_word}-{report.voucher_number}"

        claim = self.db.execute(
            select(Claim).where(Claim.org_id == self.org_id, Claim.number == report.claim_number).with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if claim is None:
            raise NotFound(f"报销单 {report.claim_number} 不存在", code="claim_not_found")

        clash = self.db.execute(
            select(Voucher).where(Voucher.org_id == self.org_id, or_(
                Voucher.claim_id == claim.id,
                Voucher.external_ref == external_ref,
                (Voucher.fiscal_year == report.fiscal_year) & (Voucher.voucher_word == report.voucher_word)
                & (Voucher.voucher_number == report.voucher_number),
            ))
        ).scalars().first()
        if clash is not None:
            if clash.claim_id == claim.id and _same(clash, report, external_ref):
                return clash, False
            raise Conflict(
                f"凭证 {clash.voucher_word}-{clash.voucher_number}（{clash.fiscal_year}年{clash.period}月）已为报销单 "
                f"{clash.claim.number} 入账，不能重复入账。",
                code="duplicate_posting",
                detail={"voucher_id": clash.id, "claim_number": clash.claim.number,
                        "voucher_number": f"{clash.voucher_word}-{clash.voucher_number}",
                        "external_ref": clash.external_ref})
        queued = None
        if reported and claim.status == ClaimStatus.POSTING:
            queued = outbox.latest(self.db, TOPIC_POST, key="claim_id", value=claim.id)
            if queued is not None and queued.dedupe_key != external_ref:
                raise Conflict(
                    f"报销单 {claim.number} 已交记账系统自动入账（外部参考号 {queued.dedupe_key}），"
                    "不能再手工报告另一张凭证，否则记账系统中会有两张凭证。请等待自动入账结果，"
                    "或在记账系统中核对该参考号的凭证。",
                    code="claim_posting_queued",
                    detail={"external_ref": queued.dedupe_key, "outbox_status": queued.status,
                            "attempts": queued.attempts, "last_error": queued.last_error})
        if claim.status not in (ClaimStatus.APPROVED, ClaimStatus.POSTING):
            raise Conflict(f"报销单 {claim.number} 尚未审批（当前状态 {claim.status}），不能入账。",
                           code="claim_not_approved", detail={"status": claim.status})

        debit = sum((e.debit for e in report.entries), ZERO)
        credit = sum((e.credit for e in report.entries), ZERO)
        if debit != credit:
            raise Invalid(f"凭证 {display} 借贷不平衡：借方 {debit}，贷方 {credit}。", code="voucher_unbalanced",
                          detail={"debit_total": str(debit), "credit_total": str(credit)})
        if debit != claim.total:
            raise Invalid(f"凭证 {display} 金额 {debit} 与报销单 {claim.number} 金额 {claim.total} 不一致。",
                          code="voucher_amount_mismatch",
                          detail={"voucher_total": str(debit), "claim_total": str(claim.total)})

        voucher = Voucher(
            org_id=self.org_id, claim_id=claim.id, voucher_word=report.voucher_word,
            voucher_number=report.voucher_number, fiscal_year=report.fiscal_year, period=report.period,
            date=report.date, external_ref=external_ref, prepared_by=report.prepared_by,
            reviewed_by=report.reviewed_by, posted_by=report.posted_by, debit_total=debit,
            credit_total=credit, attachment_count=len(claim.lines), source_system=source,
            reported_by=self.actor, system_id=system_id,
        )
        try:
            with self.db.begin_nested():
                self.db.add(voucher)
                self.db.flush()
                for n, e in enumerate(report.entries, start=1):
                    self.db.add(VoucherEntry(voucher_id=voucher.id, line_no=n, summary=e.summary,
                                             account_code=e.account_code, account_name=e.account_name,
                                             debit=e.debit, credit=e.credit))
                for line in claim.lines:
                    self.db.add(InvoiceVoucherLink(invoice_id=line.invoice_id, voucher_id=voucher.id))
                    line.invoice.status = InvoiceStatus.POSTED
                    line.invoice.posted_fiscal_year = voucher.fiscal_year
                    line.invoice.posted_period = voucher.period
                self.db.flush()
        except IntegrityError:
            raise Conflict(f"凭证 {display} 或报销单 {claim.number} 的发票已入账，不能重复入账。",
                           code="duplicate_posting") from None
        claim.status = ClaimStatus.POSTED
        claim.posting_error = None
        if queued is not None:
            # the system reported the voucher our message asked for: settled
            outbox.settle(self.db, queued.dedupe_key, {"voucher_id": voucher.id, "linked_by": "report"})
        if self.posting_status_purpose is not None:
            enqueue_posting_status(self.db, voucher, [line.invoice for line in claim.lines],
                                   purpose=self.posting_status_purpose)
        self.audit.record("voucher.posted", "voucher", voucher.id, number=display,
                          fiscal_year=voucher.fiscal_year, period=voucher.period, claim=claim.number,
                          external_ref=external_ref, total=str(debit))
        return voucher, True
