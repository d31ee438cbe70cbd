"""Archiving a period's books, reports and other records (docs/records.md):
``POST /api/v1/archive/records`` and ``invoice-archive archive-records``.

From the accounting system (through the IAccountingRecords port): the period's
general ledger, subsidiary ledger, cash and bank journals (class ZB, 30 years) and the
reports whose span ends with the period (class BG: monthly, quarterly and half-year
10 years, annual 永久). From intake: the bank statements (银行对账单, 10 years) and the
bank receipts no claim holds (银行电子回单, an original voucher, 30 years) of the
period (class QT). Each is one item, filed by services/filing.py; a record archived
before is reported as such, not archived twice. Only a period that has ended may be
archived: its books are closed then, and an export is the same every time.
"""
from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from invoice_archive.archive.checks import Waiver
from invoice_archive.db import utcnow
from invoice_archive.archive.records import (
    KINDS, document_number, ledger_xml, received_record_xml, report_xml, title,
)
from invoice_archive.errors import Conflict, DomainError, Invalid
from invoice_archive.models import ArchiveItem, Invoice, InvoiceStatus
from invoice_archive.ports import is_configured
from invoice_archive.ports.accounting import AccountingError, IAccountingRecords
from invoice_archive.services.filing import (
    Attachment, Filing, RecordCheckFailed, RecordDraft, china_today, file_once,
)
from invoice_archive.services.scoping import original_bytes

SOURCES = ("accounting_system", "intake")
INTAKE_KINDS = ("bank_statement", "bank_receipt")


class AccountingUnavailable(DomainError):
    status = 503
    code = "accounting_system_unavailable"


@dataclass
class RecordRun:
    archived: list[ArchiveItem] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def last_day(fiscal_year: int, period: int) -> dt.date:
    return dt.date(fiscal_year, period, calendar.monthrange(fiscal_year, period)[1])


def _statement_period(inv: Invoice) -> tuple[int, int] | None:
    """The month a bank statement covers (its YYYYMM), else the month it was issued."""
    text = str((inv.document or {}).get("extra", {}).get("period") or "")
    if len(text) == 6 and text.isdigit() and 1 <= int(text[4:]) <= 12:
        return int(text[:4]), int(text[4:])
    return (inv.issue_date.year, inv.issue_date.month) if inv.issue_date else None


