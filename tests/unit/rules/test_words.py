from decimal import Decimal

import pytest

from invoice_archive.rules import AmountWordsError, parse_rmb_words, rmb_words


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("壹万圆整", "10000.00"),
        ("壹万元整", "10000.00"),
        ("壹佰圆正", "100.00"),
        ("壹拾壹圆贰角", "11.20"),
        ("贰万零贰佰陆拾叁圆柒角肆分", "20263.74"),
        ("壹万零伍圆整", "10005.00"),
        ("壹圆零伍分", "1.05"),
        ("壹佰圆零伍角", "100.50"),
        ("零圆伍角", "0.50"),
        ("伍角", "0.50"),
        ("伍分", "0.05"),
        ("负肆仟肆佰肆拾玖圆整", "-4449.00"),
        ("（负数）壹佰圆整", "-100.00"),
        ("(负数)壹佰圆整", "-100.00"),
        (" 壹 万 圆 整 ", "10000.00"),
        ("壹亿零壹佰万圆整", "101000000.00"),
    ],
)
def test_parses_upper_case_rmb(words, expected):
    assert parse_rmb_words(words) == Decimal(expected)


@pytest.mark.parametrize("words", ["", "整", "圆整", "abc", "***", "壹点五圆", "壹拾贰角伍", "伍拾角", "壹圆贰分叁角"])
def test_refuses_what_is_not_an_amount(words):
    with pytest.raises(AmountWordsError):
        parse_rmb_words(words)


@pytest.mark.parametrize(
    "value",
    ["0.01", "0.10", "0.50", "1.00", "1.05", "10.00", "10.50", "11.20", "100.01", "1001.00", "4449.00",
     "10005.00", "20263.74", "25254.62", "100000.00", "1000000.09", "-4449.00", "-0.05"],
)
def test_round_trip_through_cn2an(value):
    amount = Decimal(value)
    words = rmb_words(amount)
    assert "元" not in words and "圆" in words or amount.copy_abs() < 1
    assert parse_rmb_words(words) == amount


def test_invoice_style():
    assert rmb_words(Decimal("10000.00")) == "壹万圆整"
    assert rmb_words(Decimal("-4449.00")) == "负肆仟肆佰肆拾玖圆整"
