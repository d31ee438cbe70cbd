"""Who may do what: API tokens (Bearer, stored as SHA-256), one role each, one organisation each.

Permissions are `resource:action`; each role has a fixed set. Every view must
name a permission: the default permission is one nobody holds, so a forgotten
one denies.
"""
from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from pyramid.security import Allowed, Denied
from pyramid.request import Request
from sqlalchemy import or_, select, update

from invoice_archive.db import utcnow
from invoice_archive.models import ApiToken, Role, WebSession

_UNSET = object()

TOKEN_PREFIX = "ia_"
DENY_ALL = "__no_permission_declared__"
#: the auditors' web session cookie (HttpOnly, SameSite=Strict, path /audit): a server-side
#: session's random id, never the API token; accepted on web.* routes only
WEB_COOKIE = "ia_web_session"


class Permissions(enum.StrEnum):
    INVOICES_CREATE = "invoices:create"
    INVOICES_READ = "invoices:read"
    CLAIMS_CREATE = "claims:create"
    CLAIMS_READ = "claims:read"
    CLAIMS_SUBMIT = "claims:submit"
    CLAIMS_APPROVE = "claims:approve"
    VOUCHERS_REPORT = "vouchers:report"
    VOUCHERS_READ = "vouchers:read"
    VOUCHERS_REVERSE = "vouchers:reverse"
    CLAIMS_POST = "claims:post"
    ARCHIVE_CREATE = "archive:create"
    ARCHIVE_READ = "archive:read"
    ARCHIVE_DOWNLOAD = "archive:download"
    ARCHIVE_WAIVE = "archive:waive"        # record a waiver of a check not performed (docs/archive-waivers.md)
    ARCHIVE_RECORDS = "archive:records"    # archive a period's ledgers, reports, statements (docs/records.md)
    ARCHIVE_HOLD = "archive:hold"          # hold an item for an unsettled matter, release it (docs/disposition.md)
    ARCHIVE_APPRAISE = "archive:appraise"  # appraise the items whose retention ended (鉴定)
    ARCHIVE_DESTROY = "archive:destroy"    # propose a destruction list, execute an approved one (销毁, 监销)
    ARCHIVE_APPROVE = "archive:approve"    # approve or refuse a destruction list (第十八条's 负责人)
    ARCHIVE_TRANSFER = "archive:transfer"  # prepare or cancel a transfer (移交清册)
    ARCHIVE_SIGN = "archive:sign"          # sign a 移交清册 as 移交人, 接收人 or 监交人 (by role)
    AUDIT_READ = "audit:read"
    SEARCH_READ = "search:read"            # auditors' search (every search is audited)
    BUNDLES_DOWNLOAD = "bundles:download"  # a voucher's signed evidence bundle
    TOKENS_MANAGE = "tokens:manage"        # issue, list and revoke the organisation's tokens
    SELF_READ = "self:read"                # who am I: the token's person, role and organisation
    DEPLOYMENT_READ = "deployment:read"    # the deployment's version and configuration profile
    REPORTS_SIGN = "reports:sign"          # the bundle key signs an acceptance report's digest (audited)


