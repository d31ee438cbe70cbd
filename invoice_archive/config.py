"""configure(settings): the whole application is composed here, by includes."""
from __future__ import annotations

from typing import Any, Mapping

from pyramid.config import Configurator

from invoice_archive.settings import merge_environ, parse


def configure(settings: Mapping[str, Any], **extra: Any) -> Configurator:
    """Build the Configurator. Tests call this directly, with their own settings.

    The settings are parsed and checked here, once (a bad one fails start-up), and
    kept as ``config.registry.app_settings``: the one place every include and
    service factory takes its typed section from. ``extra`` hands in objects built
    elsewhere (tests: ``invoice_archive.engine``, ``invoice_archive.store``,
    ``invoice_archive.bundle_signer``); they are kept on the registry by name.
    """
    merged = merge_environ(settings)
    app_settings = parse(merged)
    config = Configurator(settings=merged)
    config.registry.app_settings = app_settings
    for name, value in extra.items():
        config.registry[name] = value
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
