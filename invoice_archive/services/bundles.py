"""The auditor's evidence: a voucher's signed bundle, invoice renditions and
authenticity badges, each access written to the audit log.

The bundle is assembled from the database and the archive store by the pure
:func:`invoice_archive.bundle.build_bundle` and signed with the service's own
key (``bundle.signing_algorithm`` ed25519 | sm2-sm3, ``bundle.signing_key`` the
PEM path; ``bundle.signing_key_generate = true`` makes a development key when
the file is missing).  The key is loaded at start-up, so a broken key fails the
service then, not at the first download.
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from invoice_archive.bundle import BundleParts, InvoiceFile, ManifestSigner, build_bundle, signer_from_settings
from invoice_archive.db import utcnow
from invoice_archive.digests import sha256_hex
from invoice_archive.errors import DomainError
from invoice_archive.ports import IArchiveStore
from invoice_archive.models import (
    ArchiveItem, AuditEvent, Claim, Invoice, InvoiceVoucherLink, Organisation, Voucher,
)
from invoice_archive.services.audit import SIGNER_KEY, AuditLog, AuditSequencer
from invoice_archive.services.scoping import ensure_original_kept, original_bytes, scoped_get


#: how the badge for each verdict looks (its words are the pages' own: views/labels.py)
BADGE_KINDS = {
    "valid": "valid",
    "valid_with_warning": "warning",
    "unsigned": "unsigned",
    "present_not_verifiable": "unverifiable",
    "tampered": "tampered",
    "invalid": "invalid",
}


class SigningUnconfigured(DomainError):
    status = 503


@dataclass(frozen=True)
class Badge:
    """An invoice's authenticity as the auditor sees it."""

    kind: str                 # valid / warning / unsigned / unverifiable / tampered / invalid
    shows: str                # the verdict the badge shows: the intake verdict, or tampered when fixity fails
    verdict: str              # the verdict recorded at intake
    failing: list[dict[str, Any]]   # the checks that did not pass (code, result, detail)
    fixity_ok: bool           # the stored original still has the SHA-256 recorded at intake

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "shows": self.shows, "verdict": self.verdict, "failing": self.failing,
                "fixity_ok": self.fixity_ok}


def badge_for(inv: Invoice, original: bytes | None) -> Badge:
    fixity_ok = original is not None and sha256_hex(original) == inv.sha256
    checks = (inv.verification or {}).get("checks") or []
    failing = [{"code": c.get("code"), "result": c.get("result"), "detail": c.get("detail")}
               for c in checks if isinstance(c, dict) and c.get("result") not in ("pass", "skip", "skipped", "info")]
    if not fixity_ok:
        detail = "存储中的原件缺失" if original is None else "存储中的原件与接收时的 SHA-256 不符"
        return Badge("tampered", "tampered", inv.verdict, [{"code": "original_fixity", "result": "fail",
                                                             "detail": detail}] + failing, False)
    return Badge(BADGE_KINDS.get(inv.verdict, "unverifiable"), inv.verdict, inv.verdict, failing, True)


def signer_from_registry(registry: Any) -> ManifestSigner | None:
    return registry.get(SIGNER_KEY)


CERTIFICATE_KEY = "bundle.certificate"


def certificate_from_registry(registry: Any) -> bytes | None:
    """The bundle key's X.509 certificate (DER): the operator's (``bundle.certificate``)
    or a self-signed one, made at start-up (bundle/certificate.py)."""
    return registry.get(CERTIFICATE_KEY)