P = Permissions
# Each role does its job and no more (docs/roles.md): the claimant (finance)
# receives invoices and files claims; reversal is an accounting decision
# (approver, or the accounting system itself), not a claimant's; the accounting
# system's account reports and reads vouchers, it files nothing on anyone's
# behalf; admin manages organisations, people and tokens (the CLI), not money
# or records.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.FINANCE: frozenset({P.INVOICES_CREATE, P.INVOICES_READ, P.CLAIMS_CREATE, P.CLAIMS_READ,
                             P.CLAIMS_SUBMIT, P.CLAIMS_POST, P.VOUCHERS_READ, P.SELF_READ, P.ARCHIVE_TRANSFER,
                             P.ARCHIVE_SIGN}),
    Role.APPROVER: frozenset({P.INVOICES_READ, P.CLAIMS_READ, P.CLAIMS_APPROVE, P.VOUCHERS_READ,
                              P.VOUCHERS_REVERSE, P.SELF_READ, P.ARCHIVE_READ, P.ARCHIVE_HOLD, P.ARCHIVE_APPROVE,
                              P.ARCHIVE_SIGN}),
    Role.ACCOUNTING_SYSTEM: frozenset({P.INVOICES_READ, P.CLAIMS_READ, P.VOUCHERS_REPORT, P.VOUCHERS_READ,
                                       P.VOUCHERS_REVERSE, P.SELF_READ}),
    # the auditor is also the pilot evaluator's reading role (docs/acceptance.md): the
    # deployment's profile, and the report's signature by the bundle key
    Role.AUDITOR: frozenset({P.INVOICES_READ, P.CLAIMS_READ, P.VOUCHERS_READ, P.ARCHIVE_READ,
                             P.ARCHIVE_DOWNLOAD, P.AUDIT_READ, P.SEARCH_READ, P.BUNDLES_DOWNLOAD, P.SELF_READ,
                             P.DEPLOYMENT_READ, P.REPORTS_SIGN}),
    Role.ARCHIVIST: frozenset({P.INVOICES_READ, P.CLAIMS_READ, P.VOUCHERS_READ, P.ARCHIVE_CREATE,
                               P.ARCHIVE_READ, P.ARCHIVE_DOWNLOAD, P.ARCHIVE_WAIVE, P.SEARCH_READ,
                               P.BUNDLES_DOWNLOAD, P.SELF_READ, P.ARCHIVE_RECORDS, P.ARCHIVE_HOLD,
                               P.ARCHIVE_APPRAISE, P.ARCHIVE_DESTROY, P.ARCHIVE_TRANSFER, P.ARCHIVE_SIGN}),
    Role.ADMIN: frozenset({P.TOKENS_MANAGE, P.SELF_READ, P.DEPLOYMENT_READ}),
}


@dataclass(frozen=True)
class Identity:
    """The caller, as plain data."""

    token_id: int
    name: str
    role: str
    org_id: int
    person_id: int | None = None   # who: segregation of duties compares this, never names

    @property
    def actor(self) -> str:
        return self.name


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh token and its stored hash."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


LAST_USED_GRANULARITY = dt.timedelta(minutes=5)


def live_token(db: Any, token: str) -> ApiToken | None:
    """The token's row if it is known, not revoked and not expired; else None."""
    if not token.strip():
        return None
    return db.execute(select(ApiToken).where(
        ApiToken.token_hash == hash_token(token.strip()), ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()))).scalar_one_or_none()


WEB_SESSION_HOURS = 8


def start_web_session(db: Any, token_row: ApiToken) -> str:
    """A new signed-in session for ``token_row``; returns the cookie value (shown
    once: only its SHA-256 is stored)."""
    sid = "ws_" + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(hours=WEB_SESSION_HOURS)
    if token_row.expires_at is not None:
        expires = min(expires, token_row.expires_at)
    db.add(WebSession(session_hash=hash_token(sid), token_id=token_row.id, expires_at=expires))
    return sid


def end_web_session(db: Any, sid: str) -> None:
    if sid.strip():
        db.execute(update(WebSession).where(WebSession.session_hash == hash_token(sid.strip()),
                                            WebSession.ended_at.is_(None)).values(ended_at=utcnow()))


def _web_session_token(db: Any, sid: str) -> ApiToken | None:
    """The live token behind a live session: a session ends with its token."""
    now = utcnow()
    return db.execute(select(ApiToken).join(WebSession, WebSession.token_id == ApiToken.id).where(
        WebSession.session_hash == hash_token(sid.strip()), WebSession.ended_at.is_(None),
        WebSession.expires_at > now, ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))).scalar_one_or_none()


#: how long an API token's identity is reused across requests in one process
IDENTITY_CACHE_SECONDS = 5.0


