"""Typed settings: the ini file gives defaults, environment variables override.

Everything is parsed and checked once at start-up by :func:`parse`, into one
frozen :class:`Settings` made of nested sections, so a bad setting fails there
(:class:`SettingsError`, naming the setting and its environment variable) and
not on the first request. This is the only module that reads the raw settings
mapping: the application keeps the parsed object on its registry
(``registry.app_settings``, set in :mod:`invoice_archive.config`), the console
scripts get it from :func:`invoice_archive.cli.load_settings`, and every
consumer takes its section::

    database      sqlalchemy.url
    archive       archive.store_url, archive.class_scheme, archive.retention.<category>,
                  archive.s3.*, archive.clamav_*
    accounting    accounting.backend, accounting.voucher_report_parser, accounting.source_name,
                  accounting.posted_when, and the adapter's own accounting.* options (url, token, ...)
    posting       posting.book, posting.voucher_word, posting.account.* (the account mapping)
    verification  verification.trust_store, verification.reimbursable_verdicts,
                  verification.allowed_verdicts, verification.unsigned_requires_tax_check
    intake        intake.max_upload_bytes
    bundle        bundle.signing_algorithm, bundle.signing_key, bundle.signing_key_generate,
                  bundle.certificate
    taxplatform   taxplatform.backend, taxplatform.url, taxplatform.posting_purpose,
                  taxplatform.max_age_days, and the adapter's own taxplatform.* options
    rules         rules.category.<name>.*
    worker        worker.lease_seconds, worker.backoff_base_seconds,
                  worker.backoff_max_seconds, worker.max_attempts, worker.confirm_interval_seconds
    deployment    deployment.profile (the configuration's name, shown to pilot evaluators)

An adapter's own options (``accounting.*``, ``taxplatform.*``) are handed to it
as they are (``section.options``): only the adapter knows them, and it checks
them when it is constructed, which is at start-up too.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from invoice_archive.ports.accounting import RemoteStatus

if TYPE_CHECKING:
    from invoice_archive.ports.taxplatform import PostingPurpose
    from invoice_archive.posting.drafting import AccountMapping
    from invoice_archive.rules.policy import CategoryPolicy
    from invoice_archive.verification.policy import ReimbursementPolicy

# setting name -> environment variable that overrides it
ENVIRON = {
    "sqlalchemy.url": "DATABASE_URL",
    "archive.store_url": "ARCHIVE_STORE_URL",
    "accounting.backend": "ACCOUNTING_BACKEND",
    "accounting.voucher_report_parser": "VOUCHER_REPORT_PARSER",
    "accounting.posted_when": "ACCOUNTING_POSTED_WHEN",
    "verification.trust_store": "TRUST_STORE",
    "verification.reimbursable_verdicts": "REIMBURSABLE_VERDICTS",
    "intake.max_upload_bytes": "MAX_UPLOAD_BYTES",
    "bundle.signing_algorithm": "BUNDLE_SIGNING_ALGORITHM",
    "bundle.signing_key": "BUNDLE_SIGNING_KEY",
    "bundle.certificate": "BUNDLE_CERTIFICATE",
    "taxplatform.backend": "TAXPLATFORM_BACKEND",
    "taxplatform.url": "TAXPLATFORM_URL",
    "archive.clamav_database": "CLAMAV_DATABASE",
    "deployment.profile": "DEPLOYMENT_PROFILE",
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


# setting name -> environment variable used only when the setting is not given
# (the S3 credentials: a value in the ini file wins, as boto3's own chain comes last)
ENVIRON_FALLBACK = {
    "archive.s3.access_key_id": "ARCHIVE_S3_ACCESS_KEY_ID",
    "archive.s3.secret_access_key": "ARCHIVE_S3_SECRET_ACCESS_KEY",
    "archive.s3.session_token": "ARCHIVE_S3_SESSION_TOKEN",
}


class SettingsError(ValueError):
    """A setting is missing or malformed: raised at start-up, by :func:`parse`.

    The message starts with the setting's name and, when one overrides it, its
    environment variable: ``intake.max_upload_bytes / MAX_UPLOAD_BYTES: ...``.
    """

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.variable = ENVIRON.get(setting) or ENVIRON_FALLBACK.get(setting)
        self.problem = problem
        super().__init__(f"{setting} / {self.variable}: {problem}" if self.variable else f"{setting}: {problem}")


# -- the sections ------------------------------------------------------------------------

@dataclass(frozen=True)
class DatabaseSettings:
    url: str                                   # a SQLAlchemy URL (postgresql:// becomes postgresql+psycopg://)


@dataclass(frozen=True)
class S3Settings:
    """``archive.s3.*``: what an ``s3://`` store URL does not say (never credentials in the URL)."""

    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ClamAVSettings:
    """``archive.clamav_database`` (signature file or folder), ``archive.clamav_executable``,
    ``archive.clamav_daemon`` (clamdscan with the daemon's own database), ``archive.clamav_timeout``."""

    database: str | None = None
    executable: str | None = None
    daemon: bool = False
    timeout: float = 600.0


