"""Views for invoices, claims, vouchers, archive items and the audit log."""
from __future__ import annotations

import base64
import hashlib
import datetime as dt
from importlib.metadata import version
from typing import Any
from urllib.parse import quote

from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config
from sqlalchemy import text

from invoice_archive.db import utcnow
from invoice_archive.posting.drafting import business_date
from invoice_archive.security import Permissions as P
from invoice_archive.services.archive import ArchiveService
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.bundles import certificate_from_registry, signer_from_registry
from invoice_archive.services.claims import ClaimService
from invoice_archive.services.intake import IntakeService
from invoice_archive.services.vouchers import VoucherService
from invoice_archive.views.api import api_view, json_body, query_int
from invoice_archive.views.presenters import (
    claim_json, event_json, invoice_json, item_json, voucher_json, waiver_json,
)


# -- health -------------------------------------------------------------------

@view_config(route_name="health", request_method="GET", renderer="json", permission=NO_PERMISSION_REQUIRED,
             openapi=True)
def health(request: Any) -> Any:
    status = {"status": "ok", "database": "ok", "store": "ok", "version": version("invoice-archive")}
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
    return _invoice_response(request, invoice)


def _invoice_response(request: Any, inv: Any) -> Any:
    return invoice_json(inv, request.find_service(IntakeService).related(inv))


@api_view(route_name="invoices.collection", request_method="GET", permission=P.INVOICES_READ)
def list_invoices(request: Any) -> Any:
    q = request.openapi_validated.parameters.query
    rows, total = request.find_service(IntakeService).list(
        number=q.get("number"), status=q.get("status"),
        limit=query_int(request, "limit", 50), offset=query_int(request, "offset", 0))
    return {"items": [invoice_json(i) for i in rows], "total": total}


@api_view(route_name="invoices.item", request_method="GET", permission=P.INVOICES_READ)
def get_invoice(request: Any) -> Any:
    return _invoice_response(request, request.context.obj)


@api_view(route_name="invoices.tax_check", request_method="POST", permission=P.INVOICES_CREATE)
def tax_check(request: Any) -> Any:
    inv = request.context.obj
    request.find_service(IntakeService).recheck(inv)
    request.db.flush()
    return _invoice_response(request, inv)


@api_view(route_name="originals.item", request_method="GET", permission=P.AUDIT_READ)
def original_held(request: Any) -> Any:
    """Whether a file (by SHA-256) is held as an invoice record or a stored original."""
    return request.find_service(IntakeService).holding(request.matchdict["sha256"])


@api_view(route_name="invoices.original", request_method="GET", permission=P.INVOICES_READ, renderer=None)
def get_original(request: Any) -> Any:
    inv = request.context.obj
    data = request.find_service(IntakeService).original(inv)
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
    return claim_json(claim, request.find_service(ClaimService).related(claim))


@api_view(route_name="claims.item", request_method="GET", permission=P.CLAIMS_READ)
def get_claim(request: Any) -> Any:
    claim = request.context.obj
    return claim_json(claim, request.find_service(ClaimService).related(claim))


def _claim_response(request: Any, claim: Any) -> Any:
    request.db.flush()
    request.db.refresh(claim)
    return claim_json(claim, request.find_service(ClaimService).related(claim))


def _claim_id(request: Any) -> int:
    return request.context.id   # the service locks the row itself


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
    return voucher_json(voucher, request.find_service(VoucherService).related(voucher))


@api_view(route_name="vouchers.reverse", request_method="POST", permission=P.VOUCHERS_REVERSE)
def reverse_voucher(request: Any) -> Any:
    body = json_body(request)
    voucher = request.context.obj
    date = dt.date.fromisoformat(body["date"]) if body.get("date") else business_date(utcnow())
    msg = request.find_service(VoucherService).reverse(voucher.id, date=date, reason=body["reason"])
    request.db.flush()
    request.response.status_int = 202
    return {"voucher_id": voucher.id, "external_ref": msg.payload["external_ref"], "status": msg.status,
            "message": f"冲销凭证已提交记账系统（{voucher.display_number}），完成后凭证将显示冲销记录。"}


@api_view(route_name="vouchers.item", request_method="GET", permission=P.VOUCHERS_READ)
def get_voucher(request: Any) -> Any:
    voucher = request.context.obj
    return voucher_json(voucher, request.find_service(VoucherService).related(voucher))


# -- archive ------------------------------------------------------------------

def _items_json(request: Any, items: list[Any]) -> list[dict[str, Any]]:
    from invoice_archive.services.disposition import item_states

    related = request.find_service(ArchiveService).related(items)
    states = item_states(request.db, items)
    return [item_json(i, related[i.id], states[i.id]) for i in items]


