"""The ports: what the service needs from the outside world.

- :class:`IArchiveStore` (``ports/store.py``): write-once object storage;
  implementations in ``invoice_archive/archive/``.
- :class:`IAccountingSystem` and :class:`IVoucherReportParser`
  (``ports/accounting.py``): the company's accounting system, outbound and
  inbound; implementations in the adapters package, chosen by dotted name
  (``accounting.backend``, ``accounting.voucher_report_parser``).
- :class:`ITaxPlatform` (``ports/taxplatform.py``): 查验 and 入账标识;
  implementations in the adapters package (``taxplatform.backend``).

A backend that is not configured is a Null object, never ``None``: it says so
(``configured`` is false) and refuses every call with a clear error, so code
asks ``backend.configured`` instead of testing for ``None``. Every backend is
checked against its interface with ``verifyObject`` at start-up
(:func:`verified`), so a wrong dotted name or an incomplete adapter fails there
and not at the first approval.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from zope.interface import implementer
from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyClass, verifyObject

from invoice_archive.ports.accounting import (
    AccountingError, CheckResult, DraftVoucher, IAccountingSystem, IVoucherReportParser, PostResult, RemoteVoucher,
)
from invoice_archive.ports.store import IArchiveStore
from invoice_archive.ports.taxplatform import CheckQuery, ITaxPlatform, PostingAck, PostingStatus, TaxPlatformError


class PortError(RuntimeError):
    """A configured backend does not implement its port: raised at start-up."""


def verified(iface: Any, obj: Any, setting: str) -> Any:
    """``obj`` if it has what ``iface`` asks for (zope.interface's verifyObject, or
    verifyClass for a class built later, e.g. per worker), else PortError."""
    try:
        if isinstance(obj, type):
            verifyClass(iface, obj, tentative=True)
        else:
            verifyObject(iface, obj, tentative=True)
    except Invalid as exc:
        raise PortError(f"{setting}: {type(obj).__name__} does not implement {iface.__name__}: {exc}") from exc
    return obj


@implementer(IAccountingSystem)
class NullAccountingSystem:
    """No accounting system configured: vouchers are entered there and reported
    to us (POST /api/v1/vouchers); nothing is posted from here."""

    name = "none"
    configured = False

    def _refuse(self) -> AccountingError:
        return AccountingError("not_configured", "未配置记账系统（accounting.backend）。", retryable=False)

    def check(self, draft: DraftVoucher) -> CheckResult:
        raise self._refuse()

    def post(self, draft: DraftVoucher) -> PostResult:
        raise self._refuse()

    def find_by_external_ref(self, ref: str) -> RemoteVoucher | None:
        raise self._refuse()

    def pull_changes(self, since: str | None) -> tuple[list[RemoteVoucher], str]:
        raise self._refuse()

    def reverse(self, system_id: str, *, date: dt.date, reason: str, external_ref: str) -> PostResult:
        raise self._refuse()


@implementer(ITaxPlatform)
class NullTaxPlatform:
    """No tax platform configured: invoices are not checked online and no
    入账标识 is sent."""

    source = "none"
    configured = False

    def _refuse(self) -> TaxPlatformError:
        return TaxPlatformError("not_configured", "未配置税务平台（taxplatform.backend）。", retryable=False)

    def check(self, query: CheckQuery) -> Any:
        raise self._refuse()

    def report_posting(self, status: PostingStatus) -> PostingAck:
        raise self._refuse()


def is_configured(backend: Any) -> bool:
    """Whether a backend is a real one (adapters need not declare ``configured``)."""
    return backend is not None and getattr(backend, "configured", True)


__all__ = ["IAccountingSystem", "IArchiveStore", "ITaxPlatform", "IVoucherReportParser", "NullAccountingSystem",
           "NullTaxPlatform", "PortError", "is_configured", "verified"]
