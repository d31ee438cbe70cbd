"""A service wired to a fake accounting system, and a worker for its outbox."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from pyramid.path import DottedNameResolver

from invoice_archive_adapters.testing.fakes import FakeServer, make_fake
from invoice_archive_adapters.testing.fakes.cli import settings_for
from invoice_archive.db import session_factory
from invoice_archive.outbox import OutboxWorker, WorkerPolicy
from invoice_archive.services.posting import AccountingHandlers, SyncService, build_worker
from tests.support.app import TestService, make_service

MAPPING = {
    "posting.book": "001",
    "posting.account.expense.default": "6602",
    "posting.account.expense.travel": "660201",
    "posting.account.input_vat": "22210101",
    "posting.account.credit": "2241",
}


@dataclass
class PostingRig:
    service: TestService
    fake: FakeServer
    settings: dict[str, str]

    def accounting(self) -> Any:
        """The adapter, as the worker builds it: from its section's own options."""
        section = self.service.app_settings.accounting
        return DottedNameResolver().maybe_resolve(section.backend)(section.options)

    @property
    def posted_when(self) -> Any:
        return self.service.app_settings.accounting.posted_when

    def worker(self) -> OutboxWorker:
        """As `invoice-archive worker` builds it; no backoff, and a voucher awaiting the
        accountants is read again on the next run."""
        return build_worker(session_factory(self.service.engine), self.accounting(),
                            self.service.app_settings.posting.mapping,
                            policy=WorkerPolicy(backoff_base=0.0, confirm_interval=0.0),
                            posted_when=self.posted_when)

    def drafter(self) -> AccountingHandlers:
        """The accounting handlers alone, to draft a claim's voucher as the worker would."""
        return AccountingHandlers(session_factory(self.service.engine), self.accounting(),
                                  self.service.app_settings.posting.mapping, posted_when=self.posted_when)

    def sync(self) -> SyncService:
        return SyncService(session_factory(self.service.engine), self.accounting(), posted_when=self.posted_when)


@contextmanager
def posting_rig(system: str, db_url: str, store: Path, *, posted_when: str = "saved",
                **extra: str) -> Iterator[PostingRig]:
    """The service posting to a fake ``system``. ``posted_when`` is ``saved`` unless a
    test says otherwise: most posting tests are about the outbox (retries, look-ups,
    races), not about the accountants' audit and posting over there, which the
    lifecycle tests drive with ``posted_when="posted"`` (the service's default)."""
    app = make_fake(system)
    app.hang_seconds = 1.0
    with FakeServer(app) as fake:
        settings = {**MAPPING, **settings_for(system, fake), "accounting.read_timeout": "0.4",
                    "accounting.posted_when": posted_when, **extra}
        svc = make_service(db_url, store, **settings)
        try:
            yield PostingRig(svc, fake, settings)
        finally:
            svc.engine.dispose()
