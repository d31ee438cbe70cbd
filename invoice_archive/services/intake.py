"""Intake: read, verify, de-duplicate and store an e-invoice, byte for byte."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from invoice_archive.db import execute_dml
from invoice_archive.digests import sha256_hex, sm3_hex
from invoice_archive.errors import Conflict, DomainError
from invoice_archive.formats import InvoiceDocument, InvoiceFormatError, Limits, open_ofd, read_invoice
from invoice_archive.ports import IArchiveStore, is_configured
from invoice_archive.models import Claim, ClaimInvoice, Invoice, InvoiceVoucherLink, TaxCheck, Voucher
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.compliance import (
    CompliancePolicy, OrganisationNames, TaxChecker, latest_tax_check, open_alerts, posting_status_messages,
    red_invoice_arrived, rules_report,
)
from invoice_archive.services.scoping import ensure_original_kept, original_bytes, scoped_get
from invoice_archive.settings import SettingsError, VerificationSettings
from invoice_archive.verification import TrustStore, verify_ofd, verify_pdf, verify_xml

MEDIA_TYPES = {"ofd": "application/ofd", "xml": "application/xml", "pdf": "application/pdf"}


@dataclass(frozen=True)
class Verifier:
    """Runs the signature verification that fits the document's format."""

    trust_store: TrustStore | None = None

    def __call__(self, data: bytes, doc: InvoiceDocument) -> dict[str, Any]:
        if doc.source_format == "ofd":
            report = verify_ofd(open_ofd(data), trust_store=self.trust_store)
        elif doc.source_format == "xml":
            report = verify_xml(data, trust_store=self.trust_store)
        else:
            report = verify_pdf(data, trust_store=self.trust_store)
        return report.to_dict()


def load_trust_store(verification: VerificationSettings) -> TrustStore | None:
    """The trust store ``verification.trust_store`` names, loaded once at start-up
    (None: certificate chains are not checked). A directory that is missing or
    holds a bad certificate fails start-up, naming the setting."""
    if verification.trust_store is None:
        return None
    try:
        return TrustStore.from_directory(verification.trust_store)
    except (OSError, ValueError) as exc:
        raise SettingsError("verification.trust_store", str(exc)) from None


def refuse_unauthentic(doc: InvoiceDocument, verification: dict[str, Any]) -> None:
    """A file whose signature fails is refused at the door, so that a forged or
    altered copy can never occupy the business key of the genuine invoice."""
    verdict = verification["verdict"]
    if verdict not in ("tampered", "invalid"):
        return
    failing = [c for c in verification.get("checks", []) if c.get("result") == "fail"]
    files = sorted({c["file"] for c in failing if c.get("file")})
    label = doc.number or doc.business_key
    if verdict == "tampered":
        what = f"文件 {'、'.join(files)} " if files else "文件内容"   # a PDF signs one file, not members
        message = (f"发票 {label} 的电子签名校验未通过：{what}在签名后被修改。"
                   "请向开票方重新获取发票原件后上传。")
        code = "invoice_tampered"
    else:
        reasons = "；".join(c.get("detail", c["code"]) for c in failing) or "签名无法验证"
        message = f"发票 {label} 的电子签名无效（{reasons}）。请向开票方重新获取发票原件后上传。"
        code = "signature_invalid"
    raise DomainError(message, code=code, status=422,
                      detail={"verdict": verdict, "failing_checks": failing, "files": files})


def original_key(org_id: int, sha256: str, ext: str) -> str:
    """Where an original is stored: by organisation and content, so the same
    bytes always land on the same key (a retry after a crash adopts them)."""
    return f"originals/{org_id}/{sha256[:2]}/{sha256}.{ext}"


def format_error(exc: InvoiceFormatError) -> DomainError:
    return DomainError(exc.message, code=exc.code, status=exc.http_status, detail=dict(exc.detail or {}))


