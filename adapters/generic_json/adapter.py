"""Outbound adapter for a generic JSON accounting API.

The protocol (what a system must offer to be driven by this adapter; the fake
in adapters/testing/fakes/generic_json.py implements it):

Every request carries ``Authorization: Bearer <token>``; a 401/403 is a
permanent authentication failure. Amounts are strings with two decimals.

``POST /vouchers`` with ``Idempotency-Key: <external_ref>`` and body::

    {"external_ref", "book", "voucher_word", "fiscal_year", "period", "date": "YYYY-MM-DD",
     "preparer", "attachment_count",
     "entries": [{"summary", "account_code", "debit": "526.00", "credit": "0.00", "auxiliary": {}}]}

  ``201 {"voucher": V}`` created; ``200 {"voucher": V}`` with
  ``Idempotent-Replayed: true`` when the key was seen before (nothing new is
  created); ``422 {"error": {"code": "validation_failed"|"period_closed", "message"}}``
  refused; ``429``/``503`` busy, nothing written.
``POST /vouchers/validate`` same body: ``200 {"ok": true}`` or the 422 above; writes nothing.
``GET /vouchers?external_ref=R``: ``200 {"vouchers": [V, ...]}``.
``GET /changes?since=<cursor>&limit=N``: ``200 {"changes": [V, ...], "next": "<cursor>",
  "has_more": bool}``, oldest change first; the cursor is opaque.
``POST /vouchers/{id}/reverse`` with ``Idempotency-Key`` and
  ``{"date", "reason", "external_ref"}``: ``201 {"voucher": V}`` (the reversal,
  red-letter amounts), ``409 already_reversed``, or the 422 above.

``GET /ledgers?fiscal_year=Y&period=P``: ``200 {"ledgers": [L, ...]}``, the period's books
  (general ledger, subsidiary ledger, cash and bank journals; docs/records.md);
``GET /reports?fiscal_year=Y&period=P``: ``200 {"reports": [R, ...]}``, the reports whose span
  ends with the period (the month's; the quarter's, half-year's and year's where they end there).
  L and R are adapters/books.py's ``ledger_json`` and ``report_json``.

V (a voucher) is ``{"id", "number", "word", "book", "external_ref", "fiscal_year",
"period", "date", "status": "saved"|"audited"|"posted"|"void", "preparer",
"reviewer", "poster", "attachment_count", "reversal_of", "updated_at": ISO 8601,
"entries": [{"summary", "account_code", "account_name", "debit", "credit", "auxiliary"}]}``.

The external reference is sent both as the idempotency key and in the body
(``external_ref``), where the system stores it on the voucher.

Settings (``accounting.`` prefix optional): ``url`` (required), ``token``
(required), ``connect_timeout`` (3 s), ``read_timeout`` (30 s), ``verify_tls``,
``ca_bundle``, ``page_size`` (100).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from zope.interface import implementer

from invoice_archive_adapters._http import HttpTransport, Settings
from invoice_archive_adapters.books import ledger_from_json, report_from_json
from invoice_archive.ports.accounting import (
    AccountingError,
    CheckResult,
    DraftEntry,
    DraftVoucher,
    FinancialReport,
    IAccountingRecords,
    IAccountingSystem,
    LedgerBook,
    Outcome,
    PostResult,
    RemoteVoucher,
)

log = logging.getLogger(__name__)
LABEL = "记账系统（JSON 接口）"


def draft_json(draft: DraftVoucher) -> dict[str, Any]:
    return {
        "external_ref": draft.external_ref, "book": draft.book, "voucher_word": draft.voucher_word,
        "fiscal_year": draft.fiscal_year, "period": draft.period, "date": draft.date.isoformat(),
        "preparer": draft.preparer, "attachment_count": draft.attachment_count,
        "entries": [{"summary": e.summary, "account_code": e.account_code, "debit": f"{e.debit:.2f}",
                     "credit": f"{e.credit:.2f}", "auxiliary": dict(e.auxiliary)} for e in draft.entries],
    }


def remote_voucher(v: Mapping[str, Any]) -> RemoteVoucher:
    try:
        updated = v.get("updated_at")
        return RemoteVoucher(
            system_id=str(v["id"]), voucher_number=str(v["number"]), external_ref=v.get("external_ref"),
            fiscal_year=int(v["fiscal_year"]), period=int(v["period"]), date=dt.date.fromisoformat(v["date"]),
            status=v["status"], voucher_word=v.get("word") or "记", book=v.get("book"),
            preparer=v.get("preparer"), reviewer=v.get("reviewer"), poster=v.get("poster"),
            attachment_count=v.get("attachment_count"),
            updated_at=dt.datetime.fromisoformat(updated.replace("Z", "+00:00")) if updated else None,
            entries=tuple(DraftEntry(e["summary"], e["account_code"], Decimal(e["debit"]), Decimal(e["credit"]),
                                     e.get("auxiliary") or {}, e.get("account_name"))
                          for e in v["entries"]),
            raw=dict(v),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise AccountingError("protocol_error", f"{LABEL}返回的凭证格式无法识别：{exc!r}", raw=dict(v)) from exc


@implementer(IAccountingSystem, IAccountingRecords)
class GenericJsonAdapter:
    name = "generic_json"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        s = Settings(settings)
        self.page_size = s.int("page_size", 100)
        self.http = HttpTransport.from_settings(
            s, system_label=LABEL,
            headers={"Authorization": f"Bearer {s.require('token')}", "Accept": "application/json"})

    def close(self) -> None:
        self.http.close()

    # -- helpers --------------------------------------------------------------------
    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise AccountingError("protocol_error",
                                  f"{LABEL}返回了非 JSON 内容（HTTP {response.status_code}）",
                                  retryable=response.status_code >= 500) from exc
        if not isinstance(body, dict):
            raise AccountingError("protocol_error", f"{LABEL}返回的 JSON 不是对象")
        return body

    @staticmethod
    def _error(body: Mapping[str, Any]) -> tuple[str | None, str]:
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        return error.get("code"), str(error.get("message") or body)

    def _raise_for_auth(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            try:
                _, message = self._error(response.json())
            except ValueError:
                message = response.text[:200]
            raise AccountingError("auth_failed", f"{LABEL}拒绝了认证（HTTP {response.status_code}：{message}）。"
                                                 f"请检查 accounting.token 是否正确、是否过期；此错误不会自动重试",
                                  retryable=False, system_message=message)

    def _read(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.http.send("GET", path, params=params)
        self._raise_for_auth(response)
        if response.status_code == 404:
            raise AccountingError("configuration_error", f"{LABEL}没有接口 {path}（HTTP 404），请检查 accounting.url")
        if response.status_code >= 400:
            _, message = self._error(self._json(response)) if response.content else (None, response.reason_phrase)
            raise AccountingError("unreachable" if response.status_code >= 500 else "protocol_error",
                                  f"{LABEL}查询失败（HTTP {response.status_code}）：{message}",
                                  retryable=response.status_code >= 500 or response.status_code == 429,
                                  system_message=message)
        return self._json(response)

    def _write(self, path: str, body: dict[str, Any], key: str) -> PostResult:
        try:
            response = self.http.send("POST", path, content=json.dumps(body, ensure_ascii=False).encode(),
                                      headers={"Idempotency-Key": key, "Content-Type": "application/json"})
        except AccountingError as exc:
            status = Outcome.UNKNOWN if exc.code == "timeout_outcome_unknown" else Outcome.RETRYABLE
            return PostResult(status, message=exc.message, code=exc.code)
        self._raise_for_auth(response)
        code = response.status_code
        if code in (429, 503):
            return PostResult.retryable(f"{LABEL}繁忙（HTTP {code}），凭证未写入，稍后重试", code="busy")
        if code >= 500:
            return PostResult.unknown(f"{LABEL}处理出错（HTTP {code}），凭证可能已写入：请先按外部参考号 {key} 查询")
        try:
            payload = self._json(response)
        except AccountingError:
            if 200 <= code < 300:
                return PostResult.unknown(f"{LABEL}已答复成功但内容无法解析，请按外部参考号 {key} 查询")
            raise
        if 200 <= code < 300:
            voucher = remote_voucher(payload["voucher"])
            replayed = code == 200 or response.headers.get("Idempotent-Replayed") == "true"
            return PostResult(Outcome.POSTED, voucher.voucher_number, voucher.system_id,
                              message="凭证已存在（同一外部参考号）" if replayed else None,
                              already_existed=replayed, raw=payload)
        error_code, message = self._error(payload)
        if code == 404:
            raise AccountingError("configuration_error", f"{LABEL}没有接口 {path}（HTTP 404）：{message}")
        return PostResult(Outcome.REJECTED, message=message, code=error_code or "validation_failed", raw=payload)

    # -- the port ------------------------------------------------------------------------
    def check(self, draft: DraftVoucher) -> CheckResult:
        response = self.http.send("POST", "/vouchers/validate", json=draft_json(draft))
        self._raise_for_auth(response)
        payload = self._json(response)
        if response.status_code == 200 and payload.get("ok"):
            return CheckResult(True, tuple(payload.get("messages") or ()), raw=payload)
        if response.status_code in (400, 409, 422):
            code, message = self._error(payload)
            return CheckResult(False, (message,), code=code or "validation_failed", raw=payload)
        raise AccountingError("unreachable", f"{LABEL}校验接口出错（HTTP {response.status_code}）", retryable=True)

    def post(self, draft: DraftVoucher) -> PostResult:
        return self._write("/vouchers", draft_json(draft), draft.external_ref)

    def find_by_external_ref(self, ref: str) -> RemoteVoucher | None:
        found = [remote_voucher(v) for v in self._read("/vouchers", external_ref=ref).get("vouchers") or []]
        found = [v for v in found if v.external_ref == ref]
        if len(found) > 1:
            log.error("%d vouchers carry external_ref %s", len(found), ref)
        return found[0] if found else None

    def pull_changes(self, since: str | None) -> tuple[list[RemoteVoucher], str]:
        changes: list[RemoteVoucher] = []
        cursor = since or ""
        while True:
            page = self._read("/changes", since=cursor, limit=self.page_size)
            changes.extend(remote_voucher(v) for v in page.get("changes") or [])
            cursor = str(page.get("next") or cursor)
            if not page.get("has_more"):
                return changes, cursor

    def reverse(self, system_id: str, *, date: dt.date, reason: str, external_ref: str) -> PostResult:
        body = {"date": date.isoformat(), "reason": reason, "external_ref": external_ref}
        return self._write(f"/vouchers/{quote(str(system_id), safe='')}/reverse", body, external_ref)

    # -- IAccountingRecords: the books and reports (docs/records.md) ----------------------------
    def _documents(self, path: str, key: str, parse: Any, fiscal_year: int, period: int) -> list[Any]:
        body = self._read(path, fiscal_year=fiscal_year, period=period)
        try:
            return [parse(obj) for obj in body.get(key) or []]
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise AccountingError("protocol_error", f"{LABEL}返回的{path[1:]}格式无法识别：{exc!r}",
                                  raw=body) from exc

    def export_ledgers(self, fiscal_year: int, period: int) -> list[LedgerBook]:
        return self._documents("/ledgers", "ledgers", ledger_from_json, fiscal_year, period)

    def export_reports(self, fiscal_year: int, period: int) -> list[FinancialReport]:
        return self._documents("/reports", "reports", report_from_json, fiscal_year, period)