@dataclass(frozen=True)
class ArchiveSettings:
    store_url: str
    class_scheme: str                          # 类别号 scheme, checked at parse
    retention: Mapping[str, int | None]        # years per 79号令 record category; None = 永久
    s3: S3Settings = S3Settings()
    clamav: ClamAVSettings = ClamAVSettings()

    def retention_years(self, category: str = "voucher") -> int | None:
        return self.retention[category]


@dataclass(frozen=True)
class AccountingSettings:
    backend: str                               # dotted name of the adapter; "" = none
    voucher_report_parser: str
    source_name: str
    #: how far a voucher must have come in the accounting system (saved < audited < posted,
    #: as read back from it) before the claim counts as 入账 (docs/accounting-systems.md)
    posted_when: RemoteStatus = RemoteStatus.POSTED
    #: every ``accounting.*`` setting as given, for the adapter (url, token, ...)
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)


@dataclass(frozen=True)
class PostingSettings:
    #: the account mapping (``posting.*``); None when it is incomplete and no
    #: accounting.backend needs it (with one, an incomplete mapping fails the parse)
    mapping: AccountMapping | None = None


@dataclass(frozen=True)
class VerificationSettings:
    trust_store: Path | None                   # a directory, loaded once at start-up
    reimbursable_verdicts: frozenset[str]      # claimable without a tax-platform check
    reimbursement: ReimbursementPolicy         # verification.allowed_verdicts / unsigned_requires_tax_check


@dataclass(frozen=True)
class IntakeSettings:
    max_upload_bytes: int


@dataclass(frozen=True)
class BundleSettings:
    signing_algorithm: str                     # one of invoice_archive.bundle.ALGORITHMS
    signing_key: Path | None                   # the PEM private key; None = bundles are not signed
    signing_key_generate: bool = False         # development only: generate a missing key file
    #: the key's X.509 certificate (PEM or DER file) from the operator's CA, carried in an
    #: EEP's 证书; None = a self-signed one is made at start-up (bundle/certificate.py)
    certificate: Path | None = None


@dataclass(frozen=True)
class TaxPlatformSettings:
    backend: str                               # dotted name of the adapter; "" = none
    url: str
    posting_purpose: PostingPurpose
    max_age_days: int
    #: every ``taxplatform.*`` setting as given, for the adapter (url, token, timeouts, codes)
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)


@dataclass(frozen=True)
class RulesSettings:
    categories: CategoryPolicy | None = None   # None when no rules.category.* is set


@dataclass(frozen=True)
class WorkerSettings:
    lease_seconds: float = 300.0
    backoff_base_seconds: float = 5.0          # doubled per attempt
    backoff_max_seconds: float = 3600.0
    max_attempts: int = 20
    #: how often a voucher the accounting system holds but has not yet audited or posted
    #: (accounting.posted_when) is read again
    confirm_interval_seconds: float = 300.0


