"""Use cases: plain classes with injected dependencies, built per request by factories
registered with pyramid_services.

What does not change between requests is built here, once, at start-up, from the
typed settings (``config.registry.app_settings``): the archive store, the tax
platform adapter, the compliance policy, the virus scanner and the signature
verifier with its trust store. The factories take those from the registry and
their settings section from ``request.registry.app_settings``; none reads a raw
setting."""
from __future__ import annotations

from typing import Any

from invoice_archive.archive.store import TransactionalStore
from invoice_archive.archive.stores import store_from_url
from invoice_archive.ports import (
    IAccountingSystem, IArchiveStore, ITaxPlatform, IVoucherReportParser, NullTaxPlatform, verified,
)


def _store_factory(context: Any, request: Any) -> TransactionalStore:
    return TransactionalStore(request.registry["archive.store"], request.tm)


def includeme(config: Any) -> None:
    config.include("pyramid_services")
    settings = config.registry.app_settings
    store = config.registry.get("invoice_archive.store") or store_from_url(settings.archive.store_url,
                                                                           settings.archive.s3)
    config.registry["archive.store"] = verified(IArchiveStore, store, "archive.store_url")
    config.register_service_factory(_store_factory, IArchiveStore)

    parser = config.maybe_dotted(settings.accounting.voucher_report_parser)
    config.register_service(verified(IVoucherReportParser, parser, "accounting.voucher_report_parser"),
                            IVoucherReportParser)
    from invoice_archive.services.compliance import CompliancePolicy

    config.registry["compliance.policy"] = CompliancePolicy.from_settings(settings)
    platform = settings.taxplatform.backend
    config.registry["taxplatform"] = (   # the adapter gets its own options (taxplatform.*), checks them now
        verified(ITaxPlatform, config.maybe_dotted(platform)(settings.taxplatform.options), "taxplatform.backend")
        if platform else NullTaxPlatform())
    if settings.accounting.backend:
        # fail at start-up, not at the first approval: the adapter resolves (the
        # account mapping's completeness was checked by settings.parse())
        # (built per use with accounting.* options: the worker's postings, the archive's record exports)
        config.registry["accounting.adapter_class"] = verified(
            IAccountingSystem, config.maybe_dotted(settings.accounting.backend), "accounting.backend")

    from invoice_archive.archive.virus import scanner_from_settings
    from invoice_archive.services.intake import Verifier, load_trust_store

    config.registry["archive.scanner"] = scanner_from_settings(settings.archive.clamav)
    config.registry["intake.verifier"] = Verifier(load_trust_store(settings.verification))
    from invoice_archive.services.compliance import OrganisationNames

    config.registry["intake.org_names"] = OrganisationNames()

    from invoice_archive.services.archive import ArchiveService
    from invoice_archive.services.claims import ClaimService
    from invoice_archive.services.intake import IntakeService
    from invoice_archive.services.vouchers import VoucherService

    from invoice_archive.services.disposition import DispositionService
    from invoice_archive.services.records import RecordService
    from invoice_archive.services.transfers import TransferService

    for cls in (IntakeService, ClaimService, VoucherService, ArchiveService, RecordService, DispositionService,
                TransferService):
        config.register_service_factory(cls.factory, cls)
    config.include("invoice_archive.services.search")
    config.include("invoice_archive.services.bundles")   # loads the bundle signing key at start-up
