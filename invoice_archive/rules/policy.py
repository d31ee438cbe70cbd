"""Which invoice kinds each expense category accepts, and its amount limit.

Built from flat settings (ini values are strings)::

    rules.category.travel.label = 差旅费
    rules.category.travel.kinds = digital_normal vat_e_normal railway_ticket
    rules.category.travel.max_total = 5000.00
    rules.category.office.kinds = digital_normal digital_special vat_e_normal vat_e_special

``kinds`` lists kinds of :data:`invoice_archive.formats.KINDS` (spaces, commas
or new lines between them); left out, any kind is accepted. ``max_total`` is
the largest 价税合计 one invoice may carry in that category; left out, no limit.
Every mistake is reported at start-up as a :class:`PolicyError` naming the key.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from invoice_archive.formats.model import KINDS

PREFIX = "rules.category."
ATTRIBUTES = ("kinds", "max_total", "label")
_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_SPLIT = re.compile(r"[\s,，;；]+")


class PolicyError(ValueError):
    """A settings mistake in the category policy. ``key`` names the setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class CategoryRule:
    """One expense category: accepted kinds (``None`` = any) and a per-invoice limit."""

    name: str
    kinds: frozenset[str] | None = None
    max_total: Decimal | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.kinds is not None:
            object.__setattr__(self, "kinds", frozenset(self.kinds))
            unknown = sorted(k for k in self.kinds if k not in KINDS)
            if unknown:
                raise PolicyError(f"{PREFIX}{self.name}.kinds", f"unknown invoice kind(s) {unknown}; "
                                  f"known kinds: {' '.join(KINDS)}")
        if self.max_total is not None and (
                not isinstance(self.max_total, Decimal) or not self.max_total.is_finite() or self.max_total < 0):
            raise PolicyError(f"{PREFIX}{self.name}.max_total",
                              "must be a non-negative decimal amount such as 5000.00")

    @property
    def display(self) -> str:
        return f"{self.label}（{self.name}）" if self.label else self.name


@dataclass(frozen=True)
class CategoryPolicy:
    """Every configured expense category, by name."""

    categories: Mapping[str, CategoryRule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", MappingProxyType(dict(self.categories)))

    __hash__ = None  # type: ignore[assignment]

    def get(self, name: str) -> CategoryRule | None:
        return self.categories.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.categories

    def to_dict(self) -> dict[str, Any]:
        return {
            name: {
                "label": rule.label,
                "kinds": sorted(rule.kinds) if rule.kinds is not None else None,
                "max_total": str(rule.max_total) if rule.max_total is not None else None,
            }
            for name, rule in sorted(self.categories.items())
        }


def policy_from_settings(settings: Mapping[str, Any], prefix: str = PREFIX) -> CategoryPolicy:
    """Parse every ``rules.category.<name>.<attribute>`` key of ``settings``.

    Other keys are ignored. Raises :class:`PolicyError` for an unknown
    attribute, a bad category name, an unknown kind, an empty kinds list or an
    amount that is not a non-negative decimal with at most two places.
    """
    raw: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        if not isinstance(key, str) or not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        name, dot, attribute = rest.rpartition(".")
        if not dot or not name:
            raise PolicyError(key, f"expected {prefix}<category>.<attribute> with attribute one of "
                                   f"{', '.join(ATTRIBUTES)}")
        if not _NAME.match(name):
            raise PolicyError(key, f"category name {name!r} must be lower-case letters, digits, '_' or '-', "
                                   "starting with a letter")
        if attribute not in ATTRIBUTES:
            raise PolicyError(key, f"unknown attribute {attribute!r}; expected one of {', '.join(ATTRIBUTES)}")
        raw.setdefault(name, {})[attribute] = value
    categories = {}
    for name, attrs in sorted(raw.items()):
        categories[name] = CategoryRule(
            name=name,
            kinds=_kinds(f"{prefix}{name}.kinds", attrs.get("kinds")),
            max_total=_amount(f"{prefix}{name}.max_total", attrs.get("max_total")),
            label=_label(attrs.get("label")),
        )
    return CategoryPolicy(categories)


def _kinds(key: str, value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        items = [v for v in _SPLIT.split(value.strip()) if v]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = [str(v).strip() for v in value if str(v).strip()]
    else:
        raise PolicyError(key, f"expected a list of invoice kinds, got {type(value).__name__}")
    if not items:
        raise PolicyError(key, "is empty; list at least one invoice kind or remove the setting to accept any kind")
    unknown = sorted({k for k in items if k not in KINDS})
    if unknown:
        raise PolicyError(key, f"unknown invoice kind(s) {', '.join(unknown)}; known kinds: {' '.join(KINDS)}")
    return frozenset(items)


def _amount(key: str, value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (float, bool)):
        raise PolicyError(key, "give the amount as a string or Decimal such as '5000.00', never a float")
    text = str(value).strip().replace(",", "").replace("，", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise PolicyError(key, f"{value!r} is not an amount; write it like 5000.00") from None
    if not amount.is_finite() or amount < 0:
        raise PolicyError(key, f"{value!r} must be a non-negative amount such as 5000.00")
    if amount != amount.quantize(Decimal("0.01")):
        raise PolicyError(key, f"{value!r} has more than two decimal places")
    return amount.quantize(Decimal("0.01"))


def _label(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
