"""Each rule on a well-formed synthetic invoice, then one synthetic failure per rule."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

import pytest

from invoice_archive.formats import LineItem, Party
from invoice_archive.rules import (
    RULE_CODES,
    RULES,
    Organisation,
    Result,
    RulesContext,
    RulesReport,
    evaluate,
)

from .conftest import BUYER_TAX_ID, TODAY, synth_doc


def replace(doc, **changes):
    return dataclasses.replace(doc, **changes)


def with_line(line, **changes):
    """A changed copy of a LineItem (a dataclass or a NamedTuple, whichever formats ships)."""
    if hasattr(line, "_replace"):
        return line._replace(**changes)
    return dataclasses.replace(line, **changes)


def result(doc, ctx, code):
    return evaluate(doc, ctx, only=[code])[code]


def test_a_good_invoice_passes_every_rule(doc, ctx):
    report = evaluate(doc, ctx)
    assert isinstance(report, RulesReport)
    assert report.passed
    assert [c.code for c in report.checks] == list(RULE_CODES)
    assert {c.code for c in report.checks if c.result is Result.PASS} == set(RULE_CODES) - {"category_limit"}
    assert report["category_limit"].result is Result.NOT_APPLICABLE  # office has no limit
    assert report.business_key == doc.business_key


def test_report_is_json_and_chinese(doc, ctx):
    out = evaluate(replace(doc, tax=Decimal("1.00")), ctx).to_dict()
    text = json.dumps(out, ensure_ascii=False)
    assert out["passed"] is False
    assert out["counts"]["fail"] >= 1
    for check in out["checks"]:
        assert set(check) == {"code", "title", "result", "message", "details"}
        assert check["result"] in {"pass", "fail", "warning", "not_applicable"}
        assert any("\u4e00" <= ch <= "\u9fff" for ch in check["message"])
    assert "lines_tax_sum" in text


def test_codes_are_stable():
    assert RULE_CODES == (
        "lines_amount_sum", "lines_tax_sum", "line_tax_rate", "total_balance", "amount_in_words",
        "buyer_tax_id", "buyer_name", "issue_date_not_future", "category_kind", "category_limit",
        "red_invoice",
    )
    assert all(RULES[c].title for c in RULE_CODES)


def test_unknown_rule_code_is_refused(doc, ctx):
    with pytest.raises(ValueError, match="unknown rule"):
        evaluate(doc, ctx, only=["nope"])


# -- arithmetic ----------------------------------------------------------------


def test_lines_amount_sum_fails_when_lines_do_not_add_up(doc, ctx):
    bad = replace(doc, amount_excl_tax=doc.amount_excl_tax + Decimal("0.01"))
    check = result(bad, ctx, "lines_amount_sum")
    assert check.result is Result.FAIL
    assert "1,200.00" in check.message and "1,200.01" in check.message
    assert check.details["lines_sum"] == Decimal("1200.00")


def test_lines_tax_sum_fails_when_line_taxes_do_not_add_up(doc, ctx):
    lines = (doc.lines[0], with_line(doc.lines[1], tax=Decimal("27.00")))
    check = result(replace(doc, lines=lines), ctx, "lines_tax_sum")
    assert check.result is Result.FAIL
    assert "87.00" in check.message and "86.00" in check.message


def test_line_tax_rate_fails_beyond_a_cent(doc, ctx):
    lines = (with_line(doc.lines[0], tax=Decimal("60.02")), doc.lines[1])
    check = result(replace(doc, lines=lines), ctx, "line_tax_rate")
    assert check.result is Result.FAIL
    assert "第 1 行" in check.message and "6%" in check.message and "60.00" in check.message
    assert check.details["mismatches"][0]["row"] == 1


def test_line_tax_rate_allows_a_cent_of_rounding(doc, ctx):
    lines = (with_line(doc.lines[0], tax=Decimal("60.01")), doc.lines[1])
    assert result(replace(doc, lines=lines), ctx, "line_tax_rate").result is Result.PASS
    # the tolerance is the context's
    strict = dataclasses.replace(ctx, line_tax_tolerance=Decimal(0))
    assert result(replace(doc, lines=lines), strict, "line_tax_rate").result is Result.FAIL


def test_line_tax_rate_skips_exempt_and_starred_lines(doc, ctx):
    exempt = LineItem(name="*图书*", amount=Decimal("50.00"), tax_rate=None, tax=None, tax_rate_text="免税")
    check = result(replace(doc, lines=doc.lines + (exempt,)), ctx, "line_tax_rate")
    assert check.result is Result.PASS and "另有 1 行" in check.message
    starred = LineItem(amount=Decimal("198.04"), tax_rate=None, tax=Decimal("1.96"), tax_rate_text="***")
    assert result(replace(doc, lines=(starred,)), ctx, "line_tax_rate").result is Result.NOT_APPLICABLE


def test_total_balance_fails_when_total_is_not_amount_plus_tax(doc, ctx):
    check = result(replace(doc, total=doc.total + 1), ctx, "total_balance")
    assert check.result is Result.FAIL
    assert "1,286.00" in check.message and "1,287.00" in check.message


def test_amount_in_words_fails_on_a_different_amount(doc, ctx):
    assert result(doc, ctx, "amount_in_words").result is Result.PASS
    check = result(replace(doc, total_in_words="壹仟贰佰捌拾柒圆整"), ctx, "amount_in_words")
    assert check.result is Result.FAIL
    assert check.details["parsed"] == Decimal("1287.00")
    assert "壹仟贰佰捌拾陆圆整" in check.message  # what it should read


def test_amount_in_words_compares_values_not_strings(doc, ctx):
    # 元 instead of 圆, 正 instead of 整, spaces, full-width brackets: still the same amount
    for words in ("壹仟贰佰捌拾陆元整", "壹仟贰佰捌拾陆圆正", "壹仟 贰佰 捌拾陆圆"):
        assert result(replace(doc, total_in_words=words), ctx, "amount_in_words").result is Result.PASS


def test_amount_in_words_unreadable_is_a_warning(doc, ctx):
    check = result(replace(doc, total_in_words="***"), ctx, "amount_in_words")
    assert check.result is Result.WARNING


def test_amount_in_words_handles_red_and_cents(ctx):
    red = synth_doc(red_of="24992000000000000009")
    assert red.total < 0 and red.total_in_words.startswith("负")
    assert result(red, ctx, "amount_in_words").result is Result.PASS
    cents = synth_doc(lines=(synth_line("0.95"),))  # 0.95 + 0.06 = 1.01: 壹圆零壹分
    check = result(cents, ctx, "amount_in_words")
    assert check.result is Result.PASS, check.message


def synth_line(amount: str):
    from invoice_archive.synth.xml import SynthLine

    return SynthLine(amount=Decimal(amount))


# -- buyer --------------------------------------------------------------------------


def test_buyer_tax_id_mismatch_fails(doc, ctx):
    other = replace(doc, buyer=Party(name=doc.buyer.name, tax_id="91110000OTHER0001Y"))
    check = result(other, ctx, "buyer_tax_id")
    assert check.result is Result.FAIL
    assert "91110000OTHER0001Y" in check.message and BUYER_TAX_ID in check.message


def test_buyer_tax_id_normalised(doc, ctx):
    fullwidth = "９１１１００００ｄｅｍｏ０００ 01x"
    check = result(replace(doc, buyer=Party(name=doc.buyer.name, tax_id=fullwidth)), ctx, "buyer_tax_id")
    assert check.result is Result.PASS


def test_buyer_tax_id_missing_is_a_warning(doc, ctx):
    check = result(replace(doc, buyer=Party(name=doc.buyer.name)), ctx, "buyer_tax_id")
    assert check.result is Result.WARNING


@pytest.mark.parametrize("name", ["演示科技(北京)有限公司", "演示科技（北京）有限公司 ", "演示 科技 [北京] 有限公司",
                                  "演示科技（北京）有限公司"])
def test_buyer_name_ignores_brackets_spaces_and_width(doc, ctx, name):
    check = result(replace(doc, buyer=Party(name=name, tax_id=BUYER_TAX_ID)), ctx, "buyer_name")
    assert check.result is Result.PASS, check.message


def test_buyer_name_mismatch_fails(doc, ctx):
    check = result(replace(doc, buyer=Party(name="演示科技（上海）有限公司", tax_id=BUYER_TAX_ID)), ctx, "buyer_name")
    assert check.result is Result.FAIL
    assert "演示科技（上海）有限公司" in check.message


def test_buyer_name_accepts_aliases(doc, ctx):
    org = Organisation(name="新名称有限公司", tax_id=BUYER_TAX_ID, aliases=("演示科技（北京）有限公司",))
    assert result(doc, dataclasses.replace(ctx, organisation=org), "buyer_name").result is Result.PASS


def test_buyer_rules_not_applicable_without_organisation(doc, ctx):
    bare = dataclasses.replace(ctx, organisation=None)
    assert result(doc, bare, "buyer_name").result is Result.NOT_APPLICABLE
    assert result(doc, bare, "buyer_tax_id").result is Result.NOT_APPLICABLE


# -- date, category, red -------------------------------------------------------------


def test_issue_date_in_the_future_fails(doc, ctx):
    check = result(replace(doc, issue_date=TODAY + dt.timedelta(days=1)), ctx, "issue_date_not_future")
    assert check.result is Result.FAIL and "2024-08-02" in check.message
    assert result(replace(doc, issue_date=TODAY), ctx, "issue_date_not_future").result is Result.PASS
    assert result(replace(doc, issue_date=None), ctx, "issue_date_not_future").result is Result.NOT_APPLICABLE


def test_context_wants_a_date():
    with pytest.raises(TypeError):
        RulesContext(today=dt.datetime(2024, 8, 1, 12))


def test_kind_not_allowed_for_category_fails(ctx):
    special = synth_doc(special=True)
    travel = dataclasses.replace(ctx, category="travel")
    check = result(special, travel, "category_kind")
    assert check.result is Result.FAIL
    assert "差旅费" in check.message and "电子发票（增值税专用发票）" in check.message
    assert result(special, ctx, "category_kind").result is Result.PASS  # office accepts it


def test_category_without_kinds_accepts_anything(doc, ctx):
    assert result(doc, dataclasses.replace(ctx, category="misc"), "category_kind").result is Result.PASS


def test_unknown_category_fails(doc, ctx):
    check = result(doc, dataclasses.replace(ctx, category="yacht"), "category_kind")
    assert check.result is Result.FAIL and "yacht" in check.message


def test_category_rules_not_applicable_without_category_or_policy(doc, ctx):
    for bare in (dataclasses.replace(ctx, category=None), dataclasses.replace(ctx, policy=None)):
        assert result(doc, bare, "category_kind").result is Result.NOT_APPLICABLE
        assert result(doc, bare, "category_limit").result is Result.NOT_APPLICABLE


def test_over_the_category_limit_fails(ctx):
    travel = dataclasses.replace(ctx, category="travel")
    at_limit = synth_doc(lines=(synth_line("5000.00"),))  # 5000 + 300 tax = 5300
    check = result(at_limit, travel, "category_limit")
    assert check.result is Result.FAIL
    assert "5,300.00" in check.message and "5,000.00" in check.message and "300.00" in check.message
    under = synth_doc(lines=(synth_line("4716.98"),))  # 4716.98 + 283.02 = 5000.00 exactly
    assert under.total == Decimal("5000.00")
    assert result(under, travel, "category_limit").result is Result.PASS


def test_red_invoice_is_not_claimable(ctx):
    red = synth_doc(number="24992000000000000002", red_of="24992000000000000001")
    report = evaluate(red, ctx)
    assert not report.passed
    assert [c.code for c in report.failures] == ["red_invoice"]
    assert "24992000000000000001" in report["red_invoice"].message


# -- robustness --------------------------------------------------------------------------


def test_missing_values_are_not_applicable_never_a_crash(ctx):
    from invoice_archive.formats import InvoiceDocument

    empty = InvoiceDocument(source_format="pdf", kind="vat_e_normal")
    report = evaluate(empty, ctx)
    results = {c.code: c.result for c in report.checks}
    for code in ("lines_amount_sum", "lines_tax_sum", "line_tax_rate", "amount_in_words",
                 "issue_date_not_future", "category_limit"):
        assert results[code] is Result.NOT_APPLICABLE, code
    # every invoice carries a 价税合计: not being able to read it is a failure
    assert results["total_balance"] is Result.FAIL
    assert results["buyer_name"] is Result.WARNING
    starred = InvoiceDocument(source_format="pdf", kind="vat_e_normal", amount_excl_tax=Decimal("57.00"),
                              total=Decimal("57.00"),
                              lines=(LineItem(amount=Decimal("57.00"), tax_rate_text="***"),))
    results = {c.code: c.result for c in evaluate(starred, ctx).checks}
    assert results["lines_amount_sum"] is Result.PASS
    assert results["lines_tax_sum"] is Result.NOT_APPLICABLE
    assert results["total_balance"] is Result.NOT_APPLICABLE


def test_a_crashing_rule_fails_closed(doc, ctx, monkeypatch):
    from invoice_archive.rules import checks

    def boom(doc, ctx):
        raise RuntimeError("bug")

    monkeypatch.setitem(RULES, "total_balance", checks.Rule("total_balance", "价税合计", boom))
    report = evaluate(doc, ctx)
    assert report["total_balance"].result is Result.FAIL
    assert "执行出错" in report["total_balance"].message
    assert report["lines_amount_sum"].result is Result.PASS


@pytest.mark.parametrize("code", ["total_balance", "amount_in_words", "category_limit"])
def test_an_invoice_without_a_readable_total_fails_the_rules_that_need_it(doc, ctx, code):
    """An unreadable total must never let the rules pass as "not applicable"."""
    ctx = dataclasses.replace(ctx, category="travel")     # a category with a limit
    check = result(replace(doc, total=None), ctx, code)
    assert check.result is Result.FAIL, check
    assert "价税合计" in check.message


def test_a_bank_receipt_without_a_total_is_not_failed(doc, ctx):
    receipt = replace(doc, kind="bank_receipt", total=None)
    assert result(receipt, ctx, "total_balance").result is Result.NOT_APPLICABLE
