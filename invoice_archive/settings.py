"""Typed settings: the ini file gives defaults, environment variables override.

Everything is parsed and checked once at start-up, so a bad setting fails there
and not on the first request.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

# setting name -> environment variable that overrides it
ENVIRON = {
    "sqlalchemy.url": "DATABASE_URL",
    "archive.store_url": "ARCHIVE_STORE_URL",
    "accounting.backend": "ACCOUNTING_BACKEND",
    "accounting.voucher_report_parser": "VOUCHER_REPORT_PARSER",
    "verification.trust_store": "TRUST_STORE",
    "verification.reimbursable_verdicts": "REIMBURSABLE_VERDICTS",
    "intake.max_upload_bytes": "MAX_UPLOAD_BYTES",
    "bundle.signing_algorithm": "BUNDLE_SIGNING_ALGORITHM",
    "bundle.signing_key": "BUNDLE_SIGNING_KEY",
    "taxplatform.backend": "TAXPLATFORM_BACKEND",
    "taxplatform.url": "TAXPLATFORM_URL",
    "archive.clamav_database": "CLAMAV_DATABASE",
}

DEFAULTS = {
    "sqlalchemy.url": "sqlite:///%(here)s/var/invoice-archive.sqlite",
    "archive.store_url": "file://%(here)s/var/archive-store",
    "accounting.backend": "",
    "accounting.voucher_report_parser": "invoice_archive_adapters.generic_json:parse_voucher_report",
    "accounting.source_name": "generic_json",
    "verification.trust_store": "",
    "verification.reimbursable_verdicts": "valid",
    "intake.max_upload_bytes": str(20 * 1024 * 1024),
    "archive.retention.original_voucher": "30",
    "archive.retention.voucher": "30",
}


class SettingsError(ValueError):
    """A setting is missing or malformed: raised at start-up."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    store_url: str
    accounting_backend: str
    voucher_report_parser: str
    source_name: str
    trust_store: Path | None
    reimbursable_verdicts: frozenset[str]
    max_upload_bytes: int
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)


def _expand(value: str, here: str) -> str:
    return value.replace("%(here)s", here)


def merge_environ(settings: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return ini settings with environment overrides applied and defaults filled in."""
    environ = os.environ if environ is None else environ
    here = str(settings.get("here") or os.getcwd())
    merged: dict[str, Any] = {k: _expand(v, here) for k, v in DEFAULTS.items()}
    merged.update(settings)
    for name, var in ENVIRON.items():
        if environ.get(var):
            merged[name] = environ[var]
    return merged


def parse(settings: Mapping[str, Any]) -> Settings:
    url = str(settings["sqlalchemy.url"]).strip()
    if not url or "://" not in url:
        raise SettingsError(f"sqlalchemy.url / DATABASE_URL is not a database URL: {url!r}")
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # psycopg 3 is the supported PostgreSQL driver
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    store = str(settings["archive.store_url"]).strip()
    if not (store.startswith("file://") or store.startswith("s3://")):
        raise SettingsError(f"archive.store_url / ARCHIVE_STORE_URL must be file:// or s3://, got {store!r}")
    trust = str(settings.get("verification.trust_store") or "").strip()
    try:
        max_upload = int(settings["intake.max_upload_bytes"])
    except (TypeError, ValueError) as exc:
        raise SettingsError("intake.max_upload_bytes must be a whole number of bytes") from exc
    verdicts = frozenset(str(settings["verification.reimbursable_verdicts"]).split())
    return Settings(
        database_url=url,
        store_url=store,
        accounting_backend=str(settings["accounting.backend"]).strip(),
        voucher_report_parser=str(settings["accounting.voucher_report_parser"]).strip(),
        source_name=str(settings["accounting.source_name"]).strip(),
        trust_store=Path(trust) if trust else None,
        reimbursable_verdicts=verdicts,
        max_upload_bytes=max_upload,
        raw=dict(settings),
    )


def retention_years(settings: Mapping[str, Any], category: str) -> int | None:
    """Retention period in years from the 79号令 table; None means permanent."""
    value = str(settings.get(f"archive.retention.{category}", "30")).strip()
    return None if value in ("permanent", "永久") else int(value)


def decimal_setting(settings: Mapping[str, Any], name: str, default: str) -> Decimal:
    return Decimal(str(settings.get(name, default)))