class RecordService:
    def __init__(self, filing: Filing, *, accounting: Any, source_name: str) -> None:
        self.filing = filing
        self.db = filing.db
        self.accounting = accounting
        self.source_name = source_name

    @classmethod
    def factory(cls, context: Any, request: Any) -> RecordService:
        settings = request.registry.app_settings.accounting
        return cls(Filing.for_request(request), accounting=_adapter(request), source_name=settings.backend)

    # -- the run -------------------------------------------------------------------------------
    def archive_period(self, fiscal_year: int, period: int, *, sources: Iterable[str] | None = None,
                       waivers: Iterable[Waiver] = ()) -> RecordRun:
        if not 1 <= int(period) <= 12:
            raise Invalid(f"会计期间 {period} 不在 1-12 之间。", code="invalid_period")
        end = last_day(fiscal_year, period)
        if end >= china_today():
            raise Conflict(f"{fiscal_year}年{period}月尚未结束（{end} 之后才能归档）：账簿和报表须在期末结账后归档。",
                           code="period_not_ended", detail={"fiscal_year": fiscal_year, "period": period})
        configured = self.accounting is not None and is_configured(self.accounting)
        chosen = list(dict.fromkeys(sources or (SOURCES if configured else ("intake",))))
        unknown = [s for s in chosen if s not in SOURCES]
        if unknown or not chosen:
            raise Invalid(f"未知的来源：{'、'.join(unknown) or '（未给出）'}；可选 {', '.join(SOURCES)}。",
                          code="invalid_source", detail={"unknown": unknown})
        if "accounting_system" in chosen and not configured:
            raise Conflict("未配置记账系统（accounting.backend），不能从记账系统导出账簿和报表；只归档银行对账单等接收的资料时，"
                           "请求 sources 为 [\"intake\"]。", code="accounting_system_unconfigured")
        if "accounting_system" in chosen and not IAccountingRecords.providedBy(self.accounting):
            raise Conflict(f"所配置的记账系统适配器（{self.source_name}）不能导出账簿和报表。",
                           code="accounting_records_unsupported")
        run = RecordRun(sources=chosen)
        waivers = list(waivers)
        drafts: list[tuple[RecordDraft, Invoice | None]] = []
        if "accounting_system" in chosen:
            drafts += [(d, None) for d in self._exported(fiscal_year, period)]
        if "intake" in chosen:
            drafts += self._received(fiscal_year, period)
        for draft, invoice in drafts:
            try:
                item, new = file_once(self.filing, draft, waivers)
            except RecordCheckFailed as exc:
                run.failed.append(exc.as_dict())
                self.filing.audit.record("archive.check_failed", "record", draft.record_key, codes=exc.codes,
                                         not_performed=exc.blocking)
                continue
            (run.archived.append(item) if new else run.already.append(item.archival_code))
            if invoice is not None and invoice.status == InvoiceStatus.RECEIVED:
                invoice.status = InvoiceStatus.ARCHIVED
        self.filing.audit.record("archive.records_run", "period", f"{fiscal_year}-{period:02d}", sources=chosen,
                                 archived=[i.archival_code for i in run.archived], already=run.already,
                                 failed=[f["document_number"] for f in run.failed])
        return run

    # -- from the accounting system -------------------------------------------------------------------
    def _exported(self, fiscal_year: int, period: int) -> list[RecordDraft]:
        try:
            ledgers = self.accounting.export_ledgers(fiscal_year, period)
            reports = self.accounting.export_reports(fiscal_year, period)
        except AccountingError as exc:
            raise AccountingUnavailable(f"从记账系统导出 {fiscal_year}年{period}月的账簿和报表失败：{exc.message}"
                                        + ("（可稍后重试）" if exc.retryable else ""),
                                        code="accounting_export_failed", status=503 if exc.retryable else 502,
                                        detail={"accounting_code": exc.code, "retryable": exc.retryable}) from exc
        finally:
            close = getattr(self.accounting, "close", None)
            if close is not None:
                close()
        system = getattr(self.accounting, "name", self.source_name) or "accounting_system"
        now = utcnow().isoformat()
        drafts = []
        for doc in [*ledgers, *reports]:
            if (doc.fiscal_year, doc.period) != (fiscal_year, period):
                raise AccountingUnavailable(f"记账系统导出的 {doc.kind} 属于 {doc.fiscal_year}年{doc.period}月，"
                                            f"不是所请求的 {fiscal_year}年{period}月。", code="accounting_export_invalid",
                                            status=502)
            is_ledger = doc.kind in ("general_ledger", "subsidiary_ledger", "cash_journal", "bank_journal")
            xml = ledger_xml(doc, source_system=system) if is_ledger else report_xml(doc, source_system=system)
            number = document_number(doc.kind, fiscal_year, period)
            prepared = doc.prepared_by or system
            reviewed = doc.reviewed_by if is_ledger else doc.chief_accountant
            drafts.append(RecordDraft(
                kind=doc.kind, fiscal_year=fiscal_year, period=period, document_number=number,
                title=title(doc.kind, fiscal_year, period), record_xml=xml, date=last_day(fiscal_year, period),
                prepared_by=prepared, reviewed_by=reviewed if reviewed != prepared else None, source_system=system,
                origin={"action": "record.exported", "at": now, "actor": system,
                        "description": f"记账系统导出{KINDS[doc.kind].name} {number}"}))
        return drafts

    # -- from intake: bank statements and receipts ---------------------------------------------------
    def _received(self, fiscal_year: int, period: int) -> list[tuple[RecordDraft, Invoice]]:
        rows = self.db.execute(select(Invoice).where(
            Invoice.org_id == self.filing.org_id, Invoice.kind.in_(INTAKE_KINDS),
            Invoice.status.in_((InvoiceStatus.RECEIVED, InvoiceStatus.ARCHIVED))).order_by(Invoice.id)).scalars()
        out = []
        for inv in rows:
            if _statement_period(inv) != (fiscal_year, period):
                continue
            if inv.status == InvoiceStatus.ARCHIVED and not self._archived_as_record(inv):
                continue   # archived with a voucher's claim: it belongs to that item
            out.append((self._received_draft(inv, fiscal_year, period), inv))
        return out

    def _archived_as_record(self, inv: Invoice) -> bool:
        return self.db.execute(select(ArchiveItem.id).where(
            ArchiveItem.invoice_id == inv.id, ArchiveItem.withdrawn_at.is_(None))).first() is not None

    def _received_draft(self, inv: Invoice, fiscal_year: int, period: int) -> RecordDraft:
        kind = inv.kind
        doc = inv.document or {}
        extra = doc.get("extra", {})
        issuer = inv.seller_name if kind == "bank_receipt" else (doc.get("issuer") or inv.code or "开户银行")
        number = f"{KINDS[kind].prefix}-{inv.business_key}"
        data = original_bytes(self.filing.store, inv)
        name = "银行对账单" if kind == "bank_statement" else "银行电子回单"
        account = extra.get("account") or extra.get("payer_account") or ""
        span = f"{fiscal_year}年{period}月"
        title_text = (f"{span}银行对账单（账号 {account}）" if kind == "bank_statement"
                      else f"银行电子回单 {inv.number or inv.business_key}（{inv.issue_date}）")
        fields = {"issuer": issuer or inv.code, "account": account, "account_name": inv.buyer_name,
                  "date": inv.issue_date.isoformat() if inv.issue_date else "",
                  "amount": f"{inv.total:.2f}" if inv.total is not None else "", "currency": extra.get("currency"),
                  "closing_balance": extra.get("closing_balance"), "business_key": inv.business_key,
                  "verdict": inv.verdict}
        xml = received_record_xml(kind, number=number, title_text=title_text, fiscal_year=fiscal_year,
                                  period=period, fields=fields, original_name=inv.filename or f"original.{inv.source_format}",
                                  original_sha256=inv.sha256)
        date = inv.issue_date if kind == "bank_receipt" and inv.issue_date else last_day(fiscal_year, period)
        if (date.year, date.month) != (fiscal_year, period):
            date = last_day(fiscal_year, period)
        return RecordDraft(
            kind=kind, fiscal_year=fiscal_year, period=period, document_number=number, title=title_text,
            record_xml=xml, date=date, prepared_by=str(fields["issuer"] or name), source_system="intake",
            origin={"action": "record.received", "at": inv.received_at.isoformat(), "actor": inv.received_by,
                    "description": f"接收{name} {inv.business_key}"},
            attachments=[Attachment("原件", data, inv.source_format, "original")],
            relations=[{"type": "原件", "target": inv.business_key}],
            signatures=[{"object": inv.business_key, "verdict": inv.verdict,
                         "verified_at": (inv.verification or {}).get("verified_at"),
                         "verifier": (inv.verification or {}).get("verifier_version")}],
            invoice_id=inv.id)


def _adapter(request: Any) -> Any:
    """The accounting system's adapter for this request (None without accounting.backend)."""
    settings = request.registry.app_settings.accounting
    if not settings.backend:
        return None
    return request.registry["accounting.adapter_class"](settings.options)


__all__ = ["AccountingUnavailable", "RecordRun", "RecordService", "last_day"]
