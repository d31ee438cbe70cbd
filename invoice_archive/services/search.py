"""Search for auditors: vouchers and invoices by the keys an auditor arrives with.

An auditor comes with an invoice number (either form), a voucher number, a
period, a supplier (name or tax ID), an amount, an archival code (档号) or a
status, and wants the vouchers (the unit of evidence) or the invoices that
match, a page at a time, in a stable order.  Every search is written to the
audit log (who, what query, how many found).

The query shapes are chosen to stay on indexes at a million invoices on
PostgreSQL: equality on indexed keys (invoice number / business key, voucher
number, seller tax ID, 档号), ranges on (org_id, total) and (org_id,
debit_total), and ``seller_name ILIKE '%...%'`` served by a pg_trgm GIN index
(migration 0005; on SQLite the same index is a plain b-tree and the contains
search scans, which is fine at SQLite's scale).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Iterable

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from invoice_archive.errors import Invalid
from invoice_archive.formats.normalize import invoice_number_keys
from invoice_archive.models import (
    ArchiveItem, Claim, Invoice, InvoiceVoucherLink, Voucher,
)
from invoice_archive.services.audit import AuditLog

# The indexes these queries rely on are declared with the models (invoice.py,
# voucher.py, claim.py) and made by migrations 0005, 0006 and 0007.

INVOICE_STATUSES = ("received", "claimed", "posted", "archived", "reversed")
VOUCHER_STATUSES = ("posted", "archived", "reversed")   # the voucher's claim status

#: sort keys a caller may name ("-" prefix for descending); the value is the columns
VOUCHER_SORTS = {
    "date": (Voucher.date, Voucher.id),
    "number": (Voucher.fiscal_year, Voucher.voucher_word, Voucher.voucher_number),
    "period": (Voucher.fiscal_year, Voucher.period, Voucher.id),
    "amount": (Voucher.debit_total, Voucher.id),
    "archival_code": (ArchiveItem.archival_code, Voucher.id),
}
INVOICE_SORTS = {
    "issue_date": (Invoice.issue_date, Invoice.id),
    "number": (Invoice.number, Invoice.id),
    "amount": (Invoice.total, Invoice.id),
    "seller": (Invoice.seller_name, Invoice.id),
    "received_at": (Invoice.received_at, Invoice.id),
}
MAX_LIMIT = 200


@dataclass(frozen=True)
class SearchQuery:
    """What the auditor asked for (every field optional)."""

    invoice_number: str | None = None    # 20-digit number, 8-digit number, code+number (with or without "-")
    voucher_number: str | None = None    # 记-0007 or 0007
    fiscal_year: int | None = None
    period: int | None = None
    seller: str | None = None            # seller name contains
    seller_tax_id: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    archival_code: str | None = None     # 档号
    status: str | None = None
    sort: str | None = None
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        for name in ("amount_min", "amount_max"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Decimal):
                try:
                    object.__setattr__(self, name, Decimal(str(value)))
                except ArithmeticError:
                    raise Invalid(f"金额 {value!r} 不是有效的数字。", code="invalid_search",
                                  detail={"field": name}) from None
        for name in ("invoice_number", "voucher_number", "seller", "seller_tax_id", "archival_code", "status",
                     "sort"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, value.strip() or None)
        if not 1 <= self.limit <= MAX_LIMIT:
            raise Invalid(f"每页条数须在 1 到 {MAX_LIMIT} 之间。", code="invalid_search", detail={"field": "limit"})
        if self.offset < 0:
            raise Invalid("偏移量不能为负数。", code="invalid_search", detail={"field": "offset"})
        if self.amount_min is not None and self.amount_max is not None and self.amount_min > self.amount_max:
            raise Invalid("金额下限大于上限。", code="invalid_search", detail={"field": "amount_min"})

    def criteria(self) -> dict[str, Any]:
        """The query as the audit log keeps it (only what was given)."""
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()
                if v is not None and k not in ("limit", "offset")}


@dataclass
class SearchPage:
    items: list[Any]
    total: int
    limit: int
    offset: int
    sort: str
    extra: dict[str, Any] = field(default_factory=dict)


def _order(sorts: dict[str, tuple[Any, ...]], sort: str | None, default: str) -> tuple[str, list[Any]]:
    name = sort or default
    key = name.lstrip("-")
    if key not in sorts:
        allowed = ", ".join(sorted(sorts))
        raise Invalid(f"不支持按 {key!r} 排序（可选: {allowed}，前加 - 为降序）。", code="invalid_sort",
                      detail={"allowed": sorted(sorts)})
    cols = sorts[key]
    return name, [c.desc() if name.startswith("-") else c.asc() for c in cols]


class SearchService:
    def __init__(self, db: Session, audit: AuditLog, *, org_id: int) -> None:
        self.db = db
        self.audit = audit
        self.org_id = org_id

    @classmethod
    def factory(cls, context: Any, request: Any) -> SearchService:
        return cls(request.db, AuditLog.for_request(request), org_id=request.identity.org_id)

    # -- shared filters -------------------------------------------------------------
    def _invoice_filters(self, q: SearchQuery, *, amount: bool) -> list[Any]:
        conds: list[Any] = [Invoice.org_id == self.org_id]
        if q.invoice_number:
            numbers, keys = invoice_number_keys(q.invoice_number)
            conds.append(or_(Invoice.number.in_(numbers), Invoice.business_key.in_(keys)) if numbers
                         else Invoice.business_key.in_(keys))
        if q.seller:
            pattern = "%" + q.seller.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conds.append(Invoice.seller_name.ilike(pattern, escape="\\"))
        if q.seller_tax_id:
            conds.append(Invoice.seller_tax_id == q.seller_tax_id.upper())
        if amount and q.amount_min is not None:
            conds.append(Invoice.total >= q.amount_min)
        if amount and q.amount_max is not None:
            conds.append(Invoice.total <= q.amount_max)
        return conds

    @staticmethod
    def _has_invoice_filters(q: SearchQuery) -> bool:
        return bool(q.invoice_number or q.seller or q.seller_tax_id)

    def _voucher_number_filter(self, value: str) -> list[Any]:
        word, sep, number = value.rpartition("-")
        conds = [Voucher.voucher_number == number]
        if sep and word:
            conds.append(Voucher.voucher_word == word)
        if number.isdigit():   # "7" finds 0007, and 0007 finds 7
            conds[0] = Voucher.voucher_number.in_(list(dict.fromkeys([number, number.zfill(4), str(int(number))])))
        return conds

    # -- vouchers ----------------------------------------------------------------------
    def vouchers(self, q: SearchQuery) -> SearchPage:
        if q.status and q.status not in VOUCHER_STATUSES:
            raise Invalid(f"凭证状态 {q.status!r} 无效（可选: {', '.join(VOUCHER_STATUSES)}）。", code="invalid_search",
                          detail={"field": "status"})
        sort, order = _order(VOUCHER_SORTS, q.sort, "-date")
        item = (select(ArchiveItem.id.label("item_id"), ArchiveItem.voucher_id, ArchiveItem.archival_code)
                .where(ArchiveItem.org_id == self.org_id, ArchiveItem.withdrawn_at.is_(None)).subquery("item"))
        conds: list[Any] = [Voucher.org_id == self.org_id]
        if q.voucher_number:
            conds += self._voucher_number_filter(q.voucher_number)
        if q.fiscal_year:
            conds.append(Voucher.fiscal_year == q.fiscal_year)
        if q.period:
            conds.append(Voucher.period == q.period)
        if q.amount_min is not None:
            conds.append(Voucher.debit_total >= q.amount_min)
        if q.amount_max is not None:
            conds.append(Voucher.debit_total <= q.amount_max)
        if q.archival_code:
            conds.append(item.c.archival_code == q.archival_code)
        if q.status:
            conds.append(Claim.status == q.status)
        if self._has_invoice_filters(q):
            conds.append(Voucher.id.in_(
                select(InvoiceVoucherLink.voucher_id).join(Invoice, Invoice.id == InvoiceVoucherLink.invoice_id)
                .where(*self._invoice_filters(q, amount=False))))
        base = (select(Voucher, Claim.number, Claim.status, item.c.item_id, item.c.archival_code)
                .join(Claim, Claim.id == Voucher.claim_id)
                .outerjoin(item, item.c.voucher_id == Voucher.id)
                .where(and_(*conds)))
        counted = select(func.count(Voucher.id))
        if q.status:
            counted = counted.join(Claim, Claim.id == Voucher.claim_id)
        if q.archival_code:
            counted = counted.join(item, item.c.voucher_id == Voucher.id)
        total = self.db.execute(counted.where(and_(*conds))).scalar_one()
        rows = self.db.execute(base.order_by(*order).limit(q.limit).offset(q.offset)).all()
        invoices = self._voucher_invoices([r[0].id for r in rows])
        items = [{
            "id": v.id, "display_number": v.display_number, "voucher_word": v.voucher_word,
            "voucher_number": v.voucher_number, "fiscal_year": v.fiscal_year, "period": v.period, "date": v.date,
            "debit_total": v.debit_total, "red_flag": v.red_flag, "claim_number": claim_number,
            "status": claim_status, "archive_item_id": item_id, "archival_code": archival_code,
            "invoices": invoices.get(v.id, []),
        } for v, claim_number, claim_status, item_id, archival_code in rows]
        page = SearchPage(items, total, q.limit, q.offset, sort)
        self._record("vouchers", q, page)
        return page

    def _voucher_invoices(self, voucher_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        ids = list(voucher_ids)
        out: dict[int, list[dict[str, Any]]] = {}
        if not ids:
            return out
        rows = self.db.execute(
            select(InvoiceVoucherLink.voucher_id, Invoice.id, Invoice.number, Invoice.code, Invoice.seller_name,
                   Invoice.total, Invoice.verdict)
            .join(Invoice, Invoice.id == InvoiceVoucherLink.invoice_id)
            .where(InvoiceVoucherLink.voucher_id.in_(ids), Invoice.org_id == self.org_id)
            .order_by(InvoiceVoucherLink.voucher_id, Invoice.id))
        for vid, iid, number, code, seller, total, verdict in rows:
            out.setdefault(vid, []).append({"id": iid, "number": number, "code": code, "seller_name": seller,
                                            "total": total, "verdict": verdict})
        return out

    # -- invoices ----------------------------------------------------------------------
    def invoices(self, q: SearchQuery) -> SearchPage:
        if q.status and q.status not in INVOICE_STATUSES:
            raise Invalid(f"发票状态 {q.status!r} 无效（可选: {', '.join(INVOICE_STATUSES)}）。", code="invalid_search",
                          detail={"field": "status"})
        sort, order = _order(INVOICE_SORTS, q.sort, "-issue_date")
        conds = self._invoice_filters(q, amount=True)
        if q.status:
            conds.append(Invoice.status == q.status)
        # The accounting period is the posting voucher's, copied onto the invoice when
        # they are linked (migration 0007): a period (and status) search reads one index.
        if q.fiscal_year:
            conds.append(Invoice.posted_fiscal_year == q.fiscal_year)
        if q.period:
            conds.append(Invoice.posted_period == q.period)
        voucher_conds: list[Any] = []
        if q.voucher_number:
            voucher_conds += self._voucher_number_filter(q.voucher_number)
            if q.fiscal_year:
                voucher_conds.append(Voucher.fiscal_year == q.fiscal_year)
        if q.archival_code:
            voucher_conds.append(Voucher.id.in_(select(ArchiveItem.voucher_id).where(
                ArchiveItem.org_id == self.org_id, ArchiveItem.archival_code == q.archival_code)))
        base: Select[Any]
        if voucher_conds:
            # Only posted invoices can match a voucher filter: start from the few vouchers
            # it selects (materialised on PostgreSQL, so the planner cannot instead walk
            # every invoice in date order hoping to meet the voucher's).
            cand = (select(InvoiceVoucherLink.invoice_id, Voucher.id.label("voucher_id"), Voucher.voucher_word,
                           Voucher.voucher_number, Voucher.fiscal_year, Voucher.period)
                    .join(Voucher, Voucher.id == InvoiceVoucherLink.voucher_id)
                    .where(Voucher.org_id == self.org_id, *voucher_conds)
                    .cte("candidates").prefix_with("MATERIALIZED", dialect="postgresql"))
            base = (select(Invoice, cand.c.voucher_id, cand.c.voucher_word, cand.c.voucher_number,
                           cand.c.fiscal_year, cand.c.period)
                    .join(cand, cand.c.invoice_id == Invoice.id).where(*conds))
        else:
            base = (select(Invoice, Voucher.id, Voucher.voucher_word, Voucher.voucher_number,
                           Voucher.fiscal_year, Voucher.period)
                    .outerjoin(InvoiceVoucherLink, InvoiceVoucherLink.invoice_id == Invoice.id)
                    .outerjoin(Voucher, Voucher.id == InvoiceVoucherLink.voucher_id)
                    .where(*conds))
        total = self.db.execute(select(func.count()).select_from(base.with_only_columns(Invoice.id).subquery())
                                ).scalar_one()
        rows = self.db.execute(base.order_by(*order).limit(q.limit).offset(q.offset)).all()
        items = [{
            "id": inv.id, "business_key": inv.business_key, "kind": inv.kind, "code": inv.code,
            "number": inv.number, "issue_date": inv.issue_date,
            "seller": {"name": inv.seller_name, "tax_id": inv.seller_tax_id},
            "total": inv.total, "status": inv.status, "verdict": inv.verdict,
            "voucher": None if vid is None else {"id": vid, "display_number": f"{word}-{number}",
                                                 "fiscal_year": year, "period": period},
        } for inv, vid, word, number, year, period in rows]
        page = SearchPage(items, total, q.limit, q.offset, sort)
        self._record("invoices", q, page)
        return page

    def _record(self, kind: str, q: SearchQuery, page: SearchPage) -> None:
        self.audit.record(f"search.{kind}", "search", kind, query=q.criteria(), total=page.total,
                          limit=page.limit, offset=page.offset, sort=page.sort)


def includeme(config: Any) -> None:
    config.register_service_factory(SearchService.factory, SearchService)
