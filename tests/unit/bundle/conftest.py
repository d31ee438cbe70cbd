"""Fixtures for the bundle tests: a test PKI, signed synthetic invoices, keys."""
from __future__ import annotations

import datetime as dt

import pytest

from invoice_archive.bundle import ALGORITHMS, BundleParts, InvoiceFile, new_signer
from invoice_archive.formats import open_ofd
from invoice_archive.synth.ofd import build_ofd_invoice
from invoice_archive.verification import verify_ofd, verify_xml
from tests.support import testca
from tests.support.invoices import synthetic_xml

CREATED = dt.datetime(2025, 1, 15, 8, 30, tzinfo=dt.timezone.utc)


def verification_of(data: bytes) -> dict:
    if data[:2] == b"PK":
        pkg = open_ofd(data)
        return verify_ofd({n: pkg[n] for n in pkg}).to_dict()
    return verify_xml(data).to_dict()


def invoice_file(name: str, data: bytes) -> InvoiceFile:
    return InvoiceFile(filename=name, data=data, verification=verification_of(data))


def make_parts(invoices: list[InvoiceFile], bundle_id: str = "Z001-PZ·2024·D30-0007-0015") -> BundleParts:
    return BundleParts(
        bundle_id=bundle_id,
        voucher={"voucher_no": "记-0007", "fiscal_year": 2024, "period": 7,
                 "entries": [{"account": "6602", "debit": "526.00"}, {"account": "1002", "credit": "526.00"}]},
        claim={"claim_no": "BX-2024-0031", "status": "posted",
               "sign_offs": [{"step": "经办", "who": "张经办", "at": "2024-07-16T09:00:00+08:00"},
                             {"step": "审核", "who": "李审核", "at": "2024-07-17T10:00:00+08:00"},
                             {"step": "审批", "who": "王审批", "at": "2024-07-18T11:00:00+08:00"}]},
        invoices=invoices,
        rules_report={"passed": True, "rules": [{"code": "buyer_matches", "result": "pass"}]},
        archive_metadata={"档号": bundle_id, "保管期限": "D30", "全宗号": "Z001"},
        audit_log=[{"at": "2025-01-15T08:29:00+00:00", "who": "审计员甲", "action": "bundle.export"}],
        created_at=CREATED,
    )


@pytest.fixture(scope="session")
def pki() -> testca.TestPKI:
    return testca.build_pki()


@pytest.fixture(scope="session")
def signed_ofd(pki) -> bytes:
    return testca.sign_ofd(build_ofd_invoice(number="00000042"), pki.signer, testca.SealSpec(pki.seal_maker))


@pytest.fixture(scope="session")
def other_signed_ofd(pki) -> bytes:
    return testca.sign_ofd(build_ofd_invoice(number="00000043"), pki.signer, testca.SealSpec(pki.seal_maker))


@pytest.fixture(scope="session")
def xml_invoice() -> bytes:
    return synthetic_xml("24992000000000000007")


@pytest.fixture(scope="session", params=ALGORITHMS)
def signer(request):
    return new_signer(request.param)


@pytest.fixture(scope="session")
def synthetic_parts(signed_ofd, xml_invoice) -> BundleParts:
    return make_parts([invoice_file("发票42.ofd", signed_ofd), invoice_file("dzfp.xml", xml_invoice)])
