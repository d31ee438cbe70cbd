"""Views for invoices, claims, vouchers, archive items and the audit log."""
from __future__ import annotations

import base64
import hashlib
import datetime as dt
from typing import Any
from urllib.parse import quote

from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config
from sqlalchemy import func, select, text

from invoice_archive import __version__
from invoice_archive.errors import NotFound
from invoice_archive.interfaces import IArchiveStore
from invoice_archive.db import utcnow
from invoice_archive.models import (
    ArchiveItem, AuditEvent, Claim, ClaimInvoice, Invoice, InvoiceVoucherLink, OutboxMessage, Voucher,
)
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.compliance import latest_tax_check, open_alerts
from invoice_archive.security import Permissions as P
from invoice_archive.services.archive import ArchiveService
from invoice_archive.services.claims import ClaimService
from invoice_archive.services.intake import IntakeService
from invoice_archive.services.posting import is_stuck, latest_posting_message
from invoice_archive.services.vouchers import VoucherService
from invoice_archive.views.api import api_view, json_body, query_int


# -- renderings ---------------------------------------------------------------

def invoice_json(inv: Invoice, *, db: Any = None) -> dict[str, Any]:
    out = {
        "id": inv.id, "business_key": inv.business_key, "kind": inv.kind, "source_format": inv.source_format,
        "code": inv.code, "number": inv.number, "issue_date": inv.issue_date,
        "seller": {"name": inv.seller_name, "tax_id": inv.seller_tax_id},
        "buyer": {"name": inv.buyer_name, "tax_id": inv.buyer_tax_id},
        "amount_excl_tax": inv.amount_excl_tax, "tax": inv.tax, "total": inv.total,
        "is_red": inv.is_red, "original_number": inv.original_number, "status": inv.status,
        "filename": inv.filename, "size_bytes": inv.size_bytes, "sha256": inv.sha256, "sm3": inv.sm3,
        "verdict": inv.verdict, "verification": inv.verification, "document": inv.document,
        "received_at": inv.received_at, "received_by": inv.received_by,
        "rules": inv.rules, "tax_status": inv.tax_status, "tax_checked_at": inv.tax_checked_at,
    }
    if db is not None:
        check = latest_tax_check(db, inv.id)
        out["tax_check"] = None if check is None else {
            "status": check.status, "checked_at": check.checked_at, "source": check.source,
            "discrepancies": check.discrepancies, "requested_by": check.requested_by}
        out["alerts"] = [alert_json(a) for a in open_alerts(db, invoice_id=inv.id)]
        claim = db.execute(select(Claim).join(ClaimInvoice).where(
            ClaimInvoice.invoice_id == inv.id, ClaimInvoice.released_at.is_(None))).scalar_one_or_none()
        out["claim"] = None if claim is None else {"id": claim.id, "number": claim.number, "status": claim.status}
        voucher = db.execute(select(Voucher).join(InvoiceVoucherLink).where(
            InvoiceVoucherLink.invoice_id == inv.id)).scalar_one_or_none()
        out["voucher"] = None if voucher is None else {
            "id": voucher.id, "number": f"{voucher.voucher_word}-{voucher.voucher_number}",
            "fiscal_year": voucher.fiscal_year, "period": voucher.period}
    return out


def alert_json(a: Any) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "message": a.message, "invoice_id": a.invoice_id,
            "cause_invoice_id": a.cause_invoice_id, "claim_id": a.claim_id, "voucher_id": a.voucher_id,
            "created_at": a.created_at}


def claim_json(claim: Claim, db: Any) -> dict[str, Any]:
    voucher = db.execute(select(Voucher).where(Voucher.claim_id == claim.id, Voucher.reverses_id.is_(None))
                         ).scalar_one_or_none()
    outbox = latest_posting_message(db, claim.id)
    return {
        "id": claim.id, "number": claim.number, "title": claim.title, "expense_category": claim.expense_category,
        "claimant": claim.claimant, "status": claim.status, "total": claim.total, "created_at": claim.created_at,
        "refusal_reason": claim.refusal_reason, "posting_error": claim.posting_error,
        "reversal_required": claim.reversal_required_at is not None,
        "alerts": [alert_json(a) for a in open_alerts(db, claim_id=claim.id)],
        "posting": None if outbox is None else {
            "external_ref": outbox.dedupe_key, "status": outbox.status, "attempts": outbox.attempts,
            "last_outcome": outbox.last_outcome, "last_error": outbox.last_error,
            "available_at": outbox.available_at, "stuck": is_stuck(outbox)},
        "invoices": [invoice_json(line.invoice) for line in claim.lines],
        "signoffs": [{"step": s.step, "actor": s.actor, "role": s.role, "at": s.at, "comment": s.comment}
                     for s in claim.signoffs],
        "voucher": None if voucher is None else {"id": voucher.id,
                                                 "number": f"{voucher.voucher_word}-{voucher.voucher_number}"},
    }


