"""How records look in the API's JSON: plain functions of what services loaded.

Presenters never query; what a rendering needs beyond the row (an invoice's
claim and voucher, a claim's posting message) is loaded by the service's
``related()`` and passed in.
"""
from __future__ import annotations

from typing import Any

from invoice_archive.models import ArchiveItem, AuditEvent, Claim, Invoice, Voucher
from invoice_archive.outbox import is_stuck


def invoice_json(inv: Invoice, related: dict[str, Any] | None = None) -> dict[str, Any]:
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
    if related is not None:
        check, claim, voucher = related["tax_check"], related["claim"], related["voucher"]
        out["tax_check"] = None if check is None else {
            "status": check.status, "checked_at": check.checked_at, "source": check.source,
            "discrepancies": check.discrepancies, "requested_by": check.requested_by}
        out["alerts"] = [alert_json(a) for a in related["alerts"]]
        out["claim"] = None if claim is None else {"id": claim.id, "number": claim.number, "status": claim.status}
        out["voucher"] = None if voucher is None else {
            "id": voucher.id, "number": f"{voucher.voucher_word}-{voucher.voucher_number}",
            "fiscal_year": voucher.fiscal_year, "period": voucher.period}
        out["posting_status"] = [posting_status_json(m) for m in related.get("posting_status", ())]
    return out


def posting_status_json(msg: Any) -> dict[str, Any]:
    """One 入账标识 message to the tax platform and how its delivery went (docs/tax-platform.md)."""
    payload = msg.payload or {}
    return {"state": payload.get("state"), "purpose": payload.get("purpose"), "period": payload.get("period"),
            "idempotency_key": msg.dedupe_key, "status": msg.status, "attempts": msg.attempts,
            "last_outcome": msg.last_outcome, "last_error": msg.last_error, "updated_at": msg.updated_at}


def alert_json(a: Any) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "message": a.message, "invoice_id": a.invoice_id,
            "cause_invoice_id": a.cause_invoice_id, "claim_id": a.claim_id, "voucher_id": a.voucher_id,
            "created_at": a.created_at}


def claim_json(claim: Claim, related: dict[str, Any]) -> dict[str, Any]:
    voucher, msg = related["voucher"], related["posting"]
    return {
        "id": claim.id, "number": claim.number, "title": claim.title, "expense_category": claim.expense_category,
        "claimant": claim.claimant, "status": claim.status, "total": claim.total, "created_at": claim.created_at,
        "refusal_reason": claim.refusal_reason, "posting_error": claim.posting_error,
        "reversal_required": claim.reversal_required_at is not None,
        "alerts": [alert_json(a) for a in related["alerts"]],
        "posting": None if msg is None else {
            "external_ref": msg.dedupe_key, "status": msg.status, "attempts": msg.attempts,
            "last_outcome": msg.last_outcome, "last_error": msg.last_error,
            "available_at": msg.available_at, "stuck": is_stuck(msg),
            "remote": (msg.result or {}).get("awaiting") if msg.last_outcome == "awaiting" else None},
        "invoices": [invoice_json(line.invoice) for line in claim.lines],
        "signoffs": [{"step": s.step, "actor": s.actor, "role": s.role, "at": s.at, "comment": s.comment}
                     for s in claim.signoffs],
        "voucher": None if voucher is None else {"id": voucher.id,
                                                 "number": f"{voucher.voucher_word}-{voucher.voucher_number}"},
    }


def voucher_json(v: Voucher, related: dict[str, Any]) -> dict[str, Any]:
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
        "archive_item_id": related["archive_item_id"], "system_id": v.system_id, "red_flag": v.red_flag,
        "reverses_id": v.reverses_id, "reason": v.reason, "reversed_by_id": related["reversed_by_id"],
    }


def item_json(item: ArchiveItem, related: dict[str, Any] | None = None,
              state: dict[str, Any] | None = None) -> dict[str, Any]:
    """An archive item of any class; ``related`` (ArchiveService.related) adds the reversal
    links: ``reverses`` on a red voucher's item, ``reversed_by`` on the item it reverses;
    ``state`` (disposition.item_states) its hold, destruction and transfer."""
    v = item.voucher
    related = related or {}
    state = state or {}
    return {
        "category": item.category, "record_kind": item.record_kind, "document_number": item.document_number,
        "title": item.title, "archive_class": item.class_code.split("·", 1)[0],
        "hold": state.get("hold"), "destroyed": state.get("destroyed"), "destruction": state.get("destruction"),
        "transfer": state.get("transfer"),
        "id": item.id, "archival_code": item.archival_code, "fonds_code": item.fonds_code,
        "class_code": item.class_code, "volume_no": item.volume_no, "item_no": item.item_no,
        "fiscal_year": item.fiscal_year, "period": item.period, "retention": item.retention,
        "retention_until": item.retention_until, "voucher_id": item.voucher_id,
        "voucher_number": f"{v.voucher_word}-{v.voucher_number}" if v is not None else None,
        "package_sha256": item.package_sha256,
        "package_sm3": item.package_sm3, "package_size": item.package_size, "archived_at": item.archived_at,
        "archived_by": item.archived_by, "manifest": item.manifest, "checks": item.checks,
        "withdrawn_at": item.withdrawn_at, "withdrawn_by": item.withdrawn_by,
        "withdrawal_reason": item.withdrawal_reason, "red_flag": v.red_flag if v is not None else False,
        "reverses": related.get("reverses"), "reversed_by": related.get("reversed_by"),
    }


def event_json(e: AuditEvent) -> dict[str, Any]:
    return {"id": e.id, "at": e.at, "actor": e.actor, "role": e.role, "action": e.action,
            "object_type": e.object_type, "object_id": e.object_id, "detail": e.detail}


def appraisal_json(a: Any) -> dict[str, Any]:
    return {"id": a.id, "number": a.number, "as_of": a.as_of, "opinion": a.opinion, "participants": a.participants,
            "created_by": a.created_by, "created_at": a.created_at,
            "opinion_item": {"id": a.opinion_item.id, "archival_code": a.opinion_item.archival_code,
                             "retention": a.opinion_item.retention},
            "entries": [{"item_id": e.item_id, "archival_code": e.item.archival_code, "conclusion": e.conclusion,
                         "reason": e.reason, "retain_until": e.retain_until} for e in a.entries]}


def destruction_json(d: Any) -> dict[str, Any]:
    return {"id": d.id, "number": d.number, "appraisal": d.appraisal.number, "status": d.status,
            "created_by": d.created_by, "created_at": d.created_at, "executed_by": d.executed_by,
            "executed_at": d.executed_at, "completed_at": d.completed_at, "supervision": d.supervision,
            "cancelled_at": d.cancelled_at, "cancel_reason": d.cancel_reason,
            "items": [{"item_id": e.item_id, "archival_code": e.item.archival_code} for e in d.entries],
            "approvals": [{"name": a.name, "capacity": a.capacity, "decision": a.decision, "opinion": a.opinion,
                           "at": a.at} for a in d.approvals],
            "list_item": None if d.list_item is None else {"id": d.list_item.id,
                                                           "archival_code": d.list_item.archival_code,
                                                           "retention": d.list_item.retention}}


def waiver_json(w: Any) -> dict[str, Any]:
    return {"id": w.id, "voucher_id": w.voucher_id, "voucher_number": w.voucher.display_number,
            "check": w.check_code, "reason": w.reason, "waived_by": w.waived_by, "waived_at": w.waived_at}


__all__ = ["alert_json", "appraisal_json", "claim_json", "destruction_json", "event_json", "invoice_json",
           "item_json", "posting_status_json", "voucher_json", "waiver_json"]
