"""The auditors' web pages (server-rendered, Chinese): sign in with a token, search,
open a voucher (entries, invoices with renditions and authenticity badges, links
to each original and its PDF rendition, the claim's sign-off trail) and download
its audit bundle (审计包) and, once archived, its archive package (归档包).

What a person reads is Chinese: roles, statuses and system names through
views/labels.py (registered here as Jinja2 filters), times in Beijing time. A
missing page, record or permission is a page of its own (404, 403, ...) outside
/api; the API keeps its JSON errors (views/errors.py).

Sign-in starts a server-side session (security.py: a random id in an HttpOnly,
SameSite=Strict cookie scoped to /audit, stored as its SHA-256; it ends at
expiry, at sign-out, or with its token); the security policy accepts that
cookie only on these ``web.*`` routes (the API keeps Bearer only).  Every form post carries a CSRF token (double-submit cookie,
Pyramid's CookieCSRFStoragePolicy).  Every search, view and download is written
to the audit log by the services, as over the API.
"""
from __future__ import annotations

import logging
from typing import Any

from pyramid.csrf import CookieCSRFStoragePolicy, new_csrf_token
from pyramid.exceptions import BadCSRFToken
from pyramid.httpexceptions import HTTPForbidden, HTTPSeeOther
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config, view_config
from sqlalchemy.exc import DBAPIError, OperationalError

from invoice_archive.errors import DomainError, NotFound
from invoice_archive.security import (
    ROLE_PERMISSIONS, WEB_COOKIE, WEB_SESSION_HOURS, Permissions as P, end_web_session, live_token, start_web_session,
)
from invoice_archive.services.archive import ArchiveService
from invoice_archive.services.bundles import BundleService, certificate_from_registry, signer_from_registry
from invoice_archive.services.intake import IntakeService
from invoice_archive.services.search import SearchService
from invoice_archive.views import labels
from invoice_archive.views.search import attachment, bundle_filename, search_query

log = logging.getLogger(__name__)

PREFIX = "/audit"
T = "invoice_archive:templates/"
CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "script-src 'none'; form-action 'self'; frame-ancestors 'none'")
SEARCH_FIELDS = ("invoice_number", "voucher_number", "fiscal_year", "period", "seller", "seller_tax_id",
                 "amount_min", "amount_max", "archival_code", "status", "sort")


def _secure(request: Any) -> bool:
    return request.scheme == "https"


def _page(request: Any, **values: Any) -> dict[str, Any]:
    request.response.headers["Content-Security-Policy"] = CSP
    request.response.headers["Cache-Control"] = "no-store"
    request.response.headers["X-Content-Type-Options"] = "nosniff"
    if "who" not in values:   # not setdefault: an error page given who=None must not read the session
        values["who"] = request.identity
    values.setdefault("status_labels", labels.VOUCHER_STATUS_LABELS)   # the search form's choices
    values.setdefault("sort_labels", labels.VOUCHER_SORT_LABELS)
    values.setdefault("form", {})
    values.setdefault("page", None)
    values.setdefault("signin", False)
    return values


@view_config(route_name="web.home", request_method="GET", permission=NO_PERMISSION_REQUIRED,
             renderer=T + "search.jinja2")
def home(request: Any) -> Any:
    if request.identity is None:
        return _page(request, signin=True, error=None)
    if not request.has_permission(P.SEARCH_READ):
        raise HTTPForbidden()
    form = {k: request.GET.get(k, "").strip() for k in SEARCH_FIELDS}
    page, error, pages = None, None, {}
    if any(form.values()):
        params = {k: v for k, v in form.items() if v}
        try:
            # the choices the form offers, refused in the page's words (the service names codes)
            if params.get("status") and params["status"] not in labels.VOUCHER_STATUS_LABELS:
                raise DomainError(f"状态“{params['status']}”无效，可选："
                                  f"{'、'.join(labels.VOUCHER_STATUS_LABELS.values())}。", code="invalid_search")
            if params.get("sort") and params["sort"] not in labels.VOUCHER_SORT_LABELS:
                raise DomainError(f"排序方式“{params['sort']}”无效，可选："
                                  f"{'、'.join(labels.VOUCHER_SORT_LABELS.values())}。", code="invalid_sort")
            for name in ("fiscal_year", "period"):
                if name in params:
                    params[name] = int(params[name])
            limit = int(request.GET.get("limit") or 20)
            offset = max(int(request.GET.get("offset") or 0), 0)
            page = request.find_service(SearchService).vouchers(search_query({**params, "limit": limit,
                                                                               "offset": offset}))
            pages = _page_links(request, params, page)
        except ValueError:
            error = "年度、期间须为数字。"
        except DomainError as exc:
            error = exc.message
    return _page(request, signin=False, form=form, page=page, error=error, pages=pages)