def duplicate_evidence(db: Session, invoice: Invoice) -> dict[str, Any]:
    """Where an invoice already is: when it was received, the claim and voucher holding it."""
    evidence: dict[str, Any] = {
        "invoice_id": invoice.id,
        "business_key": invoice.business_key,
        "number": invoice.number,
        "received_at": invoice.received_at.isoformat(),
        "received_by": invoice.received_by,
        "source_format": invoice.source_format,
        "status": invoice.status,
        "claim": None,
        "voucher": None,
    }
    claim = db.execute(
        select(Claim).join(ClaimInvoice).where(ClaimInvoice.invoice_id == invoice.id,
                                               ClaimInvoice.released_at.is_(None))
    ).scalar_one_or_none()
    if claim is not None:
        evidence["claim"] = {"id": claim.id, "number": claim.number, "claimant": claim.claimant,
                             "status": claim.status, "created_at": claim.created_at.isoformat()}
    voucher = db.execute(
        select(Voucher).join(InvoiceVoucherLink).where(InvoiceVoucherLink.invoice_id == invoice.id)
    ).scalar_one_or_none()
    if voucher is not None:
        evidence["voucher"] = {"id": voucher.id, "number": f"{voucher.voucher_word}-{voucher.voucher_number}",
                               "fiscal_year": voucher.fiscal_year, "period": voucher.period,
                               "date": voucher.date.isoformat()}
    return evidence


def duplicate_message(evidence: dict[str, Any]) -> str:
    number = evidence["number"] or evidence["business_key"]
    msg = f"发票 {number} 已于 {evidence['received_at'][:10]} 接收（{evidence['received_by']}）"
    if evidence["claim"]:
        c = evidence["claim"]
        msg += f"，并在报销单 {c['number']} 中报销（报销人 {c['claimant']}，{c['created_at'][:10]}）"
    if evidence["voucher"]:
        v = evidence["voucher"]
        msg += f"，已记入凭证 {v['fiscal_year']}年{v['period']}月 {v['number']}（{v['date']}）"
    return msg + "，不能重复接收或报销。"


_INSERT_NEW: dict[str, Any] = {}


def _insert_new_statement(dialect: str) -> Any:
    """The statement, built once per dialect: a Core INSERT on the table returning
    the id only, the values travelling as parameters, so SQLAlchemy compiles it
    once and the database prepares it once per connection."""
    stmt = _INSERT_NEW.get(dialect)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - the two supported databases
            raise NotImplementedError(dialect)
        table = Invoice.__table__
        stmt = _INSERT_NEW[dialect] = (
            insert(table).on_conflict_do_nothing(index_elements=[table.c.org_id, table.c.business_key])
            .returning(table.c.id))
    return stmt


def _whole_row(values: dict[str, Any]) -> dict[str, Any]:
    """Every column's value: those given, the others at their defaults (or NULL),
    as the database will hold them."""
    row = {}
    for column in Invoice.__table__.columns:
        if column.key == "id":
            continue
        if column.key in values:
            row[column.key] = values[column.key]
        elif column.default is not None:
            default = column.default
            row[column.key] = default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
        else:
            row[column.key] = None
    return row


def insert_new(db: Session, values: dict[str, Any]) -> Invoice | None:
    """INSERT ... ON CONFLICT (org_id, business_key) DO NOTHING RETURNING id; None
    when the organisation already holds the key. The new row comes back as the
    ORM object of exactly the values written (every column set, so nothing is
    read back): the ORM's own INSERT ... RETURNING would parse the three JSON
    documents it has just sent."""
    row = _whole_row(values)
    new_id = execute_dml(db, _insert_new_statement(db.get_bind().dialect.name), row).scalar_one_or_none()
    if new_id is None:
        return None
    invoice = Invoice(id=new_id, **row)
    make_transient_to_detached(invoice)
    db.add(invoice)
    return invoice


