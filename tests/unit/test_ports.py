"""The ports: Null objects instead of None, and every backend checked against its
interface at start-up."""
from __future__ import annotations

import datetime as dt

import pytest
from zope.interface.verify import verifyObject

from invoice_archive.ports import (
    IAccountingSystem, IArchiveStore, ITaxPlatform, NullAccountingSystem, NullTaxPlatform, PortError, is_configured,
    verified,
)
from invoice_archive.ports.accounting import AccountingError
from invoice_archive.ports.taxplatform import TaxPlatformError


def test_null_backends_implement_their_ports_and_say_they_are_not_configured():
    assert verifyObject(IAccountingSystem, NullAccountingSystem())
    assert verifyObject(ITaxPlatform, NullTaxPlatform())
    assert not is_configured(NullAccountingSystem()) and not is_configured(NullTaxPlatform())
    assert not is_configured(None) and is_configured(object())


def test_null_backends_refuse_with_a_clear_code():
    with pytest.raises(AccountingError) as exc:
        NullAccountingSystem().reverse("1", date=dt.date(2024, 7, 1), reason="x", external_ref="IA-1")
    assert exc.value.code == "not_configured" and not exc.value.retryable
    with pytest.raises(TaxPlatformError) as exc:
        NullTaxPlatform().report_posting(None)
    assert exc.value.code == "not_configured"


class HalfAStore:
    url = "mem://"

    def __init__(self, settings=None):
        pass

    def get(self, key):
        return b""


def test_a_backend_missing_a_method_is_refused_naming_the_setting():
    with pytest.raises(PortError, match="archive.store_url: HalfAStore does not implement IArchiveStore"):
        verified(IArchiveStore, HalfAStore(), "archive.store_url")
    with pytest.raises(PortError, match="accounting.backend"):
        verified(IAccountingSystem, HalfAStore, "accounting.backend")   # a class is checked as a class


def test_the_app_does_not_start_with_a_tax_platform_that_is_not_one(tmp_path):
    from invoice_archive.config import configure

    settings = {"sqlalchemy.url": f"sqlite:///{tmp_path}/db.sqlite", "archive.store_url": f"file://{tmp_path}/store",
                "taxplatform.backend": "tests.unit.test_ports.HalfAStore", "here": str(tmp_path)}
    with pytest.raises(Exception, match="does not implement ITaxPlatform"):
        configure(settings)
