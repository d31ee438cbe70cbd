"""HttpTaxPlatform against the fake tax platform on 127.0.0.1 (no mocks)."""
from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import httpx
import pytest
from zope.interface.verify import verifyClass, verifyObject

from invoice_archive_adapters.testing.fakes.taxplatform import FakeTaxPlatform
from invoice_archive_adapters.taxplatform.http import HttpTaxPlatform
from invoice_archive.formats import read_invoice
from invoice_archive.synth.xml import SynthInvoice, build_xml_invoice
from invoice_archive.ports.taxplatform import (
    CST,
    CheckQuery,
    CheckStatus,
    ITaxPlatform,
    PostingStatus,
    TaxPlatformError,
)

NOW = dt.datetime(2024, 8, 1, 9, 0, tzinfo=CST)
READ_TIMEOUT = 0.3


@pytest.fixture
def doc():
    return read_invoice(build_xml_invoice(SynthInvoice()), filename="synth.xml")


@pytest.fixture
def fake():
    with FakeTaxPlatform(hang_seconds=READ_TIMEOUT * 3) as server:
        yield server


@pytest.fixture
def platform(fake):
    client = HttpTaxPlatform({"taxplatform.url": fake.url, "taxplatform.read_timeout": str(READ_TIMEOUT),
                              "taxplatform.connect_timeout": "1"}, clock=lambda: NOW)
    yield client
    client.close()


def test_implements_the_port(platform):
    assert verifyClass(ITaxPlatform, HttpTaxPlatform)
    assert verifyObject(ITaxPlatform, platform)


def test_normal_by_default_echoes_the_registered_invoice(fake, platform, doc):
    fake.register(doc.to_dict())
    result = platform.check(CheckQuery.from_document(doc))
    assert result.status is CheckStatus.NORMAL and result.ok and not result.retryable
    assert result.buyer_name == doc.buyer.name and result.buyer_tax_id == doc.buyer.tax_id
    assert result.seller_name == doc.seller.name and result.seller_tax_id == doc.seller.tax_id
    assert result.total == doc.total and result.tax == doc.tax and result.issue_date == doc.issue_date
    assert result.checked_at == NOW and result.source == f"taxplatform:{fake.url}"
    assert result.raw["code"] == "0000"
    assert "查验通过" in result.message


def test_normal_for_an_unknown_invoice_echoes_the_query(platform):
    query = CheckQuery(number="24992000000000000077", issue_date=dt.date(2024, 7, 1), total=Decimal("88.00"))
    result = platform.check(query)
    assert result.status is CheckStatus.NORMAL and result.total == Decimal("88.00")


def test_scripted_data_is_echoed(fake, platform, doc):
    fake.script(doc.number, "normal", buyer_name="别的公司", buyer_tax_id="91110000OTHER0001Y")
    result = platform.check(CheckQuery.from_document(doc))
    assert result.buyer_name == "别的公司" and result.buyer_tax_id == "91110000OTHER0001Y"


@pytest.mark.parametrize(("answer", "status", "words"), [
    ("voided", CheckStatus.VOIDED, "作废"),
    ("red_reversed", CheckStatus.RED_REVERSED, "红冲"),
    ("not_found", CheckStatus.NOT_FOUND, "查无此票"),
])
def test_each_scripted_answer(fake, platform, doc, answer, status, words):
    fake.script(doc.number, answer)
    result = platform.check(CheckQuery.from_document(doc))
    assert result.status is status and result.final and not result.ok and not result.retryable
    assert words in result.message


def test_query_that_does_not_match_the_registered_invoice_is_not_found(fake, platform, doc):
    fake.register(doc)
    query = CheckQuery(number=doc.number, issue_date=doc.issue_date, total=doc.total + 1)
    result = platform.check(query)
    assert result.status is CheckStatus.NOT_FOUND and result.error_code == "mismatch"
    assert "不一致" in result.message


def test_timeout_is_unavailable_and_retryable(fake, platform, doc):
    fake.script(doc.number, "timeout")
    started = time.monotonic()
    result = platform.check(CheckQuery.from_document(doc))
    assert time.monotonic() - started < READ_TIMEOUT * 2.5
    assert result.status is CheckStatus.UNAVAILABLE and result.retryable and result.error_code == "timeout"
    assert "没有答复" in result.message and "稍后重试" in result.message


@pytest.mark.parametrize(("answer", "code"), [("unavailable", "busy"), ("rate_limited", "rate_limited")])
def test_busy_platform_is_unavailable(fake, platform, doc, answer, code):
    fake.script(doc.number, answer)
    result = platform.check(CheckQuery.from_document(doc))
    assert result.status is CheckStatus.UNAVAILABLE and result.retryable and result.error_code == code


def test_unreachable_platform_is_unavailable(doc):
    with FakeTaxPlatform() as gone:
        url = gone.url
    client = HttpTaxPlatform({"taxplatform.url": url, "taxplatform.connect_timeout": "0.5"}, clock=lambda: NOW)
    result = client.check(CheckQuery.from_document(doc))
    assert result.status is CheckStatus.UNAVAILABLE and result.error_code == "unreachable"


def test_old_invoice_is_not_checkable_online_and_nothing_is_sent(fake, platform):
    old = CheckQuery(number="24992000000000000002", issue_date=dt.date(2023, 1, 5), total=Decimal("10.00"))
    result = platform.check(old)
    assert result.status is CheckStatus.NOT_CHECKABLE_ONLINE and not result.retryable
    assert fake.requests == []