def voucher_json(v: Voucher, db: Any) -> dict[str, Any]:
    item_id = db.execute(select(ArchiveItem.id).where(ArchiveItem.voucher_id == v.id)).scalar_one_or_none()
    return {
        "id": v.id, "claim_number": v.claim.number, "voucher_word": v.voucher_word,
        "voucher_number": v.voucher_number, "display_number": f"{v.voucher_word}-{v.voucher_number}",
        "fiscal_year": v.fiscal_year, "period": v.period, "date": v.date, "external_ref": v.external_ref,
        "prepared_by": v.prepared_by, "reviewed_by": v.reviewed_by, "posted_by": v.posted_by,
        "debit_total": v.debit_total, "credit_total": v.credit_total, "attachment_count": v.attachment_count,
        "source_system": v.source_system,
        "entries": [{"line_no": e.line_no, "summary": e.summary, "account_code": e.account_code,
                     "account_name": e.account_name, "debit": e.debit, "credit": e.credit} for e in v.entries],
        "invoice_ids": [link.invoice_id for link in v.links],
        "archive_item_id": item_id, "system_id": v.system_id, "red_flag": v.red_flag,
        "reverses_id": v.reverses_id, "reason": v.reason,
        "reversed_by_id": db.execute(select(Voucher.id).where(Voucher.reverses_id == v.id)).scalar_one_or_none(),
    }


def item_json(item: ArchiveItem) -> dict[str, Any]:
    v = item.voucher
    return {
        "id": item.id, "archival_code": item.archival_code, "fonds_code": item.fonds_code,
        "class_code": item.class_code, "volume_no": item.volume_no, "item_no": item.item_no,
        "fiscal_year": item.fiscal_year, "period": item.period, "retention": item.retention,
        "retention_until": item.retention_until, "voucher_id": item.voucher_id,
        "voucher_number": f"{v.voucher_word}-{v.voucher_number}", "package_sha256": item.package_sha256,
        "package_sm3": item.package_sm3, "package_size": item.package_size, "archived_at": item.archived_at,
        "archived_by": item.archived_by, "manifest": item.manifest, "checks": item.checks,
        "withdrawn_at": item.withdrawn_at, "withdrawn_by": item.withdrawn_by,
        "withdrawal_reason": item.withdrawal_reason,
    }


# -- health -------------------------------------------------------------------

@view_config(route_name="health", request_method="GET", renderer="json", permission=NO_PERMISSION_REQUIRED,
             openapi=True)
def health(request: Any) -> Any:
    status = {"status": "ok", "database": "ok", "store": "ok", "version": __version__}
    try:
        request.db.execute(text("SELECT 1"))
    except Exception as exc:   # report, don't crash: this is what monitors poll
        status.update(status="unavailable", database=f"error: {type(exc).__name__}")
    store = request.registry["archive.store"]
    try:
        store.exists("health/probe")
    except Exception as exc:
        status.update(status="unavailable", store=f"error: {type(exc).__name__}")
    if status["status"] != "ok":
        request.response.status_int = 503
        return {"error": {"code": "unavailable", "message": "服务依赖不可用", "detail": status}}
    return status


# -- invoices -----------------------------------------------------------------

@api_view(route_name="invoices.collection", request_method="POST", permission=P.INVOICES_CREATE)
def receive_invoice(request: Any) -> Any:
    filename = request.openapi_validated.parameters.query.get("filename")
    invoice = request.find_service(IntakeService).receive(request.body, filename=filename)
    request.db.flush()
    request.response.status_int = 201
    request.response.headers["Location"] = request.route_path("invoices.item", invoice_id=invoice.id)
    return invoice_json(invoice, db=request.db)


def _invoice(request: Any) -> Invoice:
    inv = request.db.execute(select(Invoice).where(
        Invoice.id == int(request.matchdict["invoice_id"]), Invoice.org_id == request.identity.org_id)
    ).scalar_one_or_none()
    if inv is None:
        raise NotFound(f"发票 {request.matchdict['invoice_id']} 不存在", code="invoice_not_found")
    return inv


@api_view(route_name="invoices.collection", request_method="GET", permission=P.INVOICES_READ)
def list_invoices(request: Any) -> Any:
    q = request.openapi_validated.parameters.query
    stmt = select(Invoice).where(Invoice.org_id == request.identity.org_id)
    if q.get("number"):
        stmt = stmt.where((Invoice.number == q["number"]) | (Invoice.business_key == q["number"]))
    if q.get("status"):
        stmt = stmt.where(Invoice.status == q["status"])
    total = request.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = request.db.execute(stmt.order_by(Invoice.id.desc()).limit(query_int(request, "limit", 50))
                              .offset(query_int(request, "offset", 0))).scalars()
    return {"items": [invoice_json(i) for i in rows], "total": total}


