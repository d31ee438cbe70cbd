"""When an invoice may be checked (查验) online: compliance policy, not the port.

The tax platform checks invoices issued within its window only (a year by
default, configurable: ``taxplatform.max_age_days``), and a given invoice at
most about five times a day. Both are decided here, locally and before any
call, so that every platform adapter and the service apply the same rule; see
``docs/tax-platform.md``. Pure: plain data in, plain data out.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from invoice_archive.ports.taxplatform import CST, CheckQuery, CheckResult, CheckStatus, _aware, _json

DEFAULT_MAX_AGE_DAYS = 365   # the platform's usual window ("none for invoices older than a year")


def online_check_cutoff(today: dt.date, max_age_days: int = DEFAULT_MAX_AGE_DAYS) -> dt.date:
    """The oldest issue date the platform still checks online on ``today``."""
    return today - dt.timedelta(days=max_age_days)


def not_checkable_online(query: CheckQuery, now: dt.datetime, *, max_age_days: int = DEFAULT_MAX_AGE_DAYS,
                         source: str = "local") -> CheckResult | None:
    """The local verdict for an invoice older than the platform's window, else None.

    Decided before any call; the result is ``not_checkable_online``, never a
    failure: the invoice's authenticity then rests on its signature and the file.
    """
    today = _aware(now, "now").astimezone(CST).date()
    cutoff = online_check_cutoff(today, max_age_days)
    if query.issue_date >= cutoff:
        return None
    return CheckResult(
        status=CheckStatus.NOT_CHECKABLE_ONLINE,
        business_key=query.business_key,
        checked_at=now,
        source=source,
        message=(f"发票开具于 {query.issue_date.isoformat()}，已超过在线查验期限（{max_age_days} 天，"
                 f"{cutoff.isoformat()} 之前开具的发票平台不再受理），未在线查验。"
                 "此非查验失败：请以发票电子签名和原件为准。"),
        issue_date=query.issue_date,
        raw={"max_age_days": max_age_days, "cutoff": cutoff.isoformat()},
    )


# -- how often (5 checks per invoice per day) ----------------------------------------------------


@dataclass(frozen=True)
class BudgetDecision:
    allowed: bool
    remaining: int
    next_allowed_at: dt.datetime | None  # None when allowed now
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "remaining": self.remaining,
                "next_allowed_at": _json(self.next_allowed_at), "message": self.message}


@dataclass(frozen=True)
class CheckBudget:
    """At most ``limit`` checks of one invoice per day (the platform's rule, ~5).

    Pure: the caller passes the timestamps of the earlier checks of *this*
    invoice (aware datetimes). ``window`` is ``"calendar_day"`` (the count
    resets at midnight China time, as the platform does) or ``"rolling"``
    (any ``period`` long span, default 24 h).
    """

    limit: int = 5
    window: str = "calendar_day"
    period: dt.timedelta = dt.timedelta(days=1)
    tz: dt.tzinfo = CST

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("CheckBudget.limit must be at least 1")
        if self.window not in ("calendar_day", "rolling"):
            raise ValueError("CheckBudget.window must be 'calendar_day' or 'rolling'")

    def _counted(self, earlier: Iterable[dt.datetime], now: dt.datetime) -> list[dt.datetime]:
        now = _aware(now, "now")
        stamps = sorted(_aware(t, "earlier check time") for t in earlier)
        if self.window == "calendar_day":
            start = dt.datetime.combine(now.astimezone(self.tz).date(), dt.time(0), self.tz)
        else:
            start = now - self.period
        return [t for t in stamps if start <= t <= now] if self.window == "calendar_day" else \
            [t for t in stamps if start < t <= now]

    def decide(self, earlier: Iterable[dt.datetime], now: dt.datetime) -> BudgetDecision:
        counted = self._counted(earlier, now)
        remaining = max(self.limit - len(counted), 0)
        if remaining:
            return BudgetDecision(True, remaining, None, f"今日还可查验 {remaining} 次。")
        if self.window == "calendar_day":
            local = now.astimezone(self.tz)
            next_at = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), self.tz)
        else:
            # the oldest check that keeps the count at the limit must leave the window
            next_at = counted[len(counted) - self.limit] + self.period
        return BudgetDecision(
            False, 0, next_at,
            f"该发票今日已查验 {len(counted)} 次，达到平台上限 {self.limit} 次；"
            f"请于 {next_at.astimezone(self.tz).strftime('%Y-%m-%d %H:%M')}（北京时间）之后再查验。",
        )

    def allowed(self, earlier: Iterable[dt.datetime], now: dt.datetime) -> bool:
        return self.decide(earlier, now).allowed

    def next_allowed(self, earlier: Iterable[dt.datetime], now: dt.datetime) -> dt.datetime:
        """When a check may be made: ``now`` if allowed now."""
        decision = self.decide(earlier, now)
        return now if decision.allowed else decision.next_allowed_at  # type: ignore[return-value]

    def remaining(self, earlier: Iterable[dt.datetime], now: dt.datetime) -> int:
        return self.decide(earlier, now).remaining


__all__ = ["BudgetDecision", "CheckBudget", "DEFAULT_MAX_AGE_DAYS", "not_checkable_online", "online_check_cutoff"]