def test_max_age_is_a_setting(fake):
    client = HttpTaxPlatform({"taxplatform.url": fake.url, "taxplatform.max_age_days": "1825"}, clock=lambda: NOW)
    old = CheckQuery(number="24992000000000000002", issue_date=dt.date(2023, 1, 5), total=Decimal("10.00"))
    assert client.check(old).status is CheckStatus.NORMAL


def test_wrong_token_raises_auth_failed(doc):
    with FakeTaxPlatform(token="secret") as fake:
        bad = HttpTaxPlatform({"taxplatform.url": fake.url, "taxplatform.token": "wrong"}, clock=lambda: NOW)
        with pytest.raises(TaxPlatformError) as info:
            bad.check(CheckQuery.from_document(doc))
        assert info.value.code == "auth_failed" and not info.value.retryable
        good = HttpTaxPlatform({"taxplatform.url": fake.url, "taxplatform.token": "secret"}, clock=lambda: NOW)
        assert good.check(CheckQuery.from_document(doc)).ok


def test_wrong_url_path_and_non_json_are_protocol_or_configuration_errors(doc):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>")

    client = HttpTaxPlatform({"taxplatform.url": "http://platform.invalid"}, clock=lambda: NOW,
                             transport=httpx.MockTransport(handler))
    with pytest.raises(TaxPlatformError) as info:
        client.check(CheckQuery.from_document(doc))
    assert info.value.code == "protocol_error"


def test_missing_url_is_a_configuration_error():
    with pytest.raises(TaxPlatformError) as info:
        HttpTaxPlatform({})
    assert info.value.code == "configuration_error" and "taxplatform.url" in info.value.message


# -- posting status ----------------------------------------------------------------------------------


def test_posting_status_is_recorded_once_per_idempotency_key(fake, platform, doc):
    status = PostingStatus.posted(doc.business_key, "202407")
    first = platform.report_posting(status)
    again = platform.report_posting(status)
    assert first.accepted and not first.duplicate
    assert again.accepted and again.duplicate and again.receipt_id == first.receipt_id
    assert len(fake.postings) == 1
    assert fake.postings[0].body["status"] == "02" and fake.postings[0].body["period"] == "202407"
    assert fake.postings[0].repeats == 1
    assert fake.posting_state(doc.business_key) == "02"
    platform.report_posting(PostingStatus.revoked(doc.business_key))
    assert fake.posting_state(doc.business_key) == "03" and len(fake.postings) == 2


def test_timeout_after_commit_then_retry_sends_nothing_twice(fake, platform, doc):
    status = PostingStatus.posted(doc.business_key, "202407")
    fake.fail_next_posting("timeout_after_commit")
    with pytest.raises(TaxPlatformError) as info:
        platform.report_posting(status)
    assert info.value.code == "timeout" and info.value.retryable
    assert status.idempotency_key in info.value.message
    ack = platform.report_posting(status)  # the outbox retries with the same submission
    assert ack.duplicate
    assert len(fake.postings) == 1


def test_unavailable_posting_is_retryable_and_records_nothing(fake, platform, doc):
    fake.fail_next_posting("unavailable")
    status = PostingStatus.posted(doc.business_key, "202407")
    with pytest.raises(TaxPlatformError) as info:
        platform.report_posting(status)
    assert info.value.code == "unavailable" and info.value.retryable
    assert fake.postings == []
    assert not platform.report_posting(status).duplicate


def test_rejected_posting_is_permanent(fake, platform, doc):
    fake.fail_next_posting("rejected")
    with pytest.raises(TaxPlatformError) as info:
        platform.report_posting(PostingStatus.posted(doc.business_key, "202407"))
    assert info.value.code == "invalid_query" and not info.value.retryable


def test_same_key_different_body_is_a_conflict(fake, platform, doc):
    key = PostingStatus.posted(doc.business_key, "202407").idempotency_key
    platform.report_posting(PostingStatus(doc.business_key, "posted", "posted_eit_deductible", key, "202407"))
    with pytest.raises(TaxPlatformError) as info:
        platform.report_posting(PostingStatus(doc.business_key, "posted", "posted_eit_deductible", key, "202408"))
    assert info.value.code == "idempotency_conflict" and not info.value.retryable
    assert len(fake.postings) == 1


def test_configured_codes_go_on_the_wire(fake, doc):
    client = HttpTaxPlatform({"taxplatform.url": fake.url, "taxplatform.posting.purpose.revoke": "6"},
                             clock=lambda: NOW)
    fake.codes = client.codes
    client.report_posting(PostingStatus.revoked(doc.business_key))
    assert fake.postings[0].body["purpose"] == "6"


def test_concurrent_retries_are_deduplicated(fake, platform, doc):
    status = PostingStatus.posted(doc.business_key, "202407")
    acks = []
    threads = [threading.Thread(target=lambda: acks.append(platform.report_posting(status))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake.postings) == 1
    assert sum(not a.duplicate for a in acks) == 1


def test_discrepancies_between_platform_and_invoice(fake, platform, doc):
    fake.register(doc)
    assert platform.check(CheckQuery.from_document(doc)).discrepancies(doc) == ()
    fake.script(doc.number, "normal", buyer_name="别的公司", total="9999.00")
    found = platform.check(CheckQuery.from_document(doc)).discrepancies(doc)
    assert any("购买方名称不一致" in d and "别的公司" in d for d in found)
    assert any("价税合计不一致" in d for d in found)