@api_view(route_name="invoices.item", request_method="GET", permission=P.INVOICES_READ)
def get_invoice(request: Any) -> Any:
    return invoice_json(_invoice(request), db=request.db)


@api_view(route_name="invoices.tax_check", request_method="POST", permission=P.INVOICES_CREATE)
def tax_check(request: Any) -> Any:
    inv = _invoice(request)
    service = request.find_service(IntakeService)
    service.recheck(inv, request.find_service(IArchiveStore).get(inv.storage_key))
    request.db.flush()
    return invoice_json(inv, db=request.db)


@api_view(route_name="invoices.original", request_method="GET", permission=P.INVOICES_READ, renderer=None)
def get_original(request: Any) -> Any:
    inv = _invoice(request)
    data = request.find_service(IArchiveStore).get(inv.storage_key)
    name = inv.filename or f"{inv.business_key}.{inv.source_format}"
    return _download(data, "application/octet-stream", name, inv.sha256)


def _download(data: bytes, content_type: str, filename: str, sha256: str) -> Response:
    """Bytes as stored, with their SHA-256 in a Digest header (RFC 3230)."""
    response = Response(body=data, content_type=content_type,
                        content_disposition=f"attachment; filename*=UTF-8''{quote(filename, safe='')}")
    response.headers["Digest"] = "sha-256=" + base64.b64encode(bytes.fromhex(sha256)).decode()
    return response


# -- claims -------------------------------------------------------------------

@api_view(route_name="claims.collection", request_method="POST", permission=P.CLAIMS_CREATE)
def create_claim(request: Any) -> Any:
    body = json_body(request)
    claim = request.find_service(ClaimService).create(
        title=body["title"], expense_category=body["expense_category"], invoice_ids=body["invoice_ids"])
    request.db.flush()
    request.db.refresh(claim)
    request.response.status_int = 201
    request.response.headers["Location"] = request.route_path("claims.item", claim_id=claim.id)
    return claim_json(claim, request.db)


@api_view(route_name="claims.item", request_method="GET", permission=P.CLAIMS_READ)
def get_claim(request: Any) -> Any:
    return claim_json(request.find_service(ClaimService).get(int(request.matchdict["claim_id"])), request.db)


def _claim_response(request: Any, claim: Claim) -> Any:
    request.db.flush()
    request.db.refresh(claim)
    return claim_json(claim, request.db)


def _claim_id(request: Any) -> int:
    return int(request.matchdict["claim_id"])


@api_view(route_name="claims.submit", request_method="POST", permission=P.CLAIMS_SUBMIT)
def submit_claim(request: Any) -> Any:
    service = request.find_service(ClaimService)
    return _claim_response(request, service.submit(_claim_id(request), json_body(request).get("comment")))


@api_view(route_name="claims.review", request_method="POST", permission=P.CLAIMS_APPROVE)
def review_claim(request: Any) -> Any:
    service = request.find_service(ClaimService)
    return _claim_response(request, service.review(_claim_id(request), json_body(request).get("comment")))


@api_view(route_name="claims.approve", request_method="POST", permission=P.CLAIMS_APPROVE)
def approve_claim(request: Any) -> Any:
    service = request.find_service(ClaimService)
    return _claim_response(request, service.approve(_claim_id(request), json_body(request).get("comment")))


@api_view(route_name="claims.refuse", request_method="POST", permission=P.CLAIMS_APPROVE)
def refuse_claim(request: Any) -> Any:
    service = request.find_service(ClaimService)
    return _claim_response(request, service.refuse(_claim_id(request), json_body(request)["reason"]))


@api_view(route_name="claims.post", request_method="POST", permission=P.CLAIMS_POST)
def post_claim(request: Any) -> Any:
    return _claim_response(request, request.find_service(ClaimService).post(_claim_id(request)))


# -- vouchers -----------------------------------------------------------------

@api_view(route_name="vouchers.collection", request_method="POST", permission=P.VOUCHERS_REPORT)
def report_voucher(request: Any) -> Any:
    voucher, created = request.find_service(VoucherService).record(json_body(request))
    request.db.flush()
    request.db.refresh(voucher)
    request.response.status_int = 201 if created else 200
    request.response.headers["Location"] = request.route_path("vouchers.item", voucher_id=voucher.id)
    return voucher_json(voucher, request.db)


