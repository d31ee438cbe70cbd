"""Compliance before money moves: business rules, the tax platform's check (查验),
red-letter invoices, and the posting status (入账标识) sent back to the platform.

The rules and the platform port are pure (invoice_archive.rules,
invoice_archive.ports.taxplatform); this module keeps their answers in the database.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_archive import outbox
from invoice_archive.db import utcnow
from invoice_archive.errors import DomainError
from invoice_archive.formats import InvoiceDocument
from invoice_archive.models import (
    Alert, Claim, ClaimInvoice, Invoice, InvoiceVoucherLink, Organisation, OutboxMessage, TaxCheck, Voucher,
)
from invoice_archive.posting.drafting import business_date
from invoice_archive.rules import CategoryPolicy, Organisation as RulesOrg, RulesContext, evaluate
from invoice_archive.services.audit import AuditLog
from invoice_archive.settings import Settings
from invoice_archive.ports.taxplatform import (
    CheckQuery, CheckStatus, PostingPurpose, PostingStatus, TaxPlatformError, posting_key_prefix,
)
from invoice_archive.rules.tax_checks import CheckBudget, not_checkable_online

log = logging.getLogger(__name__)

TOPIC_POSTING_STATUS = "tax.posting_status"


@dataclass(frozen=True)
class CompliancePolicy:
    """What the settings say about compliance (parsed once, at start-up)."""

    categories: CategoryPolicy | None = None
    posting_purpose: PostingPurpose = PostingPurpose.POSTED_EIT_DEDUCTIBLE
    max_age_days: int = 365

    @classmethod
    def from_settings(cls, settings: Settings) -> CompliancePolicy:
        return cls(categories=settings.rules.categories, posting_purpose=settings.taxplatform.posting_purpose,
                   max_age_days=settings.taxplatform.max_age_days)


class OrganisationNames:
    """An organisation's name and tax id as the rules compare them, read once per
    process and kept for ``ttl`` seconds: intake asks for them on every invoice,
    and they change (if ever) by an administrator's hand, not by the service."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._rows: dict[int, tuple[float, RulesOrg]] = {}

    def get(self, db: Session, org_id: int) -> RulesOrg:
        now = time.monotonic()
        hit = self._rows.get(org_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        name, tax_id = db.execute(select(Organisation.name, Organisation.tax_id)
                                  .where(Organisation.id == org_id)).one()
        org = RulesOrg(name, tax_id)
        self._rows[org_id] = (now + self.ttl, org)
        return org


def rules_report(doc: InvoiceDocument, org: Organisation | RulesOrg, policy: CompliancePolicy, *,
                 category: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    org = org if isinstance(org, RulesOrg) else RulesOrg(org.name, org.tax_id)
    ctx = RulesContext(today=business_date(now or utcnow()), organisation=org,
                       category=category, policy=policy.categories if category else None)
    return evaluate(doc, ctx).to_dict()


# -- the tax platform's check ----------------------------------------------------

class TaxChecker:
    def __init__(self, db: Session, platform: Any, *, budget: CheckBudget = CheckBudget(), max_age_days: int = 365,
                 clock: Any = utcnow) -> None:
        self.db = db
        self.platform = platform
        self.budget = budget
        self.max_age_days = max_age_days
        self.clock = clock

    def check(self, invoice: Invoice, doc: InvoiceDocument, *, requested_by: str, explicit: bool = False) -> TaxCheck | None:
        """Ask the platform about the invoice and keep the answer. At intake
        (explicit=False) an exhausted budget or an outage is no error: the
        answer is simply missing, and a person can ask again later."""
        if self.platform is None:
            return None
        now = self.clock()
        query = CheckQuery.from_document(doc)
        if not_checkable_online(query, now, max_age_days=self.max_age_days):
            return self._keep(invoice, now, "local", CheckStatus.NOT_CHECKABLE_ONLINE.value, [],
                              {"message": f"开票超过 {self.max_age_days} 天，税务平台不再提供在线查验；不视为查验失败。"},
                              requested_by)
        earlier = self.db.execute(select(TaxCheck.checked_at).where(
            TaxCheck.invoice_id == invoice.id, TaxCheck.source != "local")).scalars().all()
        decision = self.budget.decide(earlier, now)
        if not decision.allowed:
            if explicit:
                raise DomainError(decision.message or "今日查验次数已用完", code="tax_check_budget_exhausted",
                                  status=429, detail=decision.to_dict())
            return None
        try:
            result = self.platform.check(query)
        except TaxPlatformError as exc:
            log.warning("tax platform check of %s failed: %s", invoice.business_key, exc)
            if explicit:
                raise DomainError(f"税务平台查验失败：{exc.message}", code=f"tax_platform_{exc.code}",
                                  status=503 if exc.retryable else 502) from exc
            return None
        discrepancies = list(result.discrepancies(doc)) if result.status is CheckStatus.NORMAL else []
        return self._keep(invoice, result.checked_at, result.source, result.status.value, discrepancies,
                          result.to_dict(), requested_by)

    def _keep(self, invoice: Invoice, at: dt.datetime, source: str, status: str, discrepancies: list[str],
              result: dict[str, Any], requested_by: str) -> TaxCheck:
        row = TaxCheck(org_id=invoice.org_id, invoice_id=invoice.id, checked_at=at, source=source, status=status,
                       discrepancies=discrepancies, result=result, requested_by=requested_by)
        self.db.add(row)
        if status != CheckStatus.UNAVAILABLE.value:
            invoice.tax_status = "mismatch" if discrepancies else status
            invoice.tax_checked_at = at
        return row


def latest_tax_check(db: Session, invoice_id: int) -> TaxCheck | None:
    return db.execute(select(TaxCheck).where(TaxCheck.invoice_id == invoice_id)
                      .order_by(TaxCheck.checked_at.desc(), TaxCheck.id.desc()).limit(1)).scalar_one_or_none()


# -- red-letter invoices ------------------------------------------------------------

def reversing_red_invoice(db: Session, blue: Invoice) -> Invoice | None:
    """The red invoice that reverses this blue one, if it has arrived."""
    if not blue.number:
        return None
    return db.execute(select(Invoice).where(Invoice.org_id == blue.org_id, Invoice.is_red.is_(True),
                                            Invoice.original_number == blue.number)).scalars().first()


def red_invoice_arrived(db: Session, red: Invoice, audit: AuditLog) -> Alert | None:
    """A red invoice for a blue one already reimbursed or posted: the claim (and
    voucher) need a reversal. Raised as an alert, visible in the API and the log."""
    if not red.original_number:
        return None
    blue = db.execute(select(Invoice).where(Invoice.org_id == red.org_id, Invoice.is_red.is_(False),
                                            Invoice.number == red.original_number)).scalars().first()
    if blue is None:
        return None
    claim = db.execute(select(Claim).join(ClaimInvoice).where(
        ClaimInvoice.invoice_id == blue.id, ClaimInvoice.released_at.is_(None))).scalar_one_or_none()
    if claim is None:
        audit.record("invoice.red_reversed", "invoice", blue.id, red_invoice_id=red.id, red_number=red.number)
        return None
    voucher = db.execute(select(Voucher).join(InvoiceVoucherLink).where(
        InvoiceVoucherLink.invoice_id == blue.id, Voucher.reverses_id.is_(None))).scalar_one_or_none()
    where = f"报销单 {claim.number}" + (f"、凭证 {voucher.display_number}" if voucher else "")
    message = (f"发票 {blue.number} 已被红字发票 {red.number} 冲销，而它已在{where}中报销"
               f"{'并入账' if voucher else ''}：须追回款项并{'以红字凭证冲销该凭证' if voucher else '退回该报销单'}。")
    alert = Alert(org_id=red.org_id, kind="reversal_required", message=message, invoice_id=blue.id,
                  cause_invoice_id=red.id, claim_id=claim.id, voucher_id=voucher.id if voucher else None)
    db.add(alert)
    claim.reversal_required_at = utcnow()
    audit.record("claim.reversal_required", "claim", claim.number, blue_invoice=blue.number,
                 red_invoice=red.number, voucher=voucher.display_number if voucher else None)
    return alert


def open_alerts(db: Session, *, claim_id: int | None = None, invoice_id: int | None = None) -> list[Alert]:
    stmt = select(Alert).where(Alert.resolved_at.is_(None))
    if claim_id is not None:
        stmt = stmt.where(Alert.claim_id == claim_id)
    if invoice_id is not None:
        stmt = stmt.where(Alert.invoice_id == invoice_id)
    return list(db.execute(stmt.order_by(Alert.id)).scalars())


# -- posting status (入账标识) towards the tax platform --------------------------------

def enqueue_posting_status(db: Session, voucher: Voucher, invoices: list[Invoice], *,
                           purpose: PostingPurpose, revoke: bool = False) -> None:
    period = f"{voucher.fiscal_year}{voucher.period:02d}"
    for inv in invoices:
        status = (PostingStatus.revoked(inv.business_key, period=period) if revoke
                  else PostingStatus.posted(inv.business_key, period, purpose=purpose))
        outbox.enqueue(db, org_id=voucher.org_id, topic=TOPIC_POSTING_STATUS, dedupe_key=status.idempotency_key,
                payload={"invoice_id": inv.id, **status.to_dict()})


def posting_status_messages(db: Session, invoice: Invoice) -> list[OutboxMessage]:
    """The invoice's 入账标识 messages to the tax platform, oldest first (each one's
    delivery is what an evaluator checks: docs/tax-platform.md)."""
    rows = db.execute(select(OutboxMessage).where(
        OutboxMessage.org_id == invoice.org_id, OutboxMessage.topic == TOPIC_POSTING_STATUS,
        OutboxMessage.dedupe_key.startswith(posting_key_prefix(invoice.business_key), autoescape=True))
        .order_by(OutboxMessage.id)).scalars()
    return [m for m in rows if (m.payload or {}).get("invoice_id") == invoice.id]


def posting_status_from_payload(payload: Mapping[str, Any]) -> PostingStatus:
    return PostingStatus(business_key=payload["business_key"], state=payload["state"], purpose=payload["purpose"],
                         idempotency_key=payload["idempotency_key"], period=payload.get("period"))


class PostingStatusHandler:
    """The outbox handler that sends one invoice's 入账标识. The idempotency key
    makes a resend after a lost reply harmless: the platform recognises it."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform

    def topics(self) -> dict[str, outbox.Handler]:
        return {TOPIC_POSTING_STATUS: self}

    def __call__(self, worker: outbox.OutboxWorker, msg_id: int, payload: dict[str, Any], maybe_sent: bool) -> None:
        try:
            ack = self.platform.report_posting(posting_status_from_payload(payload))
        except TaxPlatformError as exc:
            worker.finish(msg_id, outcome="retryable" if exc.retryable else "rejected", error=str(exc))
            return
        worker.finish(msg_id, outcome="done", result=ack.to_dict())


__all__ = ["CompliancePolicy", "PostingStatusHandler", "TaxChecker", "enqueue_posting_status", "latest_tax_check",
           "OrganisationNames", "open_alerts", "posting_status_messages",
           "red_invoice_arrived", "reversing_red_invoice", "rules_report"]
