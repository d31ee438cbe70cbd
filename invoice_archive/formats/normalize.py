"""Normalising printed values: amounts, dates, identifiers, rates, kinds.

All functions are pure and return immutable values, so they are memoised:
invoice lines repeat the same rates, units and amounts.
"""
from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from functools import lru_cache

_SPACES = re.compile(r"\s+")
_AMOUNT_JUNK = str.maketrans("", "", "¥￥,， \t\r\n\u3000元圆")
_DATE_PATTERNS = (
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"),
    re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_MAX_AMOUNT_CHARS = 40
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")


@lru_cache(maxsize=4096)
def text(value: str | None) -> str | None:
    """Strip; collapse internal runs of whitespace to one space; '' -> None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if "\n" in value or "  " in value or "\t" in value or "\r" in value:
        value = _SPACES.sub(" ", value)
    return value


@lru_cache(maxsize=4096)
def ident(value: str | None, upper: bool = True) -> str | None:
    """Codes, numbers, tax IDs: full-width -> ASCII, no spaces, upper case (unless told not to)."""
    if value is None:
        return None
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
    value = "".join(value.split())
    if upper:
        value = value.upper()
    return value or None


@lru_cache(maxsize=4096)
def amount(value: str | None) -> Decimal | None:
    """'¥ 1,234.50' / '￥１２３.４５' / '-4449.00' -> Decimal; '***', '' or junk -> None.

    Only plain decimal notation is accepted (no exponents, NaN or underscores).
    """
    if value is None:
        return None
    if len(value) > _MAX_AMOUNT_CHARS * 4:
        return None
    plain = _PLAIN_NUMBER.fullmatch(value.strip())
    if plain is None:
        if not value.isascii():
            value = unicodedata.normalize("NFKC", value)
        value = value.translate(_AMOUNT_JUNK)
        if len(value) > _MAX_AMOUNT_CHARS:
            return None
        plain = _PLAIN_NUMBER.fullmatch(value)
        if plain is None:
            return None
    try:
        return Decimal(plain.group(0))
    except InvalidOperation:  # pragma: no cover - the pattern only admits valid numbers
        return None


#: money fits NUMERIC(18, 2): sixteen integer digits
MAX_MONEY_DIGITS = 16
_NUMBERISH = re.compile(r"(?i)[0-9]|nan|inf|e[+-]?\d")
_CENT = Decimal("0.01")


@lru_cache(maxsize=4096)
def money(value: str | None, label: str = "金额") -> Decimal | None:
    """An amount of money from a structured source (XML, XBRL, OFD tags), where a
    value that is present must be one: a finite decimal with at most two decimal
    places and at most sixteen integer digits. Absent or a placeholder ('***',
    '免税') is None; anything number-like but not money ('NaN', '1e309',
    '1060.005', a 24-digit amount) raises ``InvoiceFormatError('amount_unreadable')``
    rather than being read as "no amount", which would let rules pass unchecked.
    """
    if value is None:
        return None
    number = amount(value)
    if number is not None:
        sign, digits, exponent = number.as_tuple()
        integer_digits = len(digits) + exponent
        if integer_digits <= MAX_MONEY_DIGITS and (exponent >= -2 or number == number.quantize(_CENT)):
            return number
    elif not _NUMBERISH.search(value):
        return None
    from .errors import InvoiceFormatError

    shown = value.strip()
    shown = shown if len(shown) <= 40 else shown[:40] + "…"
    raise InvoiceFormatError("amount_unreadable", field=label, value=shown)


@lru_cache(maxsize=4096)
def rate(value: str | None) -> Decimal | None:
    """'6%' / '13.00%' / '0.06' -> Decimal('0.06'); '免税', '不征税', '***' -> None."""
    if value is None:
        return None
    raw = unicodedata.normalize("NFKC", value).strip().replace(" ", "")
    if not raw:
        return None
    percent = raw.endswith("%")
    number = amount(raw.rstrip("%"))
    if number is None:
        return None
    if percent:
        number = number / 100
    return number.normalize() if number else Decimal(0)


@lru_cache(maxsize=4096)
def date(value: str | None) -> _dt.date | None:
    if value is None:
        return None
    raw = value.strip()
    if not raw.isascii():
        raw = unicodedata.normalize("NFKC", raw)
    for pattern in _DATE_PATTERNS:
        match = pattern.search(raw)
        if match:
            try:
                return _dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                return None
    return None


@lru_cache(maxsize=4096)
def kind_from_title(title: str | None) -> str | None:
    """Classify a printed title or a type label ('增值税电子专用发票', '电子发票（普通发票）' ...)."""
    if not title:
        return None
    t = unicodedata.normalize("NFKC", title).replace(" ", "")
    if "铁路电子客票" in t:
        return "railway_ticket"
    if "回单" in t:
        return "bank_receipt"
    if "对账单" in t:
        return "bank_statement"
    special = "专用发票" in t
    normal = "普通发票" in t
    if special == normal:
        return None
    if t.startswith(("电子发票(", "电子发票（")):
        return "digital_special" if special else "digital_normal"
    if "增值税电子" in t or "电子普通" in t or "电子专用" in t:
        return "vat_e_special" if special else "vat_e_normal"
    return None


def kind_from_code(code: str | None) -> str | None:
    """The last two digits of a 12-digit 发票代码 name the invoice type: 11/12 普票, 13 专票."""
    if not code or len(code) != 12 or not code.isdigit():
        return None
    suffix = code[-2:]
    if suffix in ("11", "12"):
        return "vat_e_normal"
    if suffix == "13":
        return "vat_e_special"
    return None


def same(field: str, a: object, b: object) -> bool:
    """Do two values of ``field`` agree, after normalisation?"""
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        return _loose(a) == _loose(b)
    return a == b


@lru_cache(maxsize=4096)
def _loose(value: str) -> str:
    value = unicodedata.normalize("NFKC", value)
    return "".join(value.split())


#: what people put between the groups of an invoice number: spaces (any width) and dashes
#: (after NFKC the full-width ``－`` is already ``-``; the typographic dashes are not)
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\ufe58\ufe63]+")


def invoice_number_keys(value: str) -> tuple[list[str], list[str]]:
    """(numbers, business keys) an invoice number given in any form may mean.

    The text is read as people copy it: NFKC first (full-width digits
    ``２４９９…``, the full-width space and dash become ASCII), then spaces and
    dashes between digit groups do not count: ``24992000000000000001``,
    ``2499 2000 0000 0000 0001`` and ``2499-2000-0000-0000-0001`` are one
    number. 20 digits (数电票) -> number or business key; 8 digits -> number;
    18 or 20 digits may also be a 10- or 12-digit code + 8-digit number, so
    ``044001900111-12345678``, ``044001900111 12345678`` and
    ``04400190011112345678`` all look for business key ``044001900111-12345678``.
    Anything but digits is a business key as written (separators as ``-``), or
    ``code-number``.
    """
    given = unicodedata.normalize("NFKC", value).strip()
    digits = _SEPARATORS.sub("", given)
    if digits.isascii() and digits.isdigit():
        keys = [digits]
        if len(digits) in (18, 20):   # 10- or 12-digit code + 8-digit number
            keys.append(f"{digits[:-8]}-{digits[-8:]}")
        return [digits], keys
    written = _SEPARATORS.sub("-", given).strip("-")
    code, _, number = written.rpartition("-")
    if not code:
        return [number], [number]
    # as written (BKER-<bank>-<receipt>), and as code-number with the code's own dashes dropped
    return [], list(dict.fromkeys([written, f"{code.replace('-', '')}-{number}"]))