@api_view(route_name="archive.runs", request_method="POST", permission=P.ARCHIVE_CREATE)
def archive_run(request: Any) -> Any:
    body = json_body(request)
    run = request.find_service(ArchiveService).archive_period(body["fiscal_year"], body["period"],
                                                              explanations=body.get("explanations") or {})
    request.db.flush()
    request.response.status_int = 201
    return {"archived": _items_json(request, run.archived), "already_archived": run.already, "failed": run.failed,
            "explained": run.explained}


@api_view(route_name="archive.waivers", request_method="POST", permission=P.ARCHIVE_WAIVE)
def record_waiver(request: Any) -> Any:
    body = json_body(request)
    rows = request.find_service(ArchiveService).waive(body["voucher_id"], body["checks"], body["reason"],
                                                      person_id=request.identity.person_id)
    request.db.flush()
    request.response.status_int = 201
    return {"items": [waiver_json(w) for w in rows], "total": len(rows)}


@api_view(route_name="archive.waivers", request_method="GET", permission=P.ARCHIVE_READ)
def list_waivers(request: Any) -> Any:
    rows, total = request.find_service(ArchiveService).list_waivers(
        voucher_id=query_int(request, "voucher_id"), limit=query_int(request, "limit", 50),
        offset=query_int(request, "offset", 0))
    return {"items": [waiver_json(w) for w in rows], "total": total}


@api_view(route_name="archive.item_check", request_method="POST", permission=P.ARCHIVE_CREATE)
def check_item(request: Any) -> Any:
    return request.find_service(ArchiveService).check_item(request.context.obj)


@api_view(route_name="archive.checks", request_method="POST", permission=P.ARCHIVE_CREATE)
def check_year(request: Any) -> Any:
    return request.find_service(ArchiveService).check_year(json_body(request)["fiscal_year"])


@api_view(route_name="archive.item_withdraw", request_method="POST", permission=P.ARCHIVE_CREATE)
def withdraw_item(request: Any) -> Any:
    item = request.find_service(ArchiveService).withdraw(request.context.id, json_body(request)["reason"])
    request.db.flush()
    return _items_json(request, [item])[0]


@api_view(route_name="archive.items", request_method="GET", permission=P.ARCHIVE_READ)
def find_items(request: Any) -> Any:
    q = request.openapi_validated.parameters.query
    items, total = request.find_service(ArchiveService).find(
        voucher_number=q.get("voucher_number"), invoice_number=q.get("invoice_number"),
        archival_code=q.get("archival_code"), fiscal_year=q.get("fiscal_year"), period=q.get("period"),
        category=q.get("category"), record_kind=q.get("record_kind"), archive_class=q.get("class"),
        limit=query_int(request, "limit", 50), offset=query_int(request, "offset", 0))
    return {"items": _items_json(request, items), "total": total}


@api_view(route_name="archive.item", request_method="GET", permission=P.ARCHIVE_READ)
def get_item(request: Any) -> Any:
    return _items_json(request, [request.context.obj])[0]


@api_view(route_name="archive.package", request_method="GET", permission=P.ARCHIVE_DOWNLOAD, renderer=None)
@api_view(route_name="archive.bundle", request_method="GET", permission=P.ARCHIVE_DOWNLOAD, renderer=None)
def get_package(request: Any) -> Any:
    """The item's archive package (归档包), byte for byte as archived; /bundle is its older name."""
    item, data = request.find_service(ArchiveService).bundle(request.context.id)
    return _download(data, "application/zip", f"{item.archival_code}.zip", item.package_sha256)


@api_view(route_name="archive.eep", request_method="GET", permission=P.ARCHIVE_DOWNLOAD, renderer=None)
def get_eep(request: Any) -> Any:
    modified = request.openapi_validated.parameters.query.get("type") == "modified"
    item, data = request.find_service(ArchiveService).eep(request.context.id, signer_from_registry(request.registry),
                                                          certificate_from_registry(request.registry),
                                                          modified=modified)
    return _download(data, "application/xml", f"{item.archival_code}{'.modified' if modified else ''}.eep.xml",
                     hashlib.sha256(data).hexdigest())


# -- audit --------------------------------------------------------------------

@api_view(route_name="audit.events", request_method="GET", permission=P.AUDIT_READ)
def audit_events(request: Any) -> Any:
    q = request.openapi_validated.parameters.query
    rows, total = AuditLog.for_request(request).events(
        object_type=q.get("object_type"), object_id=q.get("object_id"),
        limit=query_int(request, "limit", 50), offset=query_int(request, "offset", 0))
    return {"total": total, "items": [event_json(e) for e in rows]}


@api_view(route_name="audit.proof", request_method="GET", permission=P.AUDIT_READ)
def audit_proof(request: Any) -> Any:
    """That the event is in a signed checkpoint of the chain (verify-audit-proof checks it offline)."""
    event_id = request.openapi_validated.parameters.path["event_id"]
    return AuditLog.for_request(request).proof(event_id, signer_from_registry(request.registry))
