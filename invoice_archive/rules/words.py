"""The upper-case RMB amount (人民币大写金额) as printed on invoices.

Invoices write 圆 for 元, end a whole amount with 整 (or 正), insert 零 for
skipped places (壹万零伍圆, 壹圆零伍分) and mark red invoices with 负 or
（负数）. The integer part is converted with ``cn2an`` (strict mode: only
well-formed numerals); 角 and 分 are single digits.
"""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

import cn2an

CENT = Decimal("0.01")

_NEGATIVE_PREFIXES = ("(负数)", "负数", "负", "-", "⊗")
_UNITS = re.compile(
    r"^(?:(?P<yuan>[^元角分]+)元)?"
    r"(?:零)?(?:(?P<jiao>[^元角分])角)?"
    r"(?:零)?(?:(?P<fen>[^元角分])分)?$"
)


class AmountWordsError(ValueError):
    """The text is not a well-formed upper-case RMB amount."""


def parse_rmb_words(text: str) -> Decimal:
    """'壹万圆整' -> Decimal('10000.00'); '负肆仟肆佰肆拾玖圆整' -> Decimal('-4449.00').

    Raises :class:`AmountWordsError` for anything that is not an amount.
    """
    if text is None:
        raise AmountWordsError("no text")
    raw = unicodedata.normalize("NFKC", text)
    raw = "".join(raw.split()).replace("圆", "元").replace("人民币", "")
    raw = raw.removeprefix("¥")
    negative = False
    for prefix in _NEGATIVE_PREFIXES:
        if raw.startswith(prefix):
            negative, raw = True, raw[len(prefix):]
            break
    raw = raw.rstrip("整正")
    if not raw:
        raise AmountWordsError(f"empty amount: {text!r}")
    match = _UNITS.match(raw)
    if match is None or not any(match.group(g) for g in ("yuan", "jiao", "fen")):
        raise AmountWordsError(f"not an RMB amount: {text!r}")
    value = Decimal(_numeral(match.group("yuan"), text)) if match.group("yuan") else Decimal(0)
    if match.group("jiao"):
        value += Decimal(_digit(match.group("jiao"), text)) / 10
    if match.group("fen"):
        value += Decimal(_digit(match.group("fen"), text)) / 100
    value = value.quantize(CENT)
    return -value if negative else value


def rmb_words(value: Decimal) -> str:
    """Decimal('10000.00') -> '壹万圆整', as invoices print it (负 for negatives)."""
    words = cn2an.an2cn(f"{abs(value):.2f}", "rmb").replace("元", "圆")
    return ("负" if value < 0 else "") + words


def _numeral(part: str, original: str) -> int:
    try:
        number = cn2an.cn2an(part, "strict")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise AmountWordsError(f"not an RMB amount: {original!r} ({exc})") from None
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise AmountWordsError(f"not a whole number of 圆: {original!r}")
    return number


def _digit(char: str, original: str) -> int:
    number = _numeral(char, original)
    if number > 9:
        raise AmountWordsError(f"角/分 must be one digit: {original!r}")
    return number
