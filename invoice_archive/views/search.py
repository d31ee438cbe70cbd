"""API views for auditors: search, the signed voucher bundle, its public key and
invoice renditions.  Thin: parse, call the service, render; the services write
every access to the audit log."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from invoice_archive.bundle.signing import key_fingerprint
from invoice_archive.errors import DomainError
from invoice_archive.security import Permissions as P
from invoice_archive.services.bundles import BundleService, signer_from_registry
from invoice_archive.services.search import SearchPage, SearchQuery, SearchService
from invoice_archive.views.api import api_view

QUERY_FIELDS = ("invoice_number", "voucher_number", "fiscal_year", "period", "seller", "seller_tax_id",
                "amount_min", "amount_max", "archival_code", "status", "sort", "limit", "offset")


def search_query(params: Any) -> SearchQuery:
    """A SearchQuery from validated query parameters (OpenAPI did the types)."""
    given = {k: params.get(k) for k in QUERY_FIELDS if params.get(k) not in (None, "")}
    return SearchQuery(**given)


def page_json(page: SearchPage) -> dict[str, Any]:
    return {"items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset,
            "sort": page.sort}


@api_view(route_name="search.vouchers", request_method="GET", permission=P.SEARCH_READ)
def search_vouchers(request: Any) -> Any:
    q = search_query(request.openapi_validated.parameters.query)
    return page_json(request.find_service(SearchService).vouchers(q))


@api_view(route_name="search.invoices", request_method="GET", permission=P.SEARCH_READ)
def search_invoices(request: Any) -> Any:
    q = search_query(request.openapi_validated.parameters.query)
    return page_json(request.find_service(SearchService).invoices(q))


def attachment(data: bytes, content_type: str, filename: str, *, inline: bool = False) -> Response:
    disposition = "inline" if inline else "attachment"
    return Response(body=data, content_type=content_type,
                    content_disposition=f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}")


def bundle_filename(voucher: Any) -> str:
    return f"审计包-{voucher.fiscal_year}-{voucher.period:02d}-{voucher.display_number}.zip"


@api_view(route_name="vouchers.bundle", request_method="GET", permission=P.BUNDLES_DOWNLOAD, renderer=None)
def voucher_bundle(request: Any) -> Any:
    voucher, data = request.find_service(BundleService).voucher_bundle(request.context.id)
    return attachment(data, "application/zip", bundle_filename(voucher))


@view_config(route_name="bundle_key", request_method="GET", permission=NO_PERMISSION_REQUIRED, openapi=True)
def bundle_key(request: Any) -> Any:
    """The public key that signs bundle manifests: public by nature, so no token is needed."""
    signer = signer_from_registry(request.registry)
    if signer is None:
        raise DomainError("审计包签名密钥未配置（bundle.signing_key）。", code="bundle_signing_unconfigured",
                          status=503)
    pem = signer.public_key_pem()
    response = Response(body=pem, content_type="application/x-pem-file")
    response.headers["X-Key-Algorithm"] = signer.algorithm
    response.headers["X-Key-Id"] = key_fingerprint(pem)
    response.cache_control = "public, max-age=300"
    return response


@api_view(route_name="invoices.rendition_svg", request_method="GET", permission=P.INVOICES_READ, renderer=None)
def rendition_svg(request: Any) -> Any:
    service = request.find_service(BundleService)
    page = int(request.openapi_validated.parameters.query.get("page") or 1)
    svg = service.rendition_svg(service.invoice(request.context.id), page=page - 1)
    return Response(body=svg.encode("utf-8"), content_type="image/svg+xml", charset="utf-8")


@api_view(route_name="invoices.rendition_pdf", request_method="GET", permission=P.INVOICES_READ, renderer=None)
def rendition_pdf(request: Any) -> Any:
    service = request.find_service(BundleService)
    inv = service.invoice(request.context.id)
    return Response(body=service.rendition_pdf(inv), content_type="application/pdf",
                    content_disposition=f"inline; filename*=UTF-8''{quote(f'{inv.business_key}.pdf', safe='')}")
