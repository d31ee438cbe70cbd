"""The rules on the real samples and the synthetic XMLs in ../shared (read, never copied).

The organisation is taken from what each invoice says about its buyer, so the
buyer rules must pass; the expected values come from expected.json at run time.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from invoice_archive.formats import InvoiceFormatError, read_invoice
from invoice_archive.rules import (
    Organisation,
    Result,
    RulesContext,
    evaluate,
    policy_from_settings,
)
from tests.unit.formats._samples import listed_files, sample_bytes

ARITHMETIC = ("lines_amount_sum", "lines_tax_sum", "line_tax_rate", "total_balance", "amount_in_words")


def _read(samples_dir, name):
    try:
        return read_invoice(sample_bytes(samples_dir, name), filename=name.rstrip("/").rsplit("/", 1)[-1])
    except InvoiceFormatError:
        pytest.skip(f"{name} is not an invoice the readers accept")


def _expected(expected_samples, name):
    return next(e for e in expected_samples if e["file"] == name)


def _context(doc, **kw):
    org = Organisation(name=doc.buyer.name or "本单位", tax_id=doc.buyer.tax_id or "") if doc.buyer.name else None
    return RulesContext(today=dt.date(2026, 1, 1), organisation=org, **kw)


@pytest.mark.parametrize("name", listed_files())
def test_no_sample_breaks_a_rule_of_arithmetic(samples_dir, expected_samples, name):
    entry = _expected(expected_samples, name)
    if not entry.get("kind"):
        pytest.skip("not an invoice")
    doc = _read(samples_dir, name)
    report = evaluate(doc, _context(doc))
    for code in ARITHMETIC:
        check = report[code]
        assert check.result is not Result.FAIL, f"{name} {code}: {check.message}"
    assert report["issue_date_not_future"].result is Result.PASS
    if entry.get("red") or Decimal(entry.get("total") or "0") < 0:
        assert report["red_invoice"].result is Result.FAIL
        assert [c.code for c in report.failures] == ["red_invoice"]
    else:
        assert report["red_invoice"].result is Result.PASS


def test_synthetic_xml_samples_pass_every_arithmetic_rule(samples_dir):
    names = sorted(p.name for p in (samples_dir / "xml").glob("*.xml"))
    assert names
    for name in names:
        doc = _read(samples_dir, f"xml/{name}")
        report = evaluate(doc, _context(doc))
        for code in ARITHMETIC:
            assert report[code].result is Result.PASS, f"{name} {code}: {report[code].message}"
        assert report["buyer_name"].result is Result.PASS
        assert report["buyer_tax_id"].result is Result.PASS


def test_red_synthetic_xml_is_flagged_with_its_original(samples_dir, expected_samples):
    name = "xml/dzfp_24112000000051234567_red_synthetic.xml"
    entry = _expected(expected_samples, name)
    doc = _read(samples_dir, name)
    check = evaluate(doc, _context(doc))["red_invoice"]
    assert check.result is Result.FAIL
    if entry.get("original_number"):
        assert entry["original_number"] in check.message


def test_multiline_special_invoice_checks_every_line(samples_dir, expected_samples):
    name = "xml/dzfp_24322000000012345678_special_multiline_synthetic.xml"
    doc = _read(samples_dir, name)
    check = evaluate(doc, _context(doc))["line_tax_rate"]
    assert check.result is Result.PASS
    assert check.details["checked_rows"] == len(doc.lines) > 1
    assert evaluate(doc, _context(doc))["total_balance"].details["total"] == Decimal(_expected(expected_samples, name)["total"])


def test_tampered_line_in_a_real_invoice_is_caught(samples_dir):
    doc = _read(samples_dir, "ofdrw/converter__draw_param_ref.ofd")
    line = doc.lines[0]
    changed = line._replace(tax=line.tax + 1) if hasattr(line, "_replace") else dataclasses.replace(line, tax=line.tax + 1)
    report = evaluate(dataclasses.replace(doc, lines=(changed, *doc.lines[1:])), _context(doc))
    assert report["line_tax_rate"].result is Result.FAIL
    assert report["lines_tax_sum"].result is Result.FAIL
    assert report["amount_in_words"].result is Result.PASS


def test_starred_tax_rate_in_a_real_invoice_is_not_applicable(samples_dir):
    # 差额征税: the rate is printed as ***
    doc = _read(samples_dir, "ofdrw/layout__keyword2.ofd")
    assert evaluate(doc, _context(doc))["line_tax_rate"].result is Result.NOT_APPLICABLE


def test_exempt_invoice_without_tax_is_not_applicable(samples_dir):
    doc = _read(samples_dir, "ofdrw/layout__no_page_container.ofd")
    report = evaluate(doc, _context(doc))
    assert report["total_balance"].result is Result.NOT_APPLICABLE
    assert report.passed


def test_personal_buyer_is_not_the_organisation(samples_dir):
    doc = _read(samples_dir, "ofdrw/converter__999.ofd")  # buyer 个人, no tax ID
    ctx = RulesContext(today=dt.date(2026, 1, 1), organisation=Organisation("演示科技有限公司", "91110000DEMO00001X"))
    report = evaluate(doc, ctx)
    assert report["buyer_name"].result is Result.FAIL
    assert report["buyer_tax_id"].result is Result.WARNING
    assert not report.passed


def test_category_policy_on_real_kinds(samples_dir):
    policy = policy_from_settings({"rules.category.travel.kinds": "railway_ticket digital_normal",
                                   "rules.category.travel.max_total": "500.00"})
    ticket = _read(samples_dir, "ofd-go/售票换开样例.ofd")
    special = _read(samples_dir, "easyofd/增值税电子专票5.ofd")
    for doc, kind_ok, limit_ok in ((ticket, True, True), (special, False, False)):
        report = evaluate(doc, _context(doc, category="travel", policy=policy))
        assert (report["category_kind"].result is Result.PASS) is kind_ok
        assert (report["category_limit"].result is Result.PASS) is limit_ok
