"""What a pilot evaluator may know of the deployment they assess, who a token is,
and the deployment's signature on an acceptance report (docs/acceptance.md).

The profile is what the acceptance report states beside its results: the
version, the configuration's name (``deployment.profile``) and the facts a
scenario depends on (is a tax platform or an accounting system connected, is
the virus check performed, which roots does the trust store hold, which
verdicts may be claimed directly). Nothing secret is in it: no URL with
credentials, no key, no token.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pyramid.path import DottedNameResolver
from sqlalchemy.orm import Session

from invoice_archive.bundle.statement import REPORT_KIND, SHA256_RE, sign_statement
from invoice_archive.db import utcnow
from invoice_archive.errors import DomainError, Invalid
from invoice_archive.models import Organisation
from invoice_archive.ports import is_configured
from invoice_archive.services.audit import AuditLog


def service_version() -> str:
    try:
        return version("invoice-archive")
    except PackageNotFoundError:   # pragma: no cover - run from a checkout that was never installed
        return "unknown"


def _store_kind(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "file"


def _accounting_system(backend: str) -> str | None:
    """The adapter's own name (kingdee, u8, yonsuite, generic_json), as vouchers record it."""
    if not backend:
        return None
    try:
        return str(getattr(DottedNameResolver().maybe_resolve(backend), "name", backend))
    except (ImportError, AttributeError, ValueError):   # start-up verified it; be safe anyway
        return backend


def deployment_profile(settings: Any, *, trust_store: Any, scanner: Any, signer: Any, taxplatform: Any,
                       database_dialect: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The deployment as an evaluator's report states it (GET /api/v1/deployment)."""
    roots = [] if trust_store is None else [
        {"subject": c.info_subject, "sha256": hashlib.sha256(c.der).hexdigest()} for c in trust_store.roots]
    # performed or not, as archiving will find it (docs/archive-waivers.md): a scanner that runs
    usable, engine = scanner.available() if scanner is not None else (False, "未配置病毒检测")
    if usable and scanner.database is None and not scanner.daemon and "/" not in engine.split("（", 1)[0]:
        # `clamscan --version` names the signature database's version when it has one
        # ("ClamAV 1.0.3/27000/..."): without one every scan would be "not performed"
        usable, engine = False, f"{engine}：系统病毒库为空（未设置 archive.clamav_database）"
    return {
        "version": service_version(),
        "profile": settings.deployment.profile,
        "server_time": (now or utcnow()).isoformat(),
        "database": database_dialect,
        "archive_store": _store_kind(settings.archive.store_url),
        "accounting_system": _accounting_system(settings.accounting.backend),
        "accounting_posted_when": str(settings.accounting.posted_when) if settings.accounting.backend else None,
        "tax_platform": is_configured(taxplatform),
        "virus_scanner": {"configured": usable, "engine": engine},
        "trust_store": {"configured": trust_store is not None, "roots": roots},
        "reimbursable_verdicts": sorted(settings.verification.reimbursable_verdicts),
        "bundle_signing": None if signer is None else {"algorithm": signer.algorithm, "key_id": signer.key_id()},
        "class_scheme": settings.archive.class_scheme,
        "retention_voucher": settings.archive.retention_years("voucher"),
    }


def whoami(db: Session, identity: Any) -> dict[str, Any]:
    """The token's person, role and organisation (GET /api/v1/me)."""
    org = db.get(Organisation, identity.org_id)
    return {"name": identity.name, "role": identity.role, "person_id": identity.person_id,
            "organisation": {"name": org.name, "tax_id": org.tax_id, "fonds_code": org.fonds_code}}


def sign_report(db: Session, audit: AuditLog, signer: Any, identity: Any, *, sha256: str, title: str | None,
                settings: Any) -> dict[str, Any]:
    """The bundle key's signature on an acceptance report's SHA-256 (the digest of its
    SHA256SUMS file), as a statement naming who asked, when, and the deployment.
    Written to the audit log; checked offline by ``invoice-archive verify-report``."""
    sha256 = sha256.strip().lower()
    if not SHA256_RE.match(sha256):
        raise Invalid("sha256 须为 64 位十六进制的 SHA-256 摘要。", code="invalid_digest")
    if signer is None:
        raise DomainError("本部署未配置签名密钥（bundle.signing_key），无法为验收报告签名。",
                          code="bundle_signing_unconfigured", status=503)
    org = db.get(Organisation, identity.org_id)
    statement = {
        "kind": REPORT_KIND, "report_sha256": sha256, "title": title or "验收报告",
        "signed_at": utcnow().isoformat(), "requested_by": identity.name, "role": identity.role,
        "organisation": {"name": org.name, "tax_id": org.tax_id, "fonds_code": org.fonds_code},
        "deployment": {"version": service_version(), "profile": settings.deployment.profile},
    }
    signed = sign_statement(signer, statement)
    audit.record("acceptance.report_signed", "report", sha256, title=statement["title"], key_id=signed["key_id"])
    return signed


__all__ = ["deployment_profile", "service_version", "sign_report", "whoami"]