class BundleService:
    def __init__(self, db: Session, store: Any, audit: AuditLog, signer: ManifestSigner | None, *,
                 org_id: int) -> None:
        self.db = db
        self.store = store
        self.audit = audit
        self.signer = signer
        self.org_id = org_id

    @classmethod
    def factory(cls, context: Any, request: Any) -> BundleService:
        return cls(request.db, request.find_service(IArchiveStore), AuditLog.for_request(request),
                   signer_from_registry(request.registry), org_id=request.identity.org_id)

    # -- reading --------------------------------------------------------------------
    def voucher(self, voucher_id: Any) -> Voucher:
        return scoped_get(self.db, Voucher, voucher_id, self.org_id)

    def invoice(self, invoice_id: Any) -> Invoice:
        return scoped_get(self.db, Invoice, invoice_id, self.org_id)

    def invoices_of(self, voucher: Voucher) -> list[Invoice]:
        return list(self.db.execute(
            select(Invoice).join(InvoiceVoucherLink, InvoiceVoucherLink.invoice_id == Invoice.id)
            .where(InvoiceVoucherLink.voucher_id == voucher.id).order_by(Invoice.id)).scalars())

    def archive_item(self, voucher: Voucher) -> ArchiveItem | None:
        return self.db.execute(select(ArchiveItem).where(
            ArchiveItem.voucher_id == voucher.id, ArchiveItem.withdrawn_at.is_(None))).scalar_one_or_none()

    def original(self, inv: Invoice) -> bytes | None:
        try:
            return self.store.get(inv.storage_key)
        except KeyError:
            return None

    def badge(self, inv: Invoice) -> Badge:
        return badge_for(inv, self.original(inv))

    def audit_extract(self, voucher: Voucher, invoices: list[Invoice], item: ArchiveItem | None
                      ) -> list[AuditEvent]:
        # events committed but not yet linked get their chain numbers first
        AuditSequencer(self.db, signer=self.signer).link(self.org_id, wait=True)
        claim: Claim = voucher.claim
        cond = (((AuditEvent.object_type == "voucher") & (AuditEvent.object_id == str(voucher.id)))
                | ((AuditEvent.object_type == "claim") & AuditEvent.object_id.in_([claim.number, str(claim.id)]))
                | ((AuditEvent.object_type == "invoice") & AuditEvent.object_id.in_([str(i.id) for i in invoices])))
        if item is not None:
            cond = cond | ((AuditEvent.object_type == "archive_item")
                           & AuditEvent.object_id.in_([item.archival_code, str(item.id)]))
        return list(self.db.execute(select(AuditEvent).where(AuditEvent.org_id == self.org_id, cond)
                                    .order_by(AuditEvent.chain_seq)).scalars())

    # -- renditions ------------------------------------------------------------------
    def rendition_svg(self, inv: Invoice, *, page: int = 0, record: bool = True, via: str = "api") -> str:
        from invoice_archive.render import render_document_svg, render_ofd_svg

        data = self._original_or_fail(inv)
        svg = None
        if data[:4] == b"PK\x03\x04":
            from invoice_archive.formats import open_ofd

            try:
                pkg = open_ofd(data)
                svg = render_ofd_svg({name: pkg[name] for name in pkg}, page)
            except Exception:
                svg = None
        if svg is None:
            svg = render_document_svg(self._document(data))
        if record:
            self.audit.record("invoice.rendition_viewed", "invoice", inv.id, format="svg", page=page, via=via)
        return svg

    def rendition_pdf(self, inv: Invoice, *, via: str = "api") -> bytes:
        from invoice_archive.render import render_invoice_pdf

        data = self._original_or_fail(inv)
        pdf = render_invoice_pdf(data)
        self.audit.record("invoice.rendition_viewed", "invoice", inv.id, format="pdf", via=via)
        return pdf

    @staticmethod
    def _document(data: bytes) -> Any:
        from invoice_archive.formats import read_invoice

        return read_invoice(data)

    def _original_or_fail(self, inv: Invoice) -> bytes:
        ensure_original_kept(self.db, self.org_id, inv.storage_key, f"发票 {inv.number or inv.business_key} ")
        return original_bytes(self.store, inv)

    # -- the bundle ------------------------------------------------------------------
    def voucher_bundle(self, voucher_id: int, *, via: str = "api") -> tuple[Voucher, bytes]:
        voucher = self.voucher(voucher_id)   # a wrong id is a 404 whatever the configuration
        if self.signer is None:
            raise SigningUnconfigured("审计包签名密钥未配置（bundle.signing_key），暂不能生成审计包，请联系管理员。",
                                      code="bundle_signing_unconfigured", status=503)
        invoices = self.invoices_of(voucher)
        item = self.archive_item(voucher)
        org = self.db.get(Organisation, self.org_id)
        files = [InvoiceFile(filename=inv.filename or f"{inv.business_key}.{inv.source_format}",
                             data=self._original_or_fail(inv), verification=inv.verification,
                             invoice=inv.document, business_key=inv.business_key) for inv in invoices]
        events = self.audit_extract(voucher, invoices, item)
        parts = BundleParts(
            bundle_id=item.archival_code if item is not None else
            f"{org.fonds_code}-{voucher.fiscal_year}-{voucher.period:02d}-{voucher.display_number}",
            voucher=voucher_dict(voucher),
            claim=claim_dict(voucher.claim),
            invoices=files,
            rules_report={"invoices": [{"business_key": inv.business_key, "number": inv.number,
                                        "rules": inv.rules} for inv in invoices]},
            archive_metadata=self._archive_metadata(item),
            archive_metadata_xml=self._archive_metadata_xml(item),
            audit_log=[{"id": e.id, "at": e.at, "actor": e.actor, "role": e.role, "action": e.action,
                        "object_type": e.object_type, "object_id": e.object_id, "detail": e.detail,
                        "chain_seq": e.chain_seq, "hash": e.hash} for e in events],
            created_at=utcnow(),
            issuer=f"invoice-archive · {org.name}",
        )
        data = build_bundle(parts, self.signer)
        self.audit.record("voucher.bundle_downloaded", "voucher", voucher.id, bundle_id=parts.bundle_id,
                          sha256=sha256_hex(data), size=len(data), key_id=self.signer.key_id(),
                          algorithm=self.signer.algorithm, invoices=len(files), via=via)
        return voucher, data

    def _archive_metadata(self, item: ArchiveItem | None) -> dict[str, Any]:
        if item is None:
            return {"archived": False, "note": "该凭证尚未归档"}
        return {
            "archived": True, "archival_code": item.archival_code, "fonds_code": item.fonds_code,
            "class_code": item.class_code, "volume_no": item.volume_no, "item_no": item.item_no,
            "fiscal_year": item.fiscal_year, "period": item.period, "retention": item.retention,
            "retention_until": item.retention_until, "archived_at": item.archived_at,
            "archived_by": item.archived_by, "package_sha256": item.package_sha256,
            "package_sm3": item.package_sm3, "package_size": item.package_size, "checks": item.checks,
            "manifest": item.manifest,
        }

    def _archive_metadata_xml(self, item: ArchiveItem | None) -> bytes | None:
        """The DA/T 94 metadata file as the archive package holds it (None when not archived
        or the package cannot be read: the JSON metadata is still in the bundle)."""
        if item is None:
            return None
        try:
            package = self.store.get(item.package_key)
            with zipfile.ZipFile(io.BytesIO(package)) as zf:
                for name in zf.namelist():
                    if name.endswith("-metadata.xml"):
                        return zf.read(name)
        except (KeyError, OSError, zipfile.BadZipFile):
            return None
        return None

    # -- auditing what the auditor looked at --------------------------------------------
    def record_view(self, voucher: Voucher, *, via: str = "web") -> None:
        self.audit.record("voucher.viewed", "voucher", voucher.id, display_number=voucher.display_number, via=via)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def voucher_dict(v: Voucher) -> dict[str, Any]:
    return {
        "id": v.id, "voucher_word": v.voucher_word, "voucher_number": v.voucher_number,
        "display_number": v.display_number, "fiscal_year": v.fiscal_year, "period": v.period,
        "date": _iso(v.date), "prepared_by": v.prepared_by, "reviewed_by": v.reviewed_by,
        "posted_by": v.posted_by, "debit_total": str(v.debit_total), "credit_total": str(v.credit_total),
        "attachment_count": v.attachment_count, "red_flag": v.red_flag, "reverses_id": v.reverses_id,
        "reason": v.reason, "external_ref": v.external_ref, "source_system": v.source_system,
        "system_id": v.system_id, "claim_number": v.claim.number, "reported_at": _iso(v.reported_at),
        "reported_by": v.reported_by,
        "entries": [{"line_no": e.line_no, "summary": e.summary, "account_code": e.account_code,
                     "account_name": e.account_name, "debit": str(e.debit), "credit": str(e.credit)}
                    for e in v.entries],
    }


def claim_dict(c: Claim) -> dict[str, Any]:
    return {
        "number": c.number, "title": c.title, "expense_category": c.expense_category, "claimant": c.claimant,
        "status": c.status, "total": str(c.total), "created_at": _iso(c.created_at),
        "invoices": [{"business_key": line.invoice.business_key, "number": line.invoice.number,
                      "total": str(line.invoice.total) if line.invoice.total is not None else None,
                      "released_at": _iso(line.released_at)} for line in c.lines],
        "sign_offs": [{"step": s.step, "who": s.actor, "role": s.role, "at": _iso(s.at), "comment": s.comment}
                      for s in c.signoffs],
    }


def includeme(config: Any) -> None:
    """Load the signing key at start-up (when configured) and register the service."""
    bundle = config.registry.app_settings.bundle
    signer = config.registry.get("invoice_archive.bundle_signer")
    if signer is None and bundle.signing_key is not None:
        signer = signer_from_settings(bundle)
    config.registry[SIGNER_KEY] = signer
    if signer is not None:
        from invoice_archive.bundle.certificate import certificate_for

        config.registry[CERTIFICATE_KEY] = certificate_for(signer, bundle.certificate)
    config.register_service_factory(BundleService.factory, BundleService)
