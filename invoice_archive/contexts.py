"""Route factories: the object a route names, within the caller's organisation.

As in warehouse, a route with an id in its path gets a context that knows how to
load it. Loading is lazy: Pyramid builds the context before it checks the view's
permission, and a caller without the permission must get 401/403, never learn
from a 404 whether the id exists. A view reads ``request.context.obj`` (the row,
or a 404 with the object's own code) or ``request.context.id`` (for services
that lock the row themselves).
"""
from __future__ import annotations

from typing import Any

from pyramid.decorator import reify

from invoice_archive.models import ArchiveItem, Claim, Invoice, Voucher
from invoice_archive.services.scoping import MAX_ID, not_found, scoped_get


class OrgScoped:
    model: type
    param: str

    def __init__(self, request: Any) -> None:
        self.request = request

    @reify
    def id(self) -> int:
        raw = self.request.matchdict[self.param]
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_ID:
            raise not_found(self.model, raw)
        return int(raw)

    @reify
    def obj(self) -> Any:
        return scoped_get(self.request.db, self.model, self.id, self.request.identity.org_id)


class InvoiceContext(OrgScoped):
    model, param = Invoice, "invoice_id"


class ClaimContext(OrgScoped):
    model, param = Claim, "claim_id"


class VoucherContext(OrgScoped):
    model, param = Voucher, "voucher_id"


class ArchiveItemContext(OrgScoped):
    model, param = ArchiveItem, "item_id"


__all__ = ["ArchiveItemContext", "ClaimContext", "InvoiceContext", "OrgScoped", "VoucherContext"]
