"""Every route of the service, in one place."""
from __future__ import annotations

from typing import Any

API = "/api/v1"


def includeme(config: Any) -> None:
    config.add_route("health", f"{API}/health")
    config.add_route("invoices.collection", f"{API}/invoices")
    config.add_route("invoices.item", f"{API}/invoices/{{invoice_id}}")
    config.add_route("invoices.original", f"{API}/invoices/{{invoice_id}}/original")
    config.add_route("invoices.tax_check", f"{API}/invoices/{{invoice_id}}/tax-check")
    config.add_route("claims.collection", f"{API}/claims")
    config.add_route("claims.item", f"{API}/claims/{{claim_id}}")
    for action in ("submit", "review", "approve", "refuse", "post"):
        config.add_route(f"claims.{action}", f"{API}/claims/{{claim_id}}/{action}")
    config.add_route("vouchers.collection", f"{API}/vouchers")
    config.add_route("vouchers.item", f"{API}/vouchers/{{voucher_id}}")
    config.add_route("vouchers.reverse", f"{API}/vouchers/{{voucher_id}}/reverse")
    config.add_route("archive.runs", f"{API}/archive/runs")
    config.add_route("archive.items", f"{API}/archive/items")
    config.add_route("archive.item", f"{API}/archive/items/{{item_id}}")
    config.add_route("archive.bundle", f"{API}/archive/items/{{item_id}}/bundle")
    config.add_route("archive.eep", f"{API}/archive/items/{{item_id}}/eep")
    config.add_route("archive.item_check", f"{API}/archive/items/{{item_id}}/check")
    config.add_route("archive.item_withdraw", f"{API}/archive/items/{{item_id}}/withdraw")
    config.add_route("archive.checks", f"{API}/archive/checks")
    config.add_route("audit.events", f"{API}/audit/events")
    # auditors (issue 8): search, the signed voucher bundle and its key, renditions
    config.add_route("search.vouchers", f"{API}/search/vouchers")
    config.add_route("search.invoices", f"{API}/search/invoices")
    config.add_route("vouchers.bundle", f"{API}/vouchers/{{voucher_id}}/bundle")
    config.add_route("bundle_key", f"{API}/bundle-key")
    config.add_route("invoices.rendition_svg", f"{API}/invoices/{{invoice_id}}/rendition.svg")
    config.add_route("invoices.rendition_pdf", f"{API}/invoices/{{invoice_id}}/rendition.pdf")
    # the auditors' web pages (views/web.py; the sign-in cookie is accepted on web.* routes only)
    config.add_route("web.home", "/audit/")
    config.add_route("web.login", "/audit/login")
    config.add_route("web.logout", "/audit/logout")
    config.add_route("web.voucher", "/audit/vouchers/{voucher_id:\\d+}")
    config.add_route("web.bundle", "/audit/vouchers/{voucher_id:\\d+}/bundle")
    config.add_route("web.item_package", "/audit/items/{item_id:\\d+}/package")
    config.add_route("web.item_eep", "/audit/items/{item_id:\\d+}/eep")
