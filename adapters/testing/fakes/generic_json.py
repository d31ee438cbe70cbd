"""A fake of the generic JSON accounting API (the protocol is documented in
adapters/generic_json/adapter.py)."""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from webob import Request, Response

from invoice_archive_adapters.testing.fakes.base import FakeApp, StoredEntry, StoredVoucher

MESSAGES = {
    "period_closed": "会计期间 {year}年{period}期 已结账，不能新增凭证",
    "empty": "凭证没有分录",
    "account": "第{no}行分录的科目 {code} 不存在或已禁用",
    "one_side": "第{no}行分录借方和贷方必须且只能填写一方",
    "unbalanced": "借贷不平衡：借方 {debit}，贷方 {credit}",
}
AMOUNT_RE = re.compile(r"^-?\d{1,16}(\.\d{1,2})?$")


def voucher_json(v: StoredVoucher) -> dict[str, Any]:
    return {
        "id": str(v.id), "number": v.number, "word": v.word, "book": v.book, "external_ref": v.external_ref,
        "fiscal_year": v.fiscal_year, "period": v.period, "date": v.date.isoformat(), "status": v.status,
        "preparer": v.preparer, "reviewer": v.reviewer, "poster": v.poster,
        "attachment_count": v.attachment_count,
        "reversal_of": str(v.reversal_of) if v.reversal_of else None,
        "updated_at": v.modified.isoformat().replace("+00:00", "Z"),
        "entries": [{"summary": e.summary, "account_code": e.account_code, "account_name": e.account_name,
                     "debit": str(e.debit), "credit": str(e.credit), "auxiliary": e.auxiliary}
                    for e in v.entries],
    }


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GenericJsonFake(FakeApp):
    system = "generic_json"

    def __init__(self, *, token: str = "test-token", **kw: Any) -> None:
        super().__init__(**kw)
        self.token = token
        self.idempotency: dict[str, int] = {}

    # -- WSGI --------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        self.log_request(environ, idempotency_key=request.headers.get("Idempotency-Key"))
        try:
            response = self._dispatch(request, environ)
        except _Refusal as refusal:
            response = _json({"error": {"code": refusal.code, "message": refusal.message}}, refusal.status)
        return response(environ, start_response)

    def _dispatch(self, request: Request, environ: dict[str, Any]) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}" or self.script.auth_broken:
            self.auth_failures += 1
            raise _Refusal(401, "auth_failed", "访问令牌无效或已过期")
        path, method = request.path_info.rstrip("/"), request.method
        if path == "/vouchers" and method == "POST":
            return self._create(request, environ)
        if path == "/vouchers/validate" and method == "POST":
            body = self._body(request)
            self._parse_and_validate(body)
            return _json({"ok": True, "messages": []})
        if path == "/vouchers" and method == "GET":
            ref = request.GET.get("external_ref")
            found = self.ledger.by_external_ref(ref) if ref else self.vouchers
            return _json({"vouchers": [voucher_json(v) for v in found]})
        match = re.fullmatch(r"/vouchers/(\d+)", path)
        if match and method == "GET":
            return _json({"voucher": voucher_json(self._get(match.group(1)))})
        match = re.fullmatch(r"/vouchers/(\d+)/reverse", path)
        if match and method == "POST":
            return self._reverse(match.group(1), request, environ)
        if path == "/changes" and method == "GET":
            return self._changes(request)
        if path in ("/ledgers", "/reports") and method == "GET":
            return self._books(path[1:], request)
        raise _Refusal(404, "not_found", f"没有这个接口：{method} {path}")

    # -- operations ------------------------------------------------------------
    def _get(self, voucher_id: str) -> StoredVoucher:
        voucher = self.ledger.vouchers.get(int(voucher_id))
        if voucher is None:
            raise _Refusal(404, "not_found", f"凭证 {voucher_id} 不存在")
        return voucher

    def _replay(self, request: Request) -> Response | None:
        key = request.headers.get("Idempotency-Key")
        if not key:
            raise _Refusal(400, "validation_failed", "缺少 Idempotency-Key 请求头")
        if key in self.idempotency:
            response = _json({"voucher": voucher_json(self.ledger.vouchers[self.idempotency[key]])}, 200)
            response.headers["Idempotent-Replayed"] = "true"
            return response
        return None

    def _scripted_refusal(self) -> None:
        failure = self.script.take({"unavailable", "validation", "period_closed"})
        if not failure:
            return
        if failure["kind"] == "unavailable":
            raise _Refusal(503, "unavailable", "服务繁忙，请稍后重试")
        if failure["kind"] == "period_closed":
            raise _Refusal(422, "period_closed", failure.get("message", "会计期间已结账"))
        raise _Refusal(422, "validation_failed", failure.get("message", "凭证校验失败"))

    def _create(self, request: Request, environ: dict[str, Any]) -> Response:
        with self.ledger.lock:
            replay = self._replay(request)
            if replay is not None:
                return replay
            self._scripted_refusal()
            body = self._body(request)
            fields = self._parse_and_validate(body)
            voucher = self.ledger.add(**fields)
            self.idempotency[request.headers["Idempotency-Key"]] = voucher.id
        self.after_commit(self.script.take({"timeout_after_commit", "drop_after_commit"}), environ)
        return _json({"voucher": voucher_json(voucher)}, 201)

    def _reverse(self, voucher_id: str, request: Request, environ: dict[str, Any]) -> Response:
        with self.ledger.lock:
            replay = self._replay(request)
            if replay is not None:
                return replay
            original = self._get(voucher_id)
            self._scripted_refusal()
            body = self._body(request)
            try:
                date = dt.date.fromisoformat(body["date"])
                reason = str(body.get("reason") or "")
                ref = body.get("external_ref") or request.headers["Idempotency-Key"]
            except (KeyError, ValueError, TypeError):
                raise _Refusal(422, "validation_failed", "冲销请求需要 date（YYYY-MM-DD）和 external_ref")
            if original.status == "void":
                raise _Refusal(422, "validation_failed", f"凭证 {original.number} 已作废，不能冲销")
            if any(v.reversal_of == original.id for v in self.vouchers):
                raise _Refusal(409, "already_reversed", f"凭证 {original.number} 已被冲销")
            if (date.year, date.month) in self.ledger.closed_periods:
                raise _Refusal(422, "period_closed", MESSAGES["period_closed"].format(year=date.year,
                                                                                        period=date.month))
            entries = [StoredEntry(f"冲销{original.word}-{original.number}号凭证 {reason}".strip(),
                                   e.account_code, -e.debit, -e.credit, dict(e.auxiliary))
                       for e in original.entries]
            voucher = self.ledger.add(book=original.book, word=original.word, fiscal_year=date.year,
                                      period=date.month, date=date, preparer=original.preparer,
                                      entries=entries, external_ref=ref, reversal_of=original.id)
            self.idempotency[request.headers["Idempotency-Key"]] = voucher.id
        self.after_commit(self.script.take({"timeout_after_commit", "drop_after_commit"}), environ)
        return _json({"voucher": voucher_json(voucher)}, 201)

    def _changes(self, request: Request) -> Response:
        since = request.GET.get("since") or "0"
        if not since.isdigit():
            raise _Refusal(400, "validation_failed", f"since 游标 {since!r} 无效")
        limit = int(request.GET.get("limit") or 100)
        changed = self.ledger.changed_since(int(since))
        page = changed[:limit]
        cursor = str(page[-1].change_seq) if page else since
        return _json({"changes": [voucher_json(v) for v in page], "next": cursor,
                      "has_more": len(changed) > limit})

    def _books(self, what: str, request: Request) -> Response:
        from invoice_archive_adapters.books import ledger_json, report_json

        try:
            year, period = int(request.GET["fiscal_year"]), int(request.GET["period"])
        except (KeyError, ValueError):
            raise _Refusal(400, "validation_failed", "需要 fiscal_year 和 period（1-12）")
        if not 1 <= period <= 12:
            raise _Refusal(400, "validation_failed", f"会计期间 {period} 不在 1-12 之间")
        if self.script.take({"unavailable"}):
            raise _Refusal(503, "unavailable", "服务繁忙，请稍后重试")
        if what == "ledgers":
            return _json({"ledgers": [ledger_json(b) for b in self.ledgers(year, period)]})
        return _json({"reports": [report_json(r) for r in self.reports(year, period)]})

    # -- parsing ---------------------------------------------------------------------
    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise _Refusal(400, "validation_failed", "请求体不是合法的 JSON")
        if not isinstance(body, dict):
            raise _Refusal(400, "validation_failed", "请求体必须是 JSON 对象")
        return body

    def _parse_and_validate(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            entries = []
            for raw in body["entries"]:
                for side in ("debit", "credit"):
                    if not isinstance(raw[side], str) or not AMOUNT_RE.match(raw[side]):
                        raise _Refusal(422, "validation_failed", f"金额 {raw[side]!r} 格式错误")
                entries.append(StoredEntry(str(raw["summary"]), str(raw["account_code"]),
                                           Decimal(raw["debit"]), Decimal(raw["credit"]),
                                           dict(raw.get("auxiliary") or {})))
            fields = dict(book=str(body["book"]), word=str(body.get("voucher_word") or "记"),
                          fiscal_year=int(body["fiscal_year"]), period=int(body["period"]),
                          date=dt.date.fromisoformat(body["date"]), preparer=str(body["preparer"]),
                          entries=entries, external_ref=body.get("external_ref"),
                          attachment_count=int(body.get("attachment_count") or 0))
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise _Refusal(422, "validation_failed", f"凭证字段缺失或格式错误：{exc}")
        problem = self.ledger.problems(fiscal_year=fields["fiscal_year"], period=fields["period"],
                                       entries=entries, messages=MESSAGES)
        if problem:
            raise _Refusal(422, *problem)
        return fields


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status,
                    content_type="application/json", charset="utf-8")
