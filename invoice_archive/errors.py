"""Domain errors: each carries a stable machine-readable code, an HTTP status and
a message a finance clerk can act on. Views turn them into one JSON shape:

    {"error": {"code": "...", "message": "...", "detail": {...}}}
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 422
    code = "unprocessable"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.detail = detail or {}

    def as_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    status = 422
    code = "invalid"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class StoreUnavailable(DomainError):
    status = 503
    code = "store_unavailable"


class Gone(DomainError):
    """The object existed and was destroyed on purpose (销毁, docs/disposition.md): its
    metadata and digests remain, its content does not."""

    status = 410
    code = "gone"
