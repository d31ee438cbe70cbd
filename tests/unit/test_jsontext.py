"""JSON text written by orjson means what json.dumps would have written."""
from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass
from decimal import Decimal

import pytest

from invoice_archive.jsontext import dumps


class Kind(str, enum.Enum):
    XML = "xml"


class Text(str):
    pass


@dataclass
class Point:
    x: int


VALUES = [
    {"金额": "100.00", "items": [1, 2.5, None, True, False], "nested": {"a": {"b": []}}},
    {1: "int key", "k": Text("子类")},
    {"kind": Kind.XML},
    [],
    "纯文本",
    {"big": 10 ** 30, "negative": -(2 ** 70)},     # beyond orjson's 64 bits: the standard library writes it
]


@pytest.mark.parametrize("value", VALUES)
def test_same_values_as_the_standard_library(value: object) -> None:
    assert json.loads(dumps(value)) == json.loads(json.dumps(value, ensure_ascii=False))


def test_text_is_utf8_not_escaped() -> None:
    assert dumps({"名称": "发票"}) == '{"名称":"发票"}'


def test_default_converts_what_json_has_no_type_for() -> None:
    seen = []

    def default(v: object) -> str:
        seen.append(type(v))
        return str(v)

    out = json.loads(dumps({"d": Decimal("1.50"), "t": dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.timezone.utc),
                            "day": dt.date(2024, 5, 1), "p": Point(1)}, default=default))
    assert out == {"d": "1.50", "t": "2024-05-01 08:00:00+00:00", "day": "2024-05-01", "p": "Point(x=1)"}
    assert seen == [Decimal, dt.datetime, dt.date, Point]   # dates and dataclasses are not orjson's to decide


def test_refusals_are_the_standard_librarys() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        dumps({"d": Decimal("1")})
    with pytest.raises(TypeError):
        dumps({"when": dt.date(2024, 1, 1)})
    circular: list = []
    circular.append(circular)
    with pytest.raises(ValueError):
        dumps(circular)
