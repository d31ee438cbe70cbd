"""One JSON error shape under /api/: {"error": {"code", "message", "detail"}}."""
from __future__ import annotations

import logging
from typing import Any

from pyramid.httpexceptions import HTTPForbidden, HTTPMethodNotAllowed, HTTPNotFound
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config
from sqlalchemy.exc import DBAPIError, OperationalError

from invoice_archive.errors import DomainError

log = logging.getLogger(__name__)


def error_response(request: Any, status: int, code: str, message: str, detail: Any = None) -> Any:
    request.response.status_int = status
    request.response.content_type = "application/json"
    return {"error": {"code": code, "message": message, "detail": detail or {}}}


@exception_view_config(DomainError, renderer="json")
def domain_error(exc: DomainError, request: Any) -> Any:
    # pyramid_tm aborts the transaction whenever an exception view answers
    return error_response(request, exc.status, exc.code, exc.message, exc.detail)


@forbidden_view_config(renderer="json")
def forbidden(exc: HTTPForbidden, request: Any) -> Any:
    if request.identity is None:
        request.response.headers["WWW-Authenticate"] = 'Bearer realm="invoice-archive"'
        return error_response(request, 401, "unauthenticated",
                              "未提供有效的访问令牌（Authorization: Bearer <token>）。")
    return error_response(request, 403, "forbidden",
                          f"当前令牌的角色（{request.identity.role}）无权执行此操作。")


@notfound_view_config(renderer="json")
def not_found(exc: HTTPNotFound, request: Any) -> Any:
    return error_response(request, 404, "not_found", f"地址 {request.path} 不存在。")


@exception_view_config(HTTPMethodNotAllowed, renderer="json")
def method_not_allowed(exc: HTTPMethodNotAllowed, request: Any) -> Any:
    return error_response(request, 405, "method_not_allowed", f"{request.method} 不适用于 {request.path}。")


def request_validation_error(exc: Any, request: Any) -> Any:
    """Registered by configure() over pyramid_openapi3's own view, for our shape."""
    errors = [str(e) for e in getattr(exc, "errors", [])]
    text = " ".join(errors)
    if "MediaTypeNotFound" in repr(getattr(exc, "errors", [])) or "Content for the following mimetype" in text:
        return error_response(request, 415, "unsupported_media_type",
                              "不支持的内容类型：发票请以 application/ofd、application/xml、application/pdf 或 "
                              "application/octet-stream 上传。", {"errors": errors})
    if any("SecurityValidationError" in type(e).__name__ or "Security" in type(e).__name__
           for e in getattr(exc, "errors", [])):
        request.response.headers["WWW-Authenticate"] = 'Bearer realm="invoice-archive"'
        return error_response(request, 401, "unauthenticated",
                              "未提供有效的访问令牌（Authorization: Bearer <token>）。")
    details = []
    for e in getattr(exc, "errors", []):
        inner = getattr(e, "__cause__", None)
        schema_errors = getattr(inner, "schema_errors", None) or getattr(e, "schema_errors", None) or []
        for se in schema_errors:
            details.append({"field": "/".join(str(p) for p in se.path) or None, "problem": se.message})
        if not schema_errors:
            details.append({"field": None, "problem": str(inner or e)})
    return error_response(request, 400, "validation_failed", "请求内容不符合接口规范，请检查字段。",
                          {"errors": details})


@exception_view_config(OperationalError, renderer="json")
@exception_view_config(DBAPIError, renderer="json")
def database_unavailable(exc: Exception, request: Any) -> Any:
    """The database did not answer (down, restarting, out of connections): the
    request did nothing; trying again later is the remedy."""
    if isinstance(exc, DBAPIError) and not exc.connection_invalidated and not isinstance(exc, OperationalError):
        return internal_error(exc, request)
    log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
    request.response.headers["Retry-After"] = "30"
    return error_response(request, 503, "database_unavailable",
                          "数据库暂时不可用，操作未完成，数据未作更改。请稍后重试。")


@exception_view_config(Exception, renderer="json")
def internal_error(exc: Exception, request: Any) -> Any:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(request, 500, "internal_error",
                          "服务内部错误，操作未完成，数据未作更改。请稍后重试或联系管理员。")
