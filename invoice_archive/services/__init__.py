"""Use cases: plain classes with injected dependencies, built per request by factories
registered with pyramid_services."""
from __future__ import annotations

from typing import Any

from invoice_archive.archive.store import TransactionalStore
from invoice_archive.archive.stores import store_from_url
from invoice_archive.interfaces import IArchiveStore, IVoucherReportParser


def _store_factory(context: Any, request: Any) -> TransactionalStore:
    return TransactionalStore(request.registry["archive.store"], request.tm)


def includeme(config: Any) -> None:
    config.include("pyramid_services")
    settings = config.get_settings()
    typed = settings["invoice_archive.settings"]
    store = settings.get("invoice_archive.store") or store_from_url(typed.store_url, settings)
    config.registry["archive.store"] = store
    config.register_service_factory(_store_factory, IArchiveStore)

    parser = config.maybe_dotted(typed.voucher_report_parser)
    config.register_service(parser, IVoucherReportParser)
    from invoice_archive.services.compliance import CompliancePolicy

    config.registry["compliance.policy"] = CompliancePolicy.from_settings(settings)
    platform = str(settings.get("taxplatform.backend", "")).strip()
    config.registry["taxplatform"] = config.maybe_dotted(platform)(settings) if platform else None
    if typed.accounting_backend:
        # fail at start-up, not at the first approval: the adapter resolves and
        # the account mapping is complete
        from invoice_archive.posting.drafting import AccountMapping

        config.maybe_dotted(typed.accounting_backend)
        AccountMapping.from_settings(settings)

    from invoice_archive.services.archive import ArchiveService
    from invoice_archive.services.claims import ClaimService
    from invoice_archive.services.intake import IntakeService
    from invoice_archive.services.vouchers import VoucherService

    for cls in (IntakeService, ClaimService, VoucherService, ArchiveService):
        config.register_service_factory(cls.factory, cls)
    config.include("invoice_archive.services.search")
    config.include("invoice_archive.services.bundles")   # loads the bundle signing key at start-up
