"""The pure port: queries, local age check, budget, posting status and codes."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoice_archive.formats import read_invoice
from invoice_archive.synth.xml import SynthInvoice, build_xml_invoice
from invoice_archive.ports.taxplatform import (
    CST, CheckQuery, CheckResult, CheckStatus, PostingAck, PostingPurpose, PostingState, PostingStatus,
    TaxPlatformError, posting_codes_from_settings, posting_idempotency_key,
)
from invoice_archive.rules.tax_checks import CheckBudget, not_checkable_online

NOW = dt.datetime(2024, 8, 1, 9, 0, tzinfo=CST)


def q(**kw):
    fields = {"number": "24992000000000000001", "issue_date": dt.date(2024, 7, 15), "total": Decimal("1060.00")}
    fields.update(kw)
    return CheckQuery(**fields)


# -- CheckQuery -----------------------------------------------------------------------------


def test_query_normalises_and_keeps_last_six_of_check_code():
    query = CheckQuery(number=" ８３０８９６４７ ", code="033002000211", issue_date=dt.date(2020, 7, 23),
                       check_code="16197833567414507415")
    assert query.number == "83089647"
    assert query.check_code == "507415"
    assert query.business_key == "033002000211-83089647"
    assert query.to_dict()["issue_date"] == "2020-07-23"


@pytest.mark.parametrize("kw", [{"number": ""}, {"total": None}])
def test_query_needs_number_and_something_to_match(kw):
    with pytest.raises(ValueError):
        q(**kw)


def test_query_refuses_floats_and_datetimes():
    with pytest.raises(TypeError):
        q(total=1060.0)
    with pytest.raises(TypeError):
        q(issue_date=dt.datetime(2024, 7, 15, 10))


def test_query_from_digital_invoice_uses_the_total():
    doc = read_invoice(build_xml_invoice(SynthInvoice()), filename="x.xml")
    query = CheckQuery.from_document(doc)
    assert query.total == doc.total and query.amount_excl_tax is None and query.code is None
    assert query.business_key == doc.business_key


def test_query_from_real_old_invoices(samples_dir):
    normal = read_invoice((samples_dir / "ofdrw/converter__1.ofd").read_bytes(), filename="converter__1.ofd")
    query = CheckQuery.from_document(normal)
    assert query.code == normal.code and query.check_code == normal.check_code[-6:]
    assert query.business_key == normal.business_key
    special = read_invoice((samples_dir / "easyofd/增值税电子专票5.ofd").read_bytes(), filename="5.ofd")
    query = CheckQuery.from_document(special)
    assert query.amount_excl_tax == special.amount_excl_tax


# -- not checkable online -----------------------------------------------------------------------


def test_older_than_a_year_is_decided_locally_and_is_not_a_failure():
    old = q(issue_date=dt.date(2023, 7, 31))
    result = not_checkable_online(old, NOW)
    assert result is not None
    assert result.status is CheckStatus.NOT_CHECKABLE_ONLINE
    assert not result.retryable and not result.ok and not result.final
    assert "超过在线查验期限" in result.message and "此非查验失败" in result.message
    assert not_checkable_online(q(issue_date=dt.date(2023, 8, 2)), NOW) is None
    assert not_checkable_online(old, NOW, max_age_days=5 * 365) is None


def test_age_needs_an_aware_clock():
    with pytest.raises(ValueError):
        not_checkable_online(q(), dt.datetime(2024, 8, 1))


def test_check_result_is_plain_data():
    result = CheckResult(status="voided", business_key="X", checked_at=NOW, source="fake", total="1.5")
    assert result.status is CheckStatus.VOIDED and result.total == Decimal("1.50")
    assert result.message == "已作废" and result.final and not result.ok
    out = result.to_dict()
    assert out["status"] == "voided" and out["total"] == "1.50" and out["checked_at"].endswith("+08:00")


# -- CheckBudget ----------------------------------------------------------------------------------


def at(hour, minute=0, day=1):
    return dt.datetime(2024, 8, day, hour, minute, tzinfo=CST)


def test_five_checks_per_invoice_per_day():
    budget = CheckBudget()
    earlier = [at(8), at(9), at(10), at(11)]
    decision = budget.decide(earlier, at(12))
    assert decision.allowed and decision.remaining == 1 and decision.next_allowed_at is None
    earlier.append(at(12))
    decision = budget.decide(earlier, at(13))
    assert not decision.allowed and decision.remaining == 0
    assert decision.next_allowed_at == at(0, day=2)
    assert "5 次" in decision.message and "2024-08-02 00:00" in decision.message
    assert budget.next_allowed(earlier, at(13)) == at(0, day=2)
    assert budget.allowed(earlier, at(0, 1, day=2))


def test_budget_counts_the_china_day_whatever_the_timezone():
    budget = CheckBudget()
    # 2024-07-31 23:30 UTC is 2024-08-01 07:30 in China: the same China day as the rest
    earlier = [dt.datetime(2024, 7, 31, 23, 30, tzinfo=dt.UTC), at(8), at(9), at(10), at(11)]
    assert not budget.allowed(earlier, dt.datetime(2024, 8, 1, 5, 0, tzinfo=dt.UTC))
    # yesterday's checks (China time) do not count
    yesterday = [at(20, day=1)] * 5
    assert budget.allowed(yesterday, at(0, 5, day=2))


def test_rolling_window():
    budget = CheckBudget(limit=2, window="rolling")
    earlier = [at(8), at(9)]
    decision = budget.decide(earlier, at(10))
    assert not decision.allowed
    assert decision.next_allowed_at == at(8, day=2)
    assert budget.allowed(earlier, at(8, 1, day=2))


def test_budget_refuses_naive_times_and_bad_settings():
    with pytest.raises(ValueError):
        CheckBudget().decide([dt.datetime(2024, 8, 1, 8)], NOW)
    with pytest.raises(ValueError):
        CheckBudget(limit=0)
    with pytest.raises(ValueError):
        CheckBudget(window="weekly")


# -- posting status --------------------------------------------------------------------------------


def test_posted_and_revoked_submissions():
    posted = PostingStatus.posted("24992000000000000001", "202407")
    assert posted.state is PostingState.POSTED and posted.purpose is PostingPurpose.POSTED_EIT_DEDUCTIBLE
    assert posted.wire() == {"invoice_business_key": "24992000000000000001", "status": "02", "purpose": "02",
                             "period": "202407", "idempotency_key": posted.idempotency_key}
    assert posted.idempotency_key == PostingStatus.posted("24992000000000000001", "202407").idempotency_key
    revoked = PostingStatus.revoked("24992000000000000001")
    assert revoked.wire()["status"] == "03" and revoked.wire()["purpose"] == "06"
    assert revoked.idempotency_key != posted.idempotency_key
    assert PostingStatus.posted("X-1", "202407", version=2).idempotency_key != \
        PostingStatus.posted("X-1", "202407").idempotency_key


@pytest.mark.parametrize(
    "kw",
    [
        {"period": None},
        {"period": "202413"},
        {"period": "2024-07"},
        {"state": PostingState.NOT_POSTED},
        {"purpose": PostingPurpose.REVOKE},
        {"idempotency_key": "short"},
        {"idempotency_key": "has spaces in it"},
        {"business_key": ""},
    ],
)
def test_posting_status_is_validated(kw):
    fields = {"business_key": "X-1", "state": PostingState.POSTED, "purpose": PostingPurpose.POSTED_EIT_DEDUCTIBLE,
              "period": "202407", "idempotency_key": posting_idempotency_key("X-1", "posted_eit_deductible", "202407")}
    fields.update(kw)
    with pytest.raises(ValueError):
        PostingStatus(**fields)


def test_posting_codes_are_configurable():
    codes = posting_codes_from_settings({"taxplatform.posting.status.posted": "2",
                                         "taxplatform.posting.purpose.revoke": "99", "other": "x"})
    assert codes.status[PostingState.POSTED] == "2"
    assert codes.purpose[PostingPurpose.REVOKE] == "99"
    assert codes.purpose[PostingPurpose.POSTED_EIT_DEDUCTIBLE] == "02"
    assert codes.state_of("2") is PostingState.POSTED and codes.purpose_of("99") is PostingPurpose.REVOKE
    assert PostingStatus.revoked("X-1").wire(codes)["purpose"] == "99"


@pytest.mark.parametrize("settings", [
    {"taxplatform.posting.status.booked": "02"},
    {"taxplatform.posting.colour.posted": "02"},
    {"taxplatform.posting.status.posted": "0 2"},
    {"taxplatform.posting.status.posted": "01"},  # same as not_posted
])
def test_bad_posting_codes_name_the_setting(settings):
    with pytest.raises(ValueError):
        posting_codes_from_settings(settings)


def test_errors_and_acks():
    err = TaxPlatformError("timeout", "超时")
    assert err.retryable and "[timeout]" in str(err)
    assert not TaxPlatformError("auth_failed", "认证失败").retryable
    assert TaxPlatformError("auth_failed", "x", retryable=True).retryable
    assert err.to_dict() == {"code": "timeout", "message": "超时", "retryable": True}
    ack = PostingAck(idempotency_key="RZ-X-1-revoke-none-v1", business_key="X-1", accepted=True, duplicate=False,
                     received_at=NOW, source="fake")
    assert ack.to_dict()["received_at"].startswith("2024-08-01T09:00")
    with pytest.raises(ValueError):
        PostingAck(idempotency_key="k" * 8, business_key="X", accepted=True, duplicate=False,
                   received_at=dt.datetime(2024, 8, 1), source="fake")
