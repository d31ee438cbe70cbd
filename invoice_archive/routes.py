"""Every route of the service, in one place."""
from __future__ import annotations

from typing import Any

API = "/api/v1"

# route factories (contexts.py): the object a route names, within the caller's organisation
INVOICE = "invoice_archive.contexts.InvoiceContext"
CLAIM = "invoice_archive.contexts.ClaimContext"
VOUCHER = "invoice_archive.contexts.VoucherContext"
ITEM = "invoice_archive.contexts.ArchiveItemContext"


def includeme(config: Any) -> None:
    config.add_route("health", f"{API}/health")
    # the caller and the deployment, and the signature on an evaluator's acceptance report (docs/acceptance.md)
    config.add_route("me", f"{API}/me")
    config.add_route("deployment", f"{API}/deployment")
    config.add_route("acceptance.signatures", f"{API}/acceptance/signatures")
    config.add_route("invoices.collection", f"{API}/invoices")
    config.add_route("invoices.item", f"{API}/invoices/{{invoice_id}}", factory=INVOICE)
    config.add_route("invoices.original", f"{API}/invoices/{{invoice_id}}/original", factory=INVOICE)
    config.add_route("invoices.tax_check", f"{API}/invoices/{{invoice_id}}/tax-check", factory=INVOICE)
    # is a file (by its SHA-256) held, as an invoice record or a stored original (nothing half-written)
    config.add_route("originals.item", f"{API}/originals/{{sha256}}")
    config.add_route("claims.collection", f"{API}/claims")
    config.add_route("claims.item", f"{API}/claims/{{claim_id}}", factory=CLAIM)
    for action in ("submit", "review", "approve", "refuse", "post"):
        config.add_route(f"claims.{action}", f"{API}/claims/{{claim_id}}/{action}", factory=CLAIM)
    config.add_route("vouchers.collection", f"{API}/vouchers")
    config.add_route("vouchers.item", f"{API}/vouchers/{{voucher_id}}", factory=VOUCHER)
    config.add_route("vouchers.reverse", f"{API}/vouchers/{{voucher_id}}/reverse", factory=VOUCHER)
    config.add_route("archive.runs", f"{API}/archive/runs")
    config.add_route("archive.items", f"{API}/archive/items")
    config.add_route("archive.item", f"{API}/archive/items/{{item_id}}", factory=ITEM)
    # the item's archive package (归档包, the BagIt bag as archived): /package, and /bundle, the
    # older name adapters already call (an alias; not the voucher's audit bundle, 审计包)
    config.add_route("archive.package", f"{API}/archive/items/{{item_id}}/package", factory=ITEM)
    config.add_route("archive.bundle", f"{API}/archive/items/{{item_id}}/bundle", factory=ITEM)
    config.add_route("archive.eep", f"{API}/archive/items/{{item_id}}/eep", factory=ITEM)
    config.add_route("archive.item_check", f"{API}/archive/items/{{item_id}}/check", factory=ITEM)
    config.add_route("archive.item_withdraw", f"{API}/archive/items/{{item_id}}/withdraw", factory=ITEM)
    config.add_route("archive.checks", f"{API}/archive/checks")
    config.add_route("archive.waivers", f"{API}/archive/waivers")
    # the rest of the accounting archive (docs/records.md) and what follows archiving (docs/disposition.md)
    config.add_route("archive.records", f"{API}/archive/records")
    config.add_route("archive.custody_lists", f"{API}/archive/custody-lists")
    config.add_route("archive.holds", f"{API}/archive/holds")
    config.add_route("archive.hold_release", f"{API}/archive/holds/{{hold_id}}/release")
    config.add_route("archive.appraisals", f"{API}/archive/appraisals")
    config.add_route("archive.appraisal", f"{API}/archive/appraisals/{{appraisal_id}}")
    config.add_route("archive.destructions", f"{API}/archive/destructions")
    config.add_route("archive.destruction", f"{API}/archive/destructions/{{destruction_id}}")
    for action in ("approve", "refuse", "execute"):
        config.add_route(f"archive.destruction_{action}", f"{API}/archive/destructions/{{destruction_id}}/{action}")
    config.add_route("archive.transfers", f"{API}/archive/transfers")
    config.add_route("archive.transfer", f"{API}/archive/transfers/{{transfer_id}}")
    for action in ("sign", "cancel", "package"):
        config.add_route(f"archive.transfer_{action}", f"{API}/archive/transfers/{{transfer_id}}/{action}")
    config.add_route("audit.events", f"{API}/audit/events")
    config.add_route("audit.proof", f"{API}/audit/events/{{event_id}}/proof")
    config.add_route("admin.tokens", f"{API}/admin/tokens")
    config.add_route("admin.token_revoke", f"{API}/admin/tokens/{{token_id}}/revoke")
    # auditors (docs/roles.md): search, the voucher's signed audit bundle (审计包) and its key, renditions
    config.add_route("search.vouchers", f"{API}/search/vouchers")
    config.add_route("search.invoices", f"{API}/search/invoices")
    config.add_route("vouchers.bundle", f"{API}/vouchers/{{voucher_id}}/bundle", factory=VOUCHER)
    config.add_route("bundle_key", f"{API}/bundle-key")
    config.add_route("invoices.rendition_svg", f"{API}/invoices/{{invoice_id}}/rendition.svg", factory=INVOICE)
    config.add_route("invoices.rendition_pdf", f"{API}/invoices/{{invoice_id}}/rendition.pdf", factory=INVOICE)
    # the auditors' web pages (views/web.py; the sign-in cookie is accepted on web.* routes only)
    config.add_route("web.home", "/audit/")
    config.add_route("web.login", "/audit/login")
    config.add_route("web.logout", "/audit/logout")
    config.add_route("web.voucher", "/audit/vouchers/{voucher_id:\\d+}", factory=VOUCHER)
    config.add_route("web.bundle", "/audit/vouchers/{voucher_id:\\d+}/bundle", factory=VOUCHER)
    config.add_route("web.invoice_original", "/audit/invoices/{invoice_id:\\d+}/original", factory=INVOICE)
    config.add_route("web.invoice_pdf", "/audit/invoices/{invoice_id:\\d+}/rendition.pdf", factory=INVOICE)
    config.add_route("web.item_package", "/audit/items/{item_id:\\d+}/package", factory=ITEM)
    config.add_route("web.item_eep", "/audit/items/{item_id:\\d+}/eep", factory=ITEM)
