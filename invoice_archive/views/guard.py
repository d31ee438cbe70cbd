"""The input guard: what no view should ever see, refused at the door.

A tween, first after the upload limit, so that neither the OpenAPI validator nor
a view nor the database meets:

- a method the service does not speak (TRACE, CONNECT ...): 405;
- a query string that is not UTF-8, or text with NUL or other control
  characters (PostgreSQL cannot store NUL; a clerk never types one): 400
  ``invalid_text``;
- an integer query parameter beyond what an INTEGER column holds: 400
  ``number_out_of_range`` (ids, years, periods, limits and offsets all fit);
- a JSON body that is not UTF-8, nests deeper than a person writes, carries
  text with NUL, control characters or lone surrogates, or numbers beyond
  what the database keeps (integers over 16 digits, amounts with more than 16
  integer digits): 400 with ``invalid_json``, ``invalid_text`` or
  ``number_out_of_range``.

Under /api the refusal is the API's JSON error; elsewhere (the auditors' pages)
it is the pages' own error page.

Invoice files themselves are bytes and are not looked at here: their readers
have their own limits (``formats/``).
"""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from pyramid.response import Response

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
INT_PARAMS = frozenset({"limit", "offset", "fiscal_year", "period", "year", "page", "voucher_id", "invoice_id",
                        "claim_id", "item_id"})
INT_MAX = 2**31 - 1
JSON_INT_MAX = 10**16          # money as a JSON integer still fits NUMERIC(18, 2)
MAX_DEPTH = 32
API_PATH = re.compile(r"^/api(/|$)")
# C0 controls except tab, newline and carriage return; DEL; lone surrogates
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail or {}


def _text(value: str, where: str) -> None:
    if _BAD_TEXT.search(value):
        raise Refused(400, "invalid_text", f"{where} 含有不可见控制字符或无效字符（如 NUL），请删除后重试。",
                      {"field": where})


def check_query(query_string: bytes) -> None:
    try:
        raw = query_string.decode("utf-8") if isinstance(query_string, bytes) else query_string
        pairs = parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "invalid_text", "查询参数不是有效的 UTF-8 文本。") from None
    for name, value in pairs:
        _text(name, "查询参数名")
        _text(value, f"查询参数 {name}")
        if name in INT_PARAMS and re.fullmatch(r"[+-]?\d+", value.strip()) and abs(int(value)) > INT_MAX:
            raise Refused(400, "number_out_of_range", f"查询参数 {name} 的数值超出范围。", {"field": name})


def _walk(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Refused(400, "invalid_json", f"请求内容嵌套超过 {MAX_DEPTH} 层。")
    if isinstance(value, str):
        _text(value, path or "请求内容")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) > JSON_INT_MAX:
            raise Refused(400, "number_out_of_range", f"字段 {path} 的数值超出范围。", {"field": path})
    elif isinstance(value, Decimal):
        if not value.is_finite() or value.adjusted() >= 16:
            raise Refused(400, "number_out_of_range", f"字段 {path} 的数值超出范围。", {"field": path})
    elif isinstance(value, dict):
        for key, item in value.items():
            _text(key, f"{path}/{key}" if path else key)
            _walk(item, f"{path}/{key}" if path else key, depth + 1)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _walk(item, f"{path}/{n}", depth + 1)


def check_json(body: bytes) -> None:
    if not body:
        return
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "invalid_json", "请求内容不是有效的 UTF-8 文本。") from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth_exceeds(text):
        raise Refused(400, "invalid_json", f"请求内容嵌套超过 {MAX_DEPTH} 层。")
    try:
        value = json.loads(text, parse_float=Decimal)
    except RecursionError:
        raise Refused(400, "invalid_json", f"请求内容嵌套超过 {MAX_DEPTH} 层。") from None
    except (ValueError, InvalidOperation):
        return   # not JSON: the view says so in its own words (invalid_json)
    _walk(value, "", 0)


def _depth_exceeds(text: str) -> bool:
    """Nesting depth without parsing (brackets outside strings), for bodies that
    would exhaust the parser's recursion."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def input_guard_tween_factory(handler: Any, registry: Any) -> Any:
    def tween(request: Any) -> Any:
        try:
            if request.method not in METHODS:
                raise Refused(405, "method_not_allowed", f"{request.method} 不适用于 {request.path_info}。")
            check_query(request.environ.get("QUERY_STRING", "").encode("latin-1"))
            if request.content_type == "application/json":
                check_json(request.body)
        except Refused as exc:
            if not API_PATH.match(request.path_info):   # the pages: a page (views/web.py), not JSON
                from invoice_archive.views.web import refusal_page

                response = refusal_page(request, exc.status, exc.message)
                if exc.status == 405:
                    response.headers["Allow"] = ", ".join(sorted(METHODS))
                return response
            response = Response(status=exc.status, charset="utf-8", json_body={
                "error": {"code": exc.code, "message": exc.message, "detail": exc.detail}})
            if exc.status == 405:
                response.headers["Allow"] = ", ".join(sorted(METHODS))
            return response
        return handler(request)

    return tween


__all__ = ["check_json", "check_query", "input_guard_tween_factory"]