class IdentityCache:
    """Token hash -> identity, reused across requests for a few seconds so that
    a request does not look its token up. Expiry is honoured to the second.
    A revocation is honoured at once in the process that made it, API or
    console script (:func:`forget_token`), and in the others within
    ``IDENTITY_CACHE_SECONDS``."""

    _all: weakref.WeakSet[IdentityCache] = weakref.WeakSet()
    _forgotten: dict[str, float] = {}         # token hash -> not cached again before (monotonic)
    _lock = threading.Lock()

    def __init__(self, ttl: float = IDENTITY_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[Identity, float, dt.datetime | None, dt.datetime | None]] = {}
        IdentityCache._all.add(self)

    def get(self, token_hash: str) -> tuple[Identity, dt.datetime | None] | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        ident, until, expires_at, last_used = entry
        if time.monotonic() >= until or (expires_at is not None and expires_at <= utcnow()):
            self._entries.pop(token_hash, None)
            return None
        return ident, last_used

    def put(self, token_hash: str, ident: Identity, expires_at: dt.datetime | None,
            last_used: dt.datetime | None) -> None:
        if self.ttl <= 0:
            return
        with IdentityCache._lock:
            if IdentityCache._forgotten.get(token_hash, 0.0) > time.monotonic():
                return
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[token_hash] = (ident, time.monotonic() + self.ttl, expires_at, last_used)

    @classmethod
    def forget(cls, token_hash: str) -> None:
        with cls._lock:
            cls._forgotten[token_hash] = time.monotonic() + IDENTITY_CACHE_SECONDS
            for cache in list(cls._all):
                cache._entries.pop(token_hash, None)


def forget_token(token_hash: str) -> None:
    """A revoked token: no process-local identity of it is used again."""
    IdentityCache.forget(token_hash)


class SecurityPolicy:
    def __init__(self) -> None:
        self.cache = IdentityCache()

    def identity(self, request: Request) -> Identity | None:
        """The caller, resolved once per request (Pyramid asks several times)."""
        route = getattr(request, "matched_route", None)
        key = f"invoice_archive.identity:{route.name if route is not None else ''}"   # web and API differ
        cached = request.environ.get(key, _UNSET)
        if cached is _UNSET:
            cached = request.environ[key] = self._identity(request)
        return cached

    def _identity(self, request: Request) -> Identity | None:
        route = getattr(request, "matched_route", None)
        if route is not None and route.name.startswith("web."):
            # the auditors' web pages take the session cookie only; the API never does
            sid = request.cookies.get(WEB_COOKIE, "")
            row = _web_session_token(request.db, sid) if sid.strip() else None
        else:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            token_hash = hash_token(token.strip())
            cached = self.cache.get(token_hash)
            if cached is not None:
                ident, last_used = cached
                self._touch(request, ident.token_id, last_used, token_hash)
                return ident
            row = live_token(request.db, token)
            if row is None:
                return None
            ident = Identity(token_id=row.id, name=row.name, role=row.role, org_id=row.org_id,
                             person_id=row.person_id)
            last_used = self._touch(request, row.id, row.last_used_at)
            self.cache.put(token_hash, ident, row.expires_at, last_used)
            return ident
        if row is None:
            return None
        self._touch(request, row.id, row.last_used_at)
        return Identity(token_id=row.id, name=row.name, role=row.role, org_id=row.org_id, person_id=row.person_id)

    def _touch(self, request: Request, token_id: int, last_used: dt.datetime | None,
               token_hash: str | None = None) -> dt.datetime | None:
        """Record the token's use, at most every LAST_USED_GRANULARITY: one
        conditional UPDATE, so of concurrent requests with this token one writes."""
        now = utcnow()
        if last_used is not None and last_used >= now - LAST_USED_GRANULARITY:
            return last_used
        request.db.execute(update(ApiToken).where(
            ApiToken.id == token_id, or_(ApiToken.last_used_at.is_(None),
                                         ApiToken.last_used_at < now - LAST_USED_GRANULARITY))
            .values(last_used_at=now).execution_options(synchronize_session=False))
        if token_hash is not None:
            entry = self.cache._entries.get(token_hash)
            if entry is not None:
                self.cache._entries[token_hash] = (*entry[:3], now)
        return now

    def authenticated_userid(self, request: Request) -> str | None:
        ident = request.identity
        return None if ident is None else str(ident.token_id)

    def permits(self, request: Request, context: Any, permission: str) -> Allowed | Denied:
        ident = request.identity
        if ident is None:
            return Denied("not authenticated")
        if permission in ROLE_PERMISSIONS.get(ident.role, frozenset()):
            return Allowed(f"role {ident.role} has {permission}")
        return Denied(f"role {ident.role} lacks {permission}")

    def remember(self, request: Request, userid: Any, **kw: Any) -> list[tuple[str, str]]:
        return []

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        return []


def includeme(config: Any) -> None:
    config.set_security_policy(SecurityPolicy())
    config.set_default_permission(DENY_ALL)
