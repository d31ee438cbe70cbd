"""The check items, one function each, registered under their DA/T 70 code.

DA/T 70-2018 numbers each item of the archiving-stage check (归档环节检测)
``GD-<property>-<item>``: 1 真实性, 2 完整性, 3 可用性, 4 安全性. A check is
declared once, where it is implemented::

    @check("GD-1-8", AUTHENTICITY, "档号与文号重复性")
    def gd_1_8_duplicates(pkg: Package) -> tuple[str, str]:
        ...
        return PASS, "档号 … 未重复"

The function returns ``(result, detail)``; the decorator wraps it into a
:class:`Check` that yields a :class:`CheckResult` carrying the item's code,
property and name, and records it in :data:`CHECKS` in declaration order.
A check that reads the package's members is ``not_performed`` when the package
cannot be opened at all (``needs_zip=False`` for the few that judge that case
themselves or do not read the zip).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from .context import Package

PASS, FAIL, NOT_PERFORMED = "pass", "fail", "not_performed"
AUTHENTICITY, INTEGRITY, USABILITY, SECURITY = "真实性", "完整性", "可用性", "安全性"
PROPERTIES = (AUTHENTICITY, INTEGRITY, USABILITY, SECURITY)   # report order, as DA/T 70 lists them

_MAX_LISTED = 5


# -- results -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Waiver:
    """An archivist's recorded decision to register an item although check ``code``
    could not be performed (docs/archive-waivers.md): who, when and why. A waiver
    excuses a ``not_performed`` result only, never a failure."""

    code: str          # "GD-4-1"
    reason: str
    waived_by: str
    waived_at: str     # ISO 8601

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason, "waived_by": self.waived_by, "waived_at": self.waived_at}


@dataclass(frozen=True)
class CheckResult:
    code: str          # "GD-1-1"
    property: str      # 真实性 / 完整性 / 可用性 / 安全性
    name: str          # the item's name in DA/T 70
    result: str        # pass / fail / not_performed
    detail: str        # Chinese, for the archivist
    waiver: Waiver | None = None   # only on a not_performed result

    @property
    def passed(self) -> bool:
        return self.result == PASS

    @property
    def blocking(self) -> bool:
        """Not performed, and no archivist waived it: the item may not be registered."""
        return self.result == NOT_PERFORMED and self.waiver is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "property": self.property, "name": self.name,
                               "result": self.result, "detail": self.detail}
        if self.waiver is not None:
            out["waiver"] = self.waiver.to_dict()
        return out


@dataclass(frozen=True)
class FourPropertyReport:
    archival_code: str | None
    package_sha256: str
    checks: tuple[CheckResult, ...]

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.result == FAIL)

    @property
    def not_performed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.result == NOT_PERFORMED)

    @property
    def waived(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.result == NOT_PERFORMED and c.waiver is not None)

    @property
    def blocking(self) -> tuple[CheckResult, ...]:
        """Checks not performed and not waived: each one blocks registration."""
        return tuple(c for c in self.checks if c.blocking)

    @property
    def passed(self) -> bool:
        """No check failed (some may not have been performed: see :attr:`registrable`
        and :attr:`complete`)."""
        return not self.failures

    @property
    def registrable(self) -> bool:
        """May be registered (DA/T 94 7.5): no check failed, and every check that could
        not be performed was waived by an archivist."""
        return not self.failures and not self.blocking

    @property
    def complete(self) -> bool:
        """Every check was performed and passed (GB/T 18894: 100% pass rate)."""
        return all(c.result == PASS for c in self.checks)

    def result(self, code: str) -> CheckResult:
        for c in self.checks:
            if c.code == code:
                return c
        raise KeyError(code)

    def with_waivers(self, waivers: Iterable[Waiver]) -> FourPropertyReport:
        """The report with each waiver attached to its check, where that check was not
        performed (a waiver for a check that ran, passed or failed, changes nothing)."""
        by_code = {w.code: w for w in waivers}
        checks = tuple(replace(c, waiver=by_code[c.code]) if c.result == NOT_PERFORMED and c.code in by_code
                       else c for c in self.checks)
        return replace(self, checks=checks)

    def to_dict(self) -> dict[str, Any]:
        by_property: dict[str, dict[str, int]] = {}
        for c in self.checks:
            counts = by_property.setdefault(c.property, {PASS: 0, FAIL: 0, NOT_PERFORMED: 0})
            counts[c.result] += 1
        return {
            "archival_code": self.archival_code, "package_sha256": self.package_sha256,
            "passed": self.passed, "registrable": self.registrable, "complete": self.complete,
            "summary": by_property,
            "failures": [c.code for c in self.failures],
            "not_performed": [c.code for c in self.not_performed],
            "blocking": [c.code for c in self.blocking],
            "waivers": [c.waiver.to_dict() for c in self.waived if c.waiver is not None],
            "checks": [c.to_dict() for c in self.checks],
        }


# -- the registry --------------------------------------------------------------------------
Outcome = tuple[str, str]   # (pass / fail / not_performed, detail)


@dataclass(frozen=True)
class Check:
    """One DA/T 70 check item: its code, property, name and implementation."""

    code: str
    property: str
    name: str
    run: Callable[[Package], CheckResult]

    def __call__(self, pkg: Package) -> CheckResult:
        return self.run(pkg)


CHECKS: dict[str, Check] = {}


def check(code: str, prop: str, name: str, *, needs_zip: bool = True) -> Callable[[Callable[[Package], Outcome]], Check]:
    """Register ``func(pkg) -> (result, detail)`` as check item ``code`` of property ``prop``."""

    def decorate(func: Callable[[Package], Outcome]) -> Check:
        def run(pkg: Package) -> CheckResult:
            if needs_zip and pkg.error:
                return CheckResult(code, prop, name, NOT_PERFORMED, f"{pkg.error}，无法检测")
            result, detail = func(pkg)
            return CheckResult(code, prop, name, result, detail)

        run.__name__ = func.__name__
        run.__qualname__ = func.__qualname__
        run.__module__ = func.__module__
        run.__doc__ = func.__doc__
        if prop not in PROPERTIES:  # pragma: no cover - programming error
            raise ValueError(f"unknown property {prop!r} for check {code!r}")
        if code in CHECKS:  # pragma: no cover - programming error
            raise ValueError(f"duplicate check code {code!r}")
        registered = Check(code, prop, name, run)
        CHECKS[code] = registered
        return registered

    return decorate


def _order(r: CheckResult) -> tuple[int, tuple[int, ...]]:
    return PROPERTIES.index(r.property), tuple(int(x) for x in r.code.split("-")[1:])


def run_checks(pkg: Package) -> tuple[CheckResult, ...]:
    """Every registered check on ``pkg``, in report order (property, then item number)."""
    return tuple(sorted((c(pkg) for c in CHECKS.values()), key=_order))


# -- helpers for the checks ----------------------------------------------------------------
def listed(items: Iterable[str]) -> str:
    items = list(items)
    head = "；".join(items[:_MAX_LISTED])
    return head + (f" 等 {len(items)} 项" if len(items) > _MAX_LISTED else "")


def outcome(problems: list[str], ok_detail: str) -> Outcome:
    """Failed with the problems listed, or passed with ``ok_detail``."""
    if problems:
        return FAIL, listed(problems)
    return PASS, ok_detail