@api_view(route_name="vouchers.reverse", request_method="POST", permission=P.VOUCHERS_REVERSE)
def reverse_voucher(request: Any) -> Any:
    from invoice_archive.posting.drafting import business_date
    from invoice_archive.services.posting import request_reversal

    body = json_body(request)
    voucher = request.find_service(VoucherService).get(int(request.matchdict["voucher_id"]))
    date = dt.date.fromisoformat(body["date"]) if body.get("date") else business_date(utcnow())
    msg = request_reversal(request.db, voucher, date=date, reason=body["reason"],
                           audit=AuditLog.for_request(request))
    request.db.flush()
    request.response.status_int = 202
    return {"voucher_id": voucher.id, "external_ref": msg.payload["external_ref"], "status": msg.status,
            "message": f"冲销凭证已提交记账系统（{voucher.display_number}），完成后凭证将显示冲销记录。"}


@api_view(route_name="vouchers.item", request_method="GET", permission=P.VOUCHERS_READ)
def get_voucher(request: Any) -> Any:
    return voucher_json(request.find_service(VoucherService).get(int(request.matchdict["voucher_id"])), request.db)


# -- archive ------------------------------------------------------------------

@api_view(route_name="archive.runs", request_method="POST", permission=P.ARCHIVE_CREATE)
def archive_run(request: Any) -> Any:
    body = json_body(request)
    items, already, failed = request.find_service(ArchiveService).archive_period(body["fiscal_year"],
                                                                                  body["period"])
    request.db.flush()
    request.response.status_int = 201
    return {"archived": [item_json(i) for i in items], "already_archived": already, "failed": failed}


@api_view(route_name="archive.item_check", request_method="POST", permission=P.ARCHIVE_CREATE)
def check_item(request: Any) -> Any:
    service = request.find_service(ArchiveService)
    return service.check_item(service.get(int(request.matchdict["item_id"])))


@api_view(route_name="archive.checks", request_method="POST", permission=P.ARCHIVE_CREATE)
def check_year(request: Any) -> Any:
    return request.find_service(ArchiveService).check_year(json_body(request)["fiscal_year"])


@api_view(route_name="archive.item_withdraw", request_method="POST", permission=P.ARCHIVE_CREATE)
def withdraw_item(request: Any) -> Any:
    item = request.find_service(ArchiveService).withdraw(int(request.matchdict["item_id"]),
                                                          json_body(request)["reason"])
    request.db.flush()
    return item_json(item)


@api_view(route_name="archive.items", request_method="GET", permission=P.ARCHIVE_READ)
def find_items(request: Any) -> Any:
    q = request.openapi_validated.parameters.query
    items, total = request.find_service(ArchiveService).find(
        voucher_number=q.get("voucher_number"), invoice_number=q.get("invoice_number"),
        archival_code=q.get("archival_code"), fiscal_year=q.get("fiscal_year"), period=q.get("period"),
        limit=query_int(request, "limit", 50), offset=query_int(request, "offset", 0))
    return {"items": [item_json(i) for i in items], "total": total}


@api_view(route_name="archive.item", request_method="GET", permission=P.ARCHIVE_READ)
def get_item(request: Any) -> Any:
    return item_json(request.find_service(ArchiveService).get(int(request.matchdict["item_id"])))


@api_view(route_name="archive.bundle", request_method="GET", permission=P.ARCHIVE_DOWNLOAD, renderer=None)
def get_bundle(request: Any) -> Any:
    item, data = request.find_service(ArchiveService).bundle(int(request.matchdict["item_id"]))
    return _download(data, "application/zip", f"{item.archival_code}.zip", item.package_sha256)


@api_view(route_name="archive.eep", request_method="GET", permission=P.ARCHIVE_DOWNLOAD, renderer=None)
def get_eep(request: Any) -> Any:
    from invoice_archive.services.bundles import signer_from_registry

    item, data = request.find_service(ArchiveService).eep(int(request.matchdict["item_id"]),
                                                          signer_from_registry(request.registry))
    return _download(data, "application/xml", f"{item.archival_code}.eep.xml", hashlib.sha256(data).hexdigest())


# -- audit --------------------------------------------------------------------

@api_view(route_name="audit.events", request_method="GET", permission=P.AUDIT_READ)
def audit_events(request: Any) -> Any:
    q = request.openapi_validated.parameters.query
    stmt = select(AuditEvent).where(AuditEvent.org_id == request.identity.org_id)
    if q.get("object_type"):
        stmt = stmt.where(AuditEvent.object_type == q["object_type"])
    if q.get("object_id"):
        stmt = stmt.where(AuditEvent.object_id == q["object_id"])
    total = request.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = request.db.execute(stmt.order_by(AuditEvent.id).limit(query_int(request, "limit", 50))
                              .offset(query_int(request, "offset", 0))).scalars()
    return {"total": total, "items": [
        {"id": e.id, "at": e.at, "actor": e.actor, "role": e.role, "action": e.action,
         "object_type": e.object_type, "object_id": e.object_id, "detail": e.detail} for e in rows]}
