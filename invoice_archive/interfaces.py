"""The ports: what the service needs from the outside world.

Implementations live in invoice_archive/archive/ (stores) and adapters/
(accounting systems, tax platforms); they are chosen by dotted name in settings.
The accounting-system port and its plain data live in invoice_archive.accounting.
"""
from __future__ import annotations

from zope.interface import Attribute, Interface


class IArchiveStore(Interface):
    """Write-once object storage for original files and archive packages."""

    url = Attribute("Where the store lives (for logs and metadata).")

    def put(key: str, data: bytes) -> bool:  # noqa: N805
        """Store data under key. Never overwrites: storing the same bytes again is a
        no-op (returns False); different bytes under an existing key raise
        ObjectExists. Returns True when the object was created by this call."""

    def get(key: str) -> bytes:  # noqa: N805
        """The object's bytes; KeyError when absent."""

    def exists(key: str) -> bool:  # noqa: N805
        """Whether the object exists."""

    def delete_created(key: str) -> None:  # noqa: N805
        """Remove an object this process just created, when its transaction aborted.
        Not for use on archived objects."""

    def keys(prefix: str = "") -> "Iterable[str]":  # noqa: N805, F821
        """Every key under prefix, in a stable order."""


class IVoucherReportParser(Interface):
    """Reads an accounting system's report of a posted voucher (the inbound wire
    format, e.g. invoice_archive_adapters.generic_json:parse_voucher_report)."""

    def __call__(payload: dict) -> object:  # noqa: N805
        """A VoucherReport (claim_number, voucher_word, voucher_number, fiscal_year,
        period, date, external_ref, prepared_by, reviewed_by, posted_by, entries);
        raises an error carrying .code and .message when the payload is malformed."""


from invoice_archive.accounting import IAccountingSystem  # noqa: E402  (re-exported port)

__all__ = ["IAccountingSystem", "IArchiveStore", "IVoucherReportParser"]