def _page_links(request: Any, params: dict[str, Any], page: Any) -> dict[str, str]:
    """Links to the previous and next page of the same search (same criteria, same sort)."""
    links = {}
    query = {**params, "limit": page.limit}
    if page.offset > 0:
        links["prev"] = request.route_url("web.home", _query={**query, "offset": max(page.offset - page.limit, 0)})
    if page.offset + len(page.items) < page.total:
        links["next"] = request.route_url("web.home", _query={**query, "offset": page.offset + page.limit})
    return links


@view_config(route_name="web.login", request_method="POST", permission=NO_PERMISSION_REQUIRED,
             require_csrf=True, renderer=T + "search.jinja2")
def login(request: Any) -> Any:
    token = (request.POST.get("token") or "").strip()
    row = live_token(request.db, token)
    if row is None or P.SEARCH_READ not in ROLE_PERMISSIONS.get(row.role, frozenset()):
        request.response.status_int = 403 if row is not None else 401
        msg = ("令牌无效、已过期或已吊销。" if row is None
               else f"该令牌的角色（{labels.role(row.role)}）无权使用审计查询。")
        return _page(request, signin=True, error=msg, who=None)
    response = HTTPSeeOther(location=request.route_url("web.home"))
    response.set_cookie(WEB_COOKIE, start_web_session(request.db, row), path=PREFIX, httponly=True,
                        samesite="Strict", secure=_secure(request), max_age=WEB_SESSION_HOURS * 3600)
    new_csrf_token(request)   # a fresh CSRF token for the signed-in session
    return response


@view_config(route_name="web.logout", request_method="POST", permission=NO_PERMISSION_REQUIRED,
             require_csrf=True)
def logout(request: Any) -> Any:
    end_web_session(request.db, request.cookies.get(WEB_COOKIE, ""))   # over on the server, not only here
    response = HTTPSeeOther(location=request.route_url("web.home"))
    response.delete_cookie(WEB_COOKIE, path=PREFIX)
    return response


@view_config(route_name="web.voucher", request_method="GET", permission=P.SEARCH_READ,
             renderer=T + "voucher.jinja2")
def voucher(request: Any) -> Any:
    service = request.find_service(BundleService)
    v = service.voucher(request.context.id)
    invoices = []
    for inv in service.invoices_of(v):
        badge = service.badge(inv)
        svg = None
        if badge.fixity_ok:
            try:
                svg = service.rendition_svg(inv, via="web")
            except Exception:   # a rendition that cannot be drawn must not hide the rest
                svg = None
        invoices.append({"invoice": inv, "badge": badge, "svg": svg})
    item = service.archive_item(v)
    service.record_view(v, via="web")
    return _page(request, voucher=v, claim=v.claim, invoices=invoices, item=item)


@view_config(route_name="web.bundle", request_method="GET", permission=P.BUNDLES_DOWNLOAD)
def bundle(request: Any) -> Any:
    v, data = request.find_service(BundleService).voucher_bundle(request.context.id, via="web")
    return attachment(data, "application/zip", bundle_filename(v))