@dataclass(frozen=True)
class DeploymentSettings:
    #: the name of this configuration (development, production, 试点验收 ...), stated in
    #: GET /api/v1/deployment and on the acceptance report (docs/acceptance.md)
    profile: str = "unnamed"


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings
    archive: ArchiveSettings
    accounting: AccountingSettings
    posting: PostingSettings
    verification: VerificationSettings
    intake: IntakeSettings
    bundle: BundleSettings
    taxplatform: TaxPlatformSettings
    rules: RulesSettings
    worker: WorkerSettings
    deployment: DeploymentSettings = DeploymentSettings()


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
    for name, var in ENVIRON_FALLBACK.items():
        if environ.get(var) and not str(merged.get(name) or "").strip():
            merged[name] = environ[var]
    return merged


def load(settings: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """``parse(merge_environ(settings, environ))``."""
    return parse(merge_environ(settings, environ))


def parse(settings: Mapping[str, Any]) -> Settings:
    """Every section, checked: a bad value raises :class:`SettingsError` naming it.

    ``settings`` is the ini's settings with the environment applied
    (:func:`merge_environ`). A setting given empty counts as not given (its
    default applies), as for ``accounting.backend =`` in development.ini.
    Nothing is opened or loaded here: the key file, the trust store and the
    adapters are loaded from these values at start-up by their owners.
    """
    accounting = _accounting(settings)
    return Settings(
        database=_database(settings),
        archive=_archive(settings),
        accounting=accounting,
        posting=_posting(settings, accounting.backend),
        verification=_verification(settings),
        intake=IntakeSettings(max_upload_bytes=_int(settings, "intake.max_upload_bytes", 20 * 1024 * 1024)),
        bundle=_bundle(settings),
        taxplatform=_taxplatform(settings),
        rules=_rules(settings),
        worker=WorkerSettings(
            lease_seconds=_float(settings, "worker.lease_seconds", 300.0, positive=True),
            backoff_base_seconds=_float(settings, "worker.backoff_base_seconds", 5.0),
            backoff_max_seconds=_float(settings, "worker.backoff_max_seconds", 3600.0),
            max_attempts=_int(settings, "worker.max_attempts", 20),
            confirm_interval_seconds=_float(settings, "worker.confirm_interval_seconds", 300.0),
        ),
        deployment=_deployment(settings),
    )


def _deployment(settings: Mapping[str, Any]) -> DeploymentSettings:
    profile = _text(settings, "deployment.profile", "unnamed")
    if len(profile) > 64 or any(ord(c) < 32 for c in profile):
        raise SettingsError("deployment.profile", f"{profile!r}: a short name (at most 64 characters, one line)")
    return DeploymentSettings(profile=profile)


# -- reading one value ---------------------------------------------------------------------

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _text(settings: Mapping[str, Any], name: str, default: str = "") -> str:
    value = settings.get(name)
    text = "" if value is None else str(value).strip()
    return text or default


def _optional(settings: Mapping[str, Any], name: str) -> str | None:
    return _text(settings, name) or None


def _bool(settings: Mapping[str, Any], name: str, default: bool) -> bool:
    value = settings.get(name)
    if isinstance(value, bool):
        return value
    text = _text(settings, name).lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(name, f"{value!r} is not true or false (use true/false, yes/no, on/off or 1/0)")


def _int(settings: Mapping[str, Any], name: str, default: int, *, minimum: int = 1) -> int:
    text = _text(settings, name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(name, f"{text!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(name, f"{value} is less than {minimum}")
    return value


def _float(settings: Mapping[str, Any], name: str, default: float, *, positive: bool = False) -> float:
    text = _text(settings, name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(name, f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise SettingsError(name, f"{text!r} must be a {'positive' if positive else 'non-negative'} number of seconds")
    return value


def _words(value: Any) -> frozenset[str]:
    """A list setting: space or comma separated (or a list, from a test's dict)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(str(v).strip() for v in value if str(v).strip())
    return frozenset(str(value or "").replace(",", " ").split())


def _prefixed(settings: Mapping[str, Any], prefix: str) -> Mapping[str, Any]:
    return MappingProxyType({k: v for k, v in settings.items() if isinstance(k, str) and k.startswith(prefix)})


# -- the sections ------------------------------------------------------------------------

def _database(settings: Mapping[str, Any]) -> DatabaseSettings:
    url = _text(settings, "sqlalchemy.url")
    if "://" not in url:
        raise SettingsError("sqlalchemy.url", f"not a database URL: {url!r}")
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # psycopg 3 is the supported PostgreSQL driver
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return DatabaseSettings(url=url)


def _archive(settings: Mapping[str, Any]) -> ArchiveSettings:
    from invoice_archive.archive.codes import DEFAULT_CLASS_SCHEME, RETENTION_YEARS, voucher_class_code
    from invoice_archive.archive.retention import retention_problem

    store = _text(settings, "archive.store_url")
    if not (store.startswith("file://") or store.startswith("s3://")):
        raise SettingsError("archive.store_url", f"must be file:// or s3://, got {store!r}")
    scheme = _text(settings, "archive.class_scheme", DEFAULT_CLASS_SCHEME)
    try:
        voucher_class_code(2024, 30, scheme)
    except (ValueError, KeyError, IndexError) as exc:
        raise SettingsError("archive.class_scheme", f"{scheme!r}: {exc} (fields: {{year}}, {{retention}})") from None
    years = dict(RETENTION_YEARS)
    prefix = "archive.retention."
    for name, value in sorted(_prefixed(settings, prefix).items()):
        category = name[len(prefix):]
        if category not in RETENTION_YEARS:
            raise SettingsError(name, f"unknown record category {category!r}; one of {', '.join(RETENTION_YEARS)}")
        text = str(value).strip()
        if text in ("None", "permanent", "永久", "Y"):
            years[category] = None
        elif text:
            try:
                years[category] = _int(settings, name, 0)
            except SettingsError as exc:
                raise SettingsError(name, f"{exc.problem}: give a number of years, or 永久 / permanent") from None
        # 79号令 附表1 is a minimum (docs/retention.md): longer is allowed, shorter refused here
        problem = retention_problem(category, years[category])
        if problem:
            raise SettingsError(name, problem)
    return ArchiveSettings(
        store_url=store, class_scheme=scheme, retention=MappingProxyType(years),
        s3=S3Settings(endpoint=_optional(settings, "archive.s3.endpoint"),
                      region=_optional(settings, "archive.s3.region"),
                      access_key_id=_optional(settings, "archive.s3.access_key_id"),
                      secret_access_key=_optional(settings, "archive.s3.secret_access_key"),
                      session_token=_optional(settings, "archive.s3.session_token")),
        clamav=ClamAVSettings(database=_optional(settings, "archive.clamav_database"),
                              executable=_optional(settings, "archive.clamav_executable"),
                              daemon=_bool(settings, "archive.clamav_daemon", False),
                              timeout=_float(settings, "archive.clamav_timeout", 600.0, positive=True)),
    )


def _accounting(settings: Mapping[str, Any]) -> AccountingSettings:
    name = "accounting.voucher_report_parser"
    states = {"saved": RemoteStatus.SAVED, "audited": RemoteStatus.AUDITED, "posted": RemoteStatus.POSTED}
    posted_when = _text(settings, "accounting.posted_when", "posted").lower()
    if posted_when not in states:
        raise SettingsError("accounting.posted_when", f"{posted_when!r} is not a voucher state; one of saved, "
                                                      f"audited, posted (保存、审核、过账)")
    return AccountingSettings(backend=_text(settings, "accounting.backend"),
                              voucher_report_parser=_text(settings, name, DEFAULTS[name]),
                              source_name=_text(settings, "accounting.source_name", "generic_json"),
                              posted_when=states[posted_when], options=_prefixed(settings, "accounting."))


def _posting(settings: Mapping[str, Any], backend: str) -> PostingSettings:
    from invoice_archive.posting.drafting import AccountMapping, MappingError

    prefix = "posting.account.expense."
    try:
        mapping = AccountMapping(
            book=_text(settings, "posting.book", "001"), voucher_word=_text(settings, "posting.voucher_word", "记"),
            expense=MappingProxyType({k[len(prefix):]: str(v).strip() for k, v in _prefixed(settings, prefix).items()}),
            input_vat=_text(settings, "posting.account.input_vat"), credit=_text(settings, "posting.account.credit"))
    except MappingError as exc:
        if backend:   # the adapter would get drafts it cannot post
            raise SettingsError(exc.setting, f"{exc.problem} (accounting.backend is set)") from None
        mapping = None
    return PostingSettings(mapping=mapping)


def _verification(settings: Mapping[str, Any]) -> VerificationSettings:
    from invoice_archive.verification.policy import NEVER, ReimbursementPolicy
    from invoice_archive.verification.report import VERDICTS

    name = "verification.reimbursable_verdicts"
    verdicts = _words(settings.get(name, DEFAULTS[name]))
    if verdicts - VERDICTS:
        raise SettingsError(name, f"unknown verdict(s) {', '.join(sorted(verdicts - VERDICTS))}; "
                                  f"use some of {', '.join(sorted(VERDICTS - NEVER))}")
    if verdicts & NEVER:
        raise SettingsError(name, f"{', '.join(sorted(verdicts & NEVER))} can never be reimbursed")
    allowed = _words(settings.get("verification.allowed_verdicts"))
    unsigned_requires_tax_check = _bool(settings, "verification.unsigned_requires_tax_check", True)
    try:
        reimbursement = ReimbursementPolicy(**({"allowed_verdicts": allowed} if allowed else {}),
                                            unsigned_requires_tax_check=unsigned_requires_tax_check)
    except ValueError as exc:
        raise SettingsError("verification.allowed_verdicts", str(exc)) from None
    trust = _text(settings, "verification.trust_store")
    return VerificationSettings(trust_store=Path(trust) if trust else None, reimbursable_verdicts=verdicts,
                                reimbursement=reimbursement)


def _bundle(settings: Mapping[str, Any]) -> BundleSettings:
    from invoice_archive.bundle.signing import ALGORITHMS, ED25519

    algorithm = _text(settings, "bundle.signing_algorithm", ED25519).lower()
    if algorithm not in ALGORITHMS:
        raise SettingsError("bundle.signing_algorithm", f"{algorithm!r} 不支持（可选: {', '.join(ALGORITHMS)}）")
    key = _text(settings, "bundle.signing_key")
    certificate = _text(settings, "bundle.certificate")
    if certificate and not key:
        raise SettingsError("bundle.certificate", "a certificate needs its key: set bundle.signing_key too")
    return BundleSettings(signing_algorithm=algorithm, signing_key=Path(key) if key else None,
                          signing_key_generate=_bool(settings, "bundle.signing_key_generate", False),
                          certificate=Path(certificate) if certificate else None)


def _taxplatform(settings: Mapping[str, Any]) -> TaxPlatformSettings:
    from invoice_archive.ports.taxplatform import POSTING_PURPOSES, PostingPurpose

    name = "taxplatform.posting_purpose"
    purpose = _text(settings, name, PostingPurpose.POSTED_EIT_DEDUCTIBLE.value)
    if purpose not in {p.value for p in POSTING_PURPOSES}:
        raise SettingsError(name, f"{purpose!r} is not a posting purpose; one of "
                                  f"{', '.join(sorted(p.value for p in POSTING_PURPOSES))}")
    return TaxPlatformSettings(backend=_text(settings, "taxplatform.backend"), url=_text(settings, "taxplatform.url"),
                               posting_purpose=PostingPurpose(purpose),
                               max_age_days=_int(settings, "taxplatform.max_age_days", 365),
                               options=_prefixed(settings, "taxplatform."))


def _rules(settings: Mapping[str, Any]) -> RulesSettings:
    from invoice_archive.rules.policy import PREFIX, PolicyError, policy_from_settings

    if not _prefixed(settings, PREFIX):
        return RulesSettings()
    try:
        return RulesSettings(categories=policy_from_settings(settings))
    except PolicyError as exc:
        raise SettingsError(exc.key, exc.message) from None
