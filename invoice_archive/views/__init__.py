"""HTTP views: thin. Parse the request, call a service, render."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from pyramid.renderers import JSON

SPEC = Path(__file__).resolve().parents[1] / "openapi.yaml"


def json_renderer() -> JSON:
    from invoice_archive.jsontext import dumps

    renderer = JSON(serializer=dumps)
    renderer.add_adapter(Decimal, lambda v, request: f"{v:.2f}")
    renderer.add_adapter(dt.datetime, lambda v, request: v.isoformat())
    renderer.add_adapter(dt.date, lambda v, request: v.isoformat())
    return renderer


# invoice files are taken as bytes, exactly as sent: never parsed by the validator
INVOICE_MEDIA_TYPES = ("application/ofd", "application/xml", "text/xml", "application/pdf")


def _raw_bytes(value: bytes, **parameters: str) -> bytes:
    return value


def upload_limit_tween_factory(handler: Any, registry: Any) -> Any:
    """Refuse a body larger than intake.max_upload_bytes from its Content-Length,
    before anything reads it into memory (the OpenAPI validator reads bodies)."""
    limit = registry.app_settings.intake.max_upload_bytes

    def tween(request: Any) -> Any:
        if request.content_length is not None and request.content_length > limit:
            from pyramid.response import Response

            body = {"error": {"code": "too_large", "detail": {"limit": limit},
                              "message": f"上传内容 {request.content_length} 字节，超过上限 {limit} 字节，"
                                         "请确认上传的是发票原文件。"}}
            return Response(status=413, json_body=body, charset="utf-8")
        return handler(request)

    return tween


_INTAKE_PATH = "/api/v1/invoices"
_INTAKE_TYPES = frozenset({"application/octet-stream", *INVOICE_MEDIA_TYPES})
_MAX_FILENAME = 255   # as openapi.yaml says for the filename parameter


def intake_fast_path_tween_factory(handler: Any, registry: Any) -> Any:
    """Intake's request checked by the specification's own rules without
    openapi-core, whose generic walk through the document costs more than
    reading the invoice itself. The rules are a listed content type, a body,
    a bearer token, and at most one ``filename`` of at most 255 characters.
    Anything else (a missing header, an odd parameter, another type) takes
    the full validator, so every refusal stays exactly what the specification
    says. The body is never parsed: the invoice is read once, by intake."""
    from openapi_core.datatypes import Parameters
    from openapi_core.unmarshalling.request.datatypes import RequestUnmarshalResult

    def tween(request: Any) -> Any:
        if request.method == "POST" and request.path_info == _INTAKE_PATH:
            get = request.GET
            names = get.getall("filename")
            auth = request.authorization
            if (request.content_type in _INTAKE_TYPES and request.content_length
                    and auth is not None and auth[0].lower() == "bearer"
                    and len(names) == len(get) <= 1 and all(len(n) <= _MAX_FILENAME for n in names)):
                request.openapi_validated = RequestUnmarshalResult(
                    errors=[], body=None, parameters=Parameters(query={"filename": names[0]} if names else {}))
        return handler(request)

    return tween


def includeme(config: Any) -> None:
    settings = config.get_settings()
    settings.setdefault("pyramid_openapi3.enable_response_validation", "false")
    config.add_renderer("json", json_renderer())
    config.add_tween("invoice_archive.views.upload_limit_tween_factory")
    config.add_tween("invoice_archive.views.guard.input_guard_tween_factory",
                     under="invoice_archive.views.upload_limit_tween_factory")   # sizes first
    config.add_tween("invoice_archive.views.intake_fast_path_tween_factory",
                     under="invoice_archive.views.guard.input_guard_tween_factory")
    config.include("pyramid_openapi3")
    for media_type in INVOICE_MEDIA_TYPES:
        config.pyramid_openapi3_add_deserializer(media_type, _raw_bytes)
    config.pyramid_openapi3_spec(str(SPEC), route="/api/openapi.yaml")
    config.pyramid_openapi3_add_explorer(route="/api/docs/")
    # the auditors' web pages (Jinja2, cookie sign-in, CSRF)
    config.include("invoice_archive.views.web")
    config.scan(__name__)
