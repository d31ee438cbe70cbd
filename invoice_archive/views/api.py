"""The one decorator for API views: JSON renderer, OpenAPI validation, and a
permission that must be named (a view without one is refused at start-up)."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Callable

from pyramid.view import view_config

from invoice_archive.errors import Invalid


def api_view(*, route_name: str, request_method: str, permission: str, **kw: Any) -> Callable:
    if not permission:
        raise ValueError(f"API view for {route_name} {request_method} must name a permission")
    kw.setdefault("renderer", "json")
    return view_config(route_name=route_name, request_method=request_method, permission=permission,
                       openapi=True, **kw)


def json_body(request: Any) -> dict[str, Any]:
    """The JSON body with decimals kept exact (never float)."""
    if not request.body:
        return {}
    try:
        body = json.loads(request.body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("请求内容不是有效的 JSON。", code="invalid_json", status=400) from exc
    if not isinstance(body, dict):
        raise Invalid("请求内容必须是 JSON 对象。", code="invalid_json", status=400)
    return body


def query_int(request: Any, name: str, default: int | None = None) -> int | None:
    value = request.openapi_validated.parameters.query.get(name)
    return default if value is None else int(value)