@view_config(route_name="web.invoice_original", request_method="GET", permission=P.INVOICES_READ)
def invoice_original(request: Any) -> Any:
    """The invoice file as received, byte for byte (its intake SHA-256 checked first)."""
    inv = request.context.obj
    data = request.find_service(IntakeService).original(inv, via="web")
    response = attachment(data, "application/octet-stream", inv.filename or f"{inv.business_key}.{inv.source_format}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@view_config(route_name="web.invoice_pdf", request_method="GET", permission=P.INVOICES_READ)
def invoice_pdf(request: Any) -> Any:
    """The invoice drawn as PDF (版式文件), to view or print; drawn from the checked original."""
    service = request.find_service(BundleService)
    inv = request.context.obj
    response = attachment(service.rendition_pdf(inv, via="web"), "application/pdf", f"{inv.business_key}.pdf",
                          inline=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@view_config(route_name="web.item_package", request_method="GET", permission=P.ARCHIVE_DOWNLOAD)
def item_package(request: Any) -> Any:
    item, data = request.find_service(ArchiveService).bundle(request.context.id)
    return attachment(data, "application/zip", f"{item.archival_code}.zip")


@view_config(route_name="web.item_eep", request_method="GET", permission=P.ARCHIVE_DOWNLOAD)
def item_eep(request: Any) -> Any:
    item, data = request.find_service(ArchiveService).eep(request.context.id,
                                                          signer_from_registry(request.registry),
                                                          certificate_from_registry(request.registry))
    return attachment(data, "application/xml", f"{item.archival_code}.eep.xml")


#: the pages' own answers outside the API: /api keeps its JSON errors (views/errors.py)
NOT_API = r"^(?!/api(/|$))"
WEB = r"^/audit(/|$)"
ERROR_TITLES = {400: "请求无效", 401: "请先登录", 403: "无权访问", 404: "页面不存在", 409: "操作冲突",
                422: "无法处理", 500: "服务内部错误", 503: "暂时无法提供"}


def _error_page(request: Any, status: int, message: str, *, who: Any = ...) -> dict[str, Any]:
    """A page of its own for a refusal: the status, a title, what happened and a way back."""
    request.response.status_int = status
    values: dict[str, Any] = {"status": status, "title": ERROR_TITLES.get(status, "无法完成"), "message": message,
                              "error": None}
    if who is not ...:
        values["who"] = who
    return _page(request, **values)


def refusal_page(request: Any, status: int, message: str) -> Any:
    """The error page as a response, for a refusal made before any route is matched
    (the input guard, views/guard.py): nobody is looked up as signed in."""
    from pyramid.renderers import render_to_response

    values = _error_page(request, status, message, who=None)   # status and headers on request.response
    return render_to_response(T + "error.jinja2", values, request=request, response=request.response)


@forbidden_view_config(path_info=WEB, renderer=T + "error.jinja2")
def web_forbidden(exc: Any, request: Any) -> Any:
    if request.identity is None:
        return HTTPSeeOther(location=request.route_url("web.home"))
    return _error_page(request, 403, f"当前角色（{labels.role(request.identity.role)}）无权查看此页面或下载此文件。"
                                     "如需访问，请联系管理员。")


@exception_view_config(BadCSRFToken, path_info=WEB, renderer=T + "search.jinja2")
def web_bad_csrf(exc: Any, request: Any) -> Any:
    request.response.status_int = 400
    return _page(request, signin=True, error="表单已过期或来源不明（CSRF 校验失败），请重新登录。", who=None)


@exception_view_config(DomainError, path_info=WEB, renderer=T + "error.jinja2")
def web_domain_error(exc: DomainError, request: Any) -> Any:
    message = f"{exc.message}。" if isinstance(exc, NotFound) and not exc.message.endswith("。") else exc.message
    return _error_page(request, exc.status, message)


@notfound_view_config(path_info=NOT_API, renderer=T + "error.jinja2")
def web_not_found(exc: Any, request: Any) -> Any:
    # no route matched, so no sign-in is read here (the session cookie counts on web.* routes only)
    return _error_page(request, 404, f"页面 {request.path} 不存在。请从凭证查找页重新进入。", who=None)


@exception_view_config(OperationalError, path_info=WEB, renderer=T + "error.jinja2")
@exception_view_config(DBAPIError, path_info=WEB, renderer=T + "error.jinja2")
def web_database_unavailable(exc: Exception, request: Any) -> Any:
    """The database did not answer: as the API's 503 (views/errors.py), as a page. Who is
    signed in is not looked up again (that needs the database)."""
    if isinstance(exc, DBAPIError) and not exc.connection_invalidated and not isinstance(exc, OperationalError):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error_page(request, 500, "服务内部错误，操作未完成，数据未作更改。请稍后重试或联系管理员。", who=None)
    log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
    request.response.headers["Retry-After"] = "30"
    return _error_page(request, 503, "数据库暂时不可用，操作未完成，数据未作更改。请稍后重试。", who=None)


@exception_view_config(Exception, path_info=WEB, renderer=T + "error.jinja2")
def web_internal_error(exc: Exception, request: Any) -> Any:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _error_page(request, 500, "服务内部错误，操作未完成，数据未作更改。请稍后重试或联系管理员。")


def _register_filters(config: Any) -> None:
    """The vocabularies of views/labels.py as Jinja2 filters (``{{ s.role|role }}``)."""
    def register() -> None:
        config.get_jinja2_environment().filters.update(labels.FILTERS)

    config.action(None, register, order=999)   # after pyramid_jinja2 has made its environment


def includeme(config: Any) -> None:
    config.include("pyramid_jinja2")
    _register_filters(config)
    config.set_csrf_storage_policy(CookieCSRFStoragePolicy(cookie_name="ia_csrf", path=PREFIX,
                                                           samesite="Strict", httponly=True))
    config.add_static_view(f"{PREFIX}/static", "invoice_archive:static", permission=NO_PERMISSION_REQUIRED,
                           cache_max_age=3600)
