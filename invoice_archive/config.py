"""configure(settings): the whole application is composed here, by includes."""
from __future__ import annotations

from typing import Any, Mapping

from pyramid.config import Configurator

from invoice_archive.settings import merge_environ, parse


def configure(settings: Mapping[str, Any], **extra: Any) -> Configurator:
    """Build the Configurator. Tests call this directly, with their own settings."""
    merged = merge_environ(settings)
    merged["invoice_archive.settings"] = parse(merged)
    merged.update(extra)
    config = Configurator(settings=merged)
    config.include("invoice_archive.db")
    config.include("invoice_archive.security")
    config.include("invoice_archive.services")
    config.include("invoice_archive.routes")
    config.include("invoice_archive.views")
    # our error shape for OpenAPI request validation, over pyramid_openapi3's own
    from pyramid_openapi3.exceptions import RequestValidationError

    from invoice_archive.views.errors import request_validation_error

    config.add_exception_view(request_validation_error, context=RequestValidationError, renderer="json")
    config.commit()
    return config