class IntakeService:
    def __init__(self, db: Session, store: Any, audit: AuditLog, *, org_id: int, actor: str,
                 limits: Limits, verifier: Verifier, policy: CompliancePolicy = CompliancePolicy(),
                 tax: TaxChecker | None = None, org_names: OrganisationNames | None = None) -> None:
        self.policy = policy
        self.org_names = org_names or OrganisationNames(ttl=0)
        self.tax = tax
        self.db = db
        self.store = store
        self.audit = audit
        self.org_id = org_id
        self.actor = actor
        self.limits = limits
        self.verifier = verifier
        self.fresh: set[int] = set()      # invoices this service (this request) received

    @classmethod
    def factory(cls, context: Any, request: Any) -> IntakeService:
        intake = request.registry.app_settings.intake
        policy = request.registry["compliance.policy"]
        platform = request.registry["taxplatform"]
        return cls(request.db, request.find_service(IArchiveStore), AuditLog.for_request(request),
                   org_id=request.identity.org_id, actor=request.identity.name,
                   limits=Limits(max_upload_bytes=intake.max_upload_bytes),
                   verifier=request.registry["intake.verifier"],   # built at start-up, with the trust store
                   policy=policy, org_names=request.registry["intake.org_names"],
                   tax=TaxChecker(request.db, platform, max_age_days=policy.max_age_days)
                   if is_configured(platform) else None)

    def get(self, invoice_id: Any) -> Invoice:
        return scoped_get(self.db, Invoice, invoice_id, self.org_id)

    def related(self, inv: Invoice) -> dict[str, Any]:
        """What an invoice's full rendering shows beside the row: its last tax
        check, open alerts, the claim holding it and the voucher it is posted on.
        An invoice this request received is in no claim and on no voucher yet."""
        if inv.id in self.fresh:
            # an alert names the blue invoice a later red one reverses: never one just received
            return {"tax_check": latest_tax_check(self.db, inv.id) if self.tax is not None else None,
                    "alerts": [], "claim": None, "voucher": None,
                    "posting_status": []}
        return {
            "posting_status": posting_status_messages(self.db, inv),
            "tax_check": latest_tax_check(self.db, inv.id),
            "alerts": open_alerts(self.db, invoice_id=inv.id),
            "claim": self.db.execute(select(Claim).join(ClaimInvoice).where(
                ClaimInvoice.invoice_id == inv.id, ClaimInvoice.released_at.is_(None))).scalar_one_or_none(),
            "voucher": self.db.execute(select(Voucher).join(InvoiceVoucherLink).where(
                InvoiceVoucherLink.invoice_id == inv.id)).scalar_one_or_none(),
        }

    def holding(self, sha256: str) -> dict[str, Any]:
        """Whether the organisation holds a file with this SHA-256: an invoice record, a
        stored original (under any of the formats' keys). The evidence that a refused
        upload left nothing behind, in the database or in the store."""
        sha256 = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise DomainError("sha256 须为 64 位十六进制的 SHA-256 摘要。", code="invalid_digest", status=422)
        invoice_id = self.db.execute(select(Invoice.id).where(Invoice.org_id == self.org_id,
                                                              Invoice.sha256 == sha256)).scalar_one_or_none()
        stored = [ext for ext in MEDIA_TYPES if self.store.exists(original_key(self.org_id, sha256, ext))]
        self.audit.record("original.looked_up", "original", sha256, invoice_id=invoice_id, stored=bool(stored))
        return {"sha256": sha256, "invoice_id": invoice_id, "stored": bool(stored)}

    def list(self, *, number: str | None = None, status: str | None = None, limit: int = 50,
             offset: int = 0) -> tuple[list[Invoice], int]:
        """The organisation's invoices, newest first, by number/business key and status."""
        stmt = select(Invoice).where(Invoice.org_id == self.org_id)
        if number:
            stmt = stmt.where((Invoice.number == number) | (Invoice.business_key == number))
        if status:
            stmt = stmt.where(Invoice.status == status)
        total = self.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self.db.execute(stmt.order_by(Invoice.id.desc()).limit(limit).offset(offset)).scalars()
        return list(rows), total

    def original(self, inv: Invoice, *, via: str = "api") -> bytes:
        """The original file as received, checked against its intake SHA-256 like
        every other read from the store."""
        ensure_original_kept(self.db, self.org_id, inv.storage_key, f"发票 {inv.number or inv.business_key} ")
        data = original_bytes(self.store, inv)
        self.audit.record("invoice.original_downloaded", "invoice", inv.id, sha256=inv.sha256, via=via)
        return data

    def find_duplicate(self, business_key: str) -> Invoice | None:
        return self.db.execute(
            select(Invoice).where(Invoice.org_id == self.org_id, Invoice.business_key == business_key)
        ).scalar_one_or_none()

    def _refuse_duplicate(self, existing: Invoice) -> Conflict:
        evidence = duplicate_evidence(self.db, existing)
        return Conflict(duplicate_message(evidence), code="duplicate_invoice", detail=evidence)

    def receive(self, data: bytes, *, filename: str | None = None) -> Invoice:
        try:
            doc = read_invoice(data, filename=filename, limits=self.limits)
            verification = self.verifier(data, doc)
        except InvoiceFormatError as exc:
            raise format_error(exc) from exc

        refuse_unauthentic(doc, verification)
        sha256 = sha256_hex(data)
        ext = doc.source_format
        key = original_key(self.org_id, sha256, ext)
        org = self.org_names.get(self.db, self.org_id)
        values = dict(
            org_id=self.org_id, business_key=doc.business_key, kind=doc.kind,
            source_format=doc.source_format, code=doc.code, number=doc.number,
            check_code=doc.check_code, issue_date=doc.issue_date,
            seller_name=doc.seller.name, seller_tax_id=doc.seller.tax_id,
            buyer_name=doc.buyer.name, buyer_tax_id=doc.buyer.tax_id,
            amount_excl_tax=doc.amount_excl_tax, tax=doc.tax, total=doc.total,
            is_red=doc.is_red, original_number=doc.original_number,
            filename=filename, media_type=MEDIA_TYPES[ext], size_bytes=len(data),
            sha256=sha256, sm3=sm3_hex(data), storage_key=key,
            document=doc.to_dict(), verdict=verification["verdict"], verification=verification,
            received_by=self.actor, rules=rules_report(doc, org, self.policy),
        )
        # One statement: the row is inserted unless the organisation already holds
        # the business key. A concurrent intake of the same invoice waits on the
        # unique key until this transaction ends, then inserts nothing and is
        # refused with the evidence, like any duplicate.
        invoice = insert_new(self.db, values)
        if invoice is None:
            existing = self.find_duplicate(doc.business_key)
            if existing is None:   # pragma: no cover - the conflicting row was rolled back meanwhile
                raise Conflict("发票正在被同时接收，请稍后重试。", code="duplicate_invoice_in_flight")
            raise self._refuse_duplicate(existing)
        self.fresh.add(invoice.id)
        # The row holds the business key first, then the original is stored: a
        # concurrent intake of the same bytes waits on the row until this
        # transaction ends, and an aborting one removes the object it created
        # before it releases the row (TransactionalStore). After a kill -9 the
        # object may remain, unreferenced; the retry finds the same bytes
        # under the same key and adopts them.
        self.store.put(key, data)
        self.audit.record("invoice.received", "invoice", invoice.id, business_key=doc.business_key,
                          sha256=sha256, sm3=invoice.sm3, verdict=invoice.verdict, filename=filename,
                          rules_passed=invoice.rules["passed"])
        if self.tax is not None:
            self.db.flush()
            self.tax.check(invoice, doc, requested_by=self.actor)
        if doc.is_red:
            red_invoice_arrived(self.db, invoice, self.audit)
        return invoice

    def recheck(self, invoice: Invoice) -> TaxCheck:
        """Ask the tax platform again (at most five times a day per invoice)."""
        if self.tax is None:
            raise DomainError("未配置税务平台（taxplatform.backend），无法查验。", code="tax_platform_not_configured",
                              status=409)
        doc = read_invoice(original_bytes(self.store, invoice), limits=self.limits)
        row = self.tax.check(invoice, doc, requested_by=self.actor, explicit=True)
        assert row is not None
        self.audit.record("invoice.tax_checked", "invoice", invoice.id, status=row.status,
                          discrepancies=row.discrepancies)
        return row
