"""Who am I, what is this deployment, and its signature on an acceptance report:
what a pilot evaluator's run needs beside the journey itself (docs/acceptance.md)."""
from __future__ import annotations

from typing import Any

from invoice_archive.security import Permissions as P
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.bundles import signer_from_registry
from invoice_archive.services.deployment import deployment_profile, sign_report, whoami
from invoice_archive.views.api import api_view, json_body


@api_view(route_name="me", request_method="GET", permission=P.SELF_READ)
def me(request: Any) -> Any:
    return whoami(request.db, request.identity)


@api_view(route_name="deployment", request_method="GET", permission=P.DEPLOYMENT_READ)
def deployment(request: Any) -> Any:
    registry = request.registry
    return deployment_profile(registry.app_settings, trust_store=registry["intake.verifier"].trust_store,
                              scanner=registry["archive.scanner"], signer=signer_from_registry(registry),
                              taxplatform=registry["taxplatform"],
                              database_dialect=request.db.get_bind().dialect.name)


@api_view(route_name="acceptance.signatures", request_method="POST", permission=P.REPORTS_SIGN)
def sign_acceptance_report(request: Any) -> Any:
    body = json_body(request)
    signed = sign_report(request.db, AuditLog.for_request(request), signer_from_registry(request.registry),
                         request.identity, sha256=body["sha256"], title=body.get("title"),
                         settings=request.registry.app_settings)
    request.response.status_int = 201
    return signed
