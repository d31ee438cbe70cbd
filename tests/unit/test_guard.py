"""The input guard's rules on their own (views/guard.py)."""
from __future__ import annotations

import json

import pytest

from invoice_archive.views.guard import MAX_DEPTH, Refused, check_json, check_query


def code(fn, arg) -> str | None:
    try:
        fn(arg)
    except Refused as exc:
        return exc.code
    return None


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"title": "[" * 500 + '\\"' + "{" * 500, "n": 1}).encode()
    assert code(check_json, text) is None


def test_depth_is_counted_outside_strings():
    assert code(check_json, b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)) == "invalid_json"
    assert code(check_json, b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is None


@pytest.mark.parametrize("body, expected", [
    ({"title": "tab\tand\nnewline are fine"}, None),
    ({"title": "nul\x00"}, "invalid_text"),
    ({"bad\x01key": 1}, "invalid_text"),
    ({"n": 10**16}, None),
    ({"n": 10**16 + 1}, "number_out_of_range"),
    ({"amount": 1234567890123456.78}, None),
])
def test_json_values(body, expected):
    assert code(check_json, json.dumps(body).encode()) == expected


def test_amounts_beyond_sixteen_integer_digits_are_refused():
    assert code(check_json, b'{"amount": 12345678901234567.5}') == "number_out_of_range"
    assert code(check_json, b'{"amount": 1e400}') == "number_out_of_range"


@pytest.mark.parametrize("query, expected", [
    (b"number=24992000000000000001", None),            # an invoice number is text, however long
    (b"offset=2147483647", None),
    (b"offset=2147483648", "number_out_of_range"),
    (b"number=%E5%8F%91%E7%A5%A8", None),
    (b"number=%ff", "invalid_text"),
    (b"number=a%00b", "invalid_text"),
])
def test_query_strings(query, expected):
    assert code(check_query, query) == expected
