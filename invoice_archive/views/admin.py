"""The admin API: the organisation's tokens (issue, list, revoke). Admin manages
people and tokens, not money or records (docs/roles.md)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from invoice_archive.errors import Invalid
from invoice_archive.models import ApiToken, Organisation
from invoice_archive.security import Permissions as P
from invoice_archive.services.admin import AdminError, create_token, list_tokens, revoke_token
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.scoping import scoped_get
from invoice_archive.views.api import api_view, json_body


def token_json(row: ApiToken) -> dict[str, Any]:
    return {"id": row.id, "prefix": row.prefix, "name": row.name, "role": row.role, "person_id": row.person_id,
            "created_at": row.created_at, "expires_at": row.expires_at, "last_used_at": row.last_used_at,
            "revoked_at": row.revoked_at}


@api_view(route_name="admin.tokens", request_method="GET", permission=P.TOKENS_MANAGE)
def tokens(request: Any) -> Any:
    return {"items": [token_json(t) for t in list_tokens(request.db, str(request.identity.org_id))]}


@api_view(route_name="admin.tokens", request_method="POST", permission=P.TOKENS_MANAGE)
def issue_token(request: Any) -> Any:
    body = json_body(request)
    org = request.db.get(Organisation, request.identity.org_id)
    days = body.get("expires_days")
    try:
        token, row = create_token(request.db, org=org.tax_id, role=body["role"], name=body["name"],
                                  expires_in=dt.timedelta(days=days) if days else None)
    except AdminError as exc:
        raise Invalid(str(exc), code=exc.code, status=400) from None
    AuditLog.for_request(request).record("token.issued", "token", row.id, person=row.name, role=row.role,
                                         expires_at=row.expires_at)
    request.response.status_int = 201
    return {**token_json(row), "token": token}


@api_view(route_name="admin.token_revoke", request_method="POST", permission=P.TOKENS_MANAGE)
def revoke(request: Any) -> Any:
    row = scoped_get(request.db, ApiToken, request.matchdict["token_id"], request.identity.org_id)
    revoke_token(request.db, str(row.id))
    AuditLog.for_request(request).record("token.revoked", "token", row.id, person=row.name, role=row.role)
    return token_json(row)
