"""The plain data of the business rules: context in, report out."""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .policy import CategoryPolicy

CENT = Decimal("0.01")


class Result(enum.StrEnum):
    """The outcome of one check. Only ``fail`` blocks the money."""

    PASS = "pass"
    FAIL = "fail"
    WARNING = "warning"
    NOT_APPLICABLE = "not_applicable"


RESULT_LABELS = {
    Result.PASS: "通过",
    Result.FAIL: "不通过",
    Result.WARNING: "警告",
    Result.NOT_APPLICABLE: "不适用",
}


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_json(v) for v in items]
    return value


@dataclass(frozen=True)
class Organisation:
    """The paying entity (会计主体) whose 抬头 and 税号 the invoice must carry.

    ``aliases`` are other accepted names (a former name, an English-bracket
    spelling the registry uses): each is compared after the same normalisation.
    """

    name: str
    tax_id: str
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", tuple(self.aliases))


@dataclass(frozen=True)
class RulesContext:
    """What the rules need besides the invoice.

    ``today`` is the local (China) date the claim is checked on; ``category``
    the claim's expense category (a key of ``policy``); tolerances are Decimals.
    Anything left ``None`` makes the rules that need it ``not_applicable``.
    """

    today: dt.date
    organisation: Organisation | None = None
    category: str | None = None
    policy: CategoryPolicy | None = None
    line_tax_tolerance: Decimal = CENT

    def __post_init__(self) -> None:
        if isinstance(self.today, dt.datetime) or not isinstance(self.today, dt.date):
            raise TypeError("RulesContext.today must be a datetime.date (the local date), not a datetime")
        if not isinstance(self.line_tax_tolerance, Decimal) or self.line_tax_tolerance < 0:
            raise ValueError("RulesContext.line_tax_tolerance must be a non-negative Decimal")


@dataclass(frozen=True)
class RuleResult:
    """One check's verdict: a stable ``code``, a Chinese ``title`` and ``message``,
    and ``details`` (the facts compared, JSON-able)."""

    code: str
    title: str
    result: Result
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "result", Result(self.result))
        object.__setattr__(self, "details", _frozen(self.details))

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "result": str(self.result),
            "message": self.message,
            "details": _json(self.details),
        }


@dataclass(frozen=True)
class RulesReport:
    """All checks run on one invoice. ``passed`` is true when no check failed
    (warnings and not_applicable do not block)."""

    checks: tuple[RuleResult, ...]
    business_key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(self.checks))

    @property
    def passed(self) -> bool:
        return not any(c.result is Result.FAIL for c in self.checks)

    @property
    def failures(self) -> tuple[RuleResult, ...]:
        return tuple(c for c in self.checks if c.result is Result.FAIL)

    @property
    def warnings(self) -> tuple[RuleResult, ...]:
        return tuple(c for c in self.checks if c.result is Result.WARNING)

    def get(self, code: str) -> RuleResult:
        for check in self.checks:
            if check.code == code:
                return check
        raise KeyError(code)

    def __getitem__(self, code: str) -> RuleResult:
        return self.get(code)

    def counts(self) -> dict[str, int]:
        out = {str(r): 0 for r in Result}
        for check in self.checks:
            out[str(check.result)] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "business_key": self.business_key,
            "passed": self.passed,
            "counts": self.counts(),
            "checks": [c.to_dict() for c in self.checks],
        }
