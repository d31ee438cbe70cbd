"""A fake Yonyou BIP / YonSuite open platform (用友开放平台) for general-ledger vouchers.

Serves, on one loopback server standing for the data centre, the token service and the
tenant's gateway:

* ``GET /open-auth/dataCenter/getGatewayAddress?tenantId=..`` -> ``{"code": "00000",
  "data": {"gatewayUrl", "tokenUrl"}}`` (both this server);
* ``GET /open-auth/selfAppAuth/getAccessToken?appKey&timestamp&signature`` (the
  signature checked as adapters/yonsuite/auth.py computes it, the millisecond timestamp
  within ``signature_window`` seconds) -> ``{"code": "00000", "data": {"access_token",
  "expire"}}``; refused: ``{"code": "310046", "message": ..}``;
* ``POST /yonbip/fi/ficloud/openapi/voucher/addVoucher?access_token=..`` and
  ``.../queryVouchers`` (see adapters/yonsuite/adapter.py for the bodies).

The rules it relies on (docs/accounting-systems.md, "Yonyou BIP: what the fake relies on"):
a token the gateway does not know (or that has expired, ``expire`` seconds) is
``{"code": "310036"}`` over HTTP 200; business replies carry ``code`` ``"200"`` or the
system's own ``message`` with another code (``999``); vouchers are saved with
``voucherstatus`` ``01`` and move to ``03`` (审核) and ``04`` (记账) as the accountants
work (``ledger.set_status``); amounts in queries are JSON numbers; ``queryVouchers``
filters on ``accbookCode``, ``periodStart``/``periodEnd`` (``YYYY-MM``) and on the
reference field when it is given, and pages with ``pager``.
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
import re
import secrets
import time
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from webob import Request, Response

from invoice_archive_adapters.testing.fakes.base import FakeApp, StoredEntry, StoredVoucher
from invoice_archive_adapters.yonsuite import auth

API = "/yonbip/fi/ficloud/openapi/voucher/"
TYPES = {"1": "记", "2": "收", "3": "付", "4": "转"}
STATUS_CODES = {"saved": "01", "audited": "03", "posted": "04", "void": "05"}
TOKEN_REFUSED, SIGNATURE_REFUSED, FAILED = "310036", "310046", "999"
MESSAGES = {
    "period_closed": "会计期间 {year}-{period:02d} 已结账，不能保存凭证",
    "empty": "凭证分录不能为空",
    "account": "第{no}行分录：科目编码 {code} 不存在或不是末级科目",
    "one_side": "第{no}行分录：借方、贷方金额只能填写一个",
    "unbalanced": "凭证借贷不平衡：借方合计 {debit}，贷方合计 {credit}",
}
_DEC = "\x00DEC:"


class _Fail(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class YonSuiteFake(FakeApp):
    system = "yonsuite"

    def __init__(self, *, app_key: str = "fake41832a3d2df94989b500da6a22268747",
                 app_secret: str = "fake-yonbip-secret-0123456789", tenant_id: str = "fake0tenant",
                 accbook_code: str = "001", external_ref_field: str = "IA_ExtRef", token_seconds: int = 7200,
                 signature_window: int = 300, **kw: Any) -> None:
        super().__init__(**kw)
        self.app_key, self.app_secret, self.tenant_id = app_key, app_secret, tenant_id
        self.accbook_code, self.external_ref_field = accbook_code, external_ref_field
        self.token_seconds, self.signature_window = token_seconds, signature_window
        self.tokens: dict[str, float] = {}        # token -> expiry (time.time())
        self.tokens_issued = 0

    @property
    def credentials(self) -> dict[str, str]:
        return {"app_key": self.app_key, "app_secret": self.app_secret, "accbook_code": self.accbook_code,
                "external_ref_field": self.external_ref_field}

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (as after two hours)."""
        self.tokens.clear()

    # -- WSGI ----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        path = request.path_info
        self.log_request(environ, operation=path.rsplit("/", 1)[-1])
        if request.method == "GET" and path == auth.GATEWAY_PATH:
            if request.GET.get("tenantId") != self.tenant_id:
                return _json({"code": FAILED, "message": f"租户 {request.GET.get('tenantId')} 不存在"})(
                    environ, start_response)
            base = request.host_url
            return _json({"code": auth.OK, "message": "成功！", "data": {"gatewayUrl": base, "tokenUrl": base}})(
                environ, start_response)
        if request.method == "GET" and path == auth.TOKEN_PATH:
            return self._token(request)(environ, start_response)
        if request.method != "POST" or not path.startswith(API):
            return Response("Not Found", status=404)(environ, start_response)
        operation = path[len(API):]
        handler = {"addVoucher": self._add, "queryVouchers": self._query}.get(operation)
        if handler is None:
            return Response("Not Found", status=404)(environ, start_response)
        committed = False
        try:
            token = request.GET.get("access_token", "")
            if self.script.auth_broken or self.tokens.get(token, 0) < time.time():
                self.auth_failures += 1
                raise _Fail(TOKEN_REFUSED, "非法 token 或 token 已过期")
            if operation == "addVoucher" and self.script.take({"unavailable"}):
                return Response("Service Unavailable", status=503)(environ, start_response)
            try:
                body = json.loads(request.body or b"{}", parse_float=Decimal)
            except ValueError:
                raise _Fail(FAILED, "请求内容不是有效的 JSON")
            if not isinstance(body, dict):
                raise _Fail(FAILED, "请求内容必须是 JSON 对象")
            payload, committed = handler(body)
        except _Fail as fail:
            payload = {"code": fail.code, "message": fail.message, "data": None}
        response = _json(payload)
        if committed:
            self.after_commit(self.script.take({"timeout_after_commit", "drop_after_commit"}), environ)
        return response(environ, start_response)

    def _token(self, request: Request) -> Response:
        params = {k: request.GET.get(k, "") for k in ("appKey", "timestamp")}
        given = request.GET.get("signature", "")
        fresh = params["timestamp"].isdigit() and abs(time.time() - int(params["timestamp"]) / 1000) \
            <= self.signature_window
        if (self.script.auth_broken or params["appKey"] != self.app_key or not fresh
                or not hmac.compare_digest(given, auth.signature(params, self.app_secret))):
            self.auth_failures += 1
            return _json({"code": SIGNATURE_REFUSED, "message": "appKey 或签名不正确，或时间戳已失效"})
        token = secrets.token_hex(16)
        self.tokens[token] = time.time() + self.token_seconds
        self.tokens_issued += 1
        return _json({"code": auth.OK, "message": "成功！", "data": {"access_token": token,
                                                                     "expire": self.token_seconds}})

    # -- vouchers --------------------------------------------------------------------------------
    @staticmethod
    def _amount(no: int, value: Any) -> Decimal:
        if value in (None, ""):
            return Decimal("0.00")
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise _Fail(FAILED, f"第{no}行分录：金额 {value!r} 不是数值") from None
        if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
            raise _Fail(FAILED, f"第{no}行分录：金额 {value} 超出精度（2 位小数）")
        return amount.quantize(Decimal("0.01"))

    def _add(self, body: dict[str, Any]) -> tuple[Any, bool]:
        failure = self.script.take({"validation", "period_closed"})
        if failure:
            default = MESSAGES["period_closed"].format(year=0, period=0)
            raise _Fail(FAILED, failure.get("message", default if failure["kind"] == "period_closed" else "凭证校验失败"))
        if body.get("accbookCode") != self.accbook_code:
            raise _Fail(FAILED, f"账簿 {body.get('accbookCode')} 不存在")
        kind = str(body.get("voucherTypeCode") or "")
        if kind not in TYPES:
            raise _Fail(FAILED, f"凭证类型 {kind} 不存在")
        try:
            date = dt.date.fromisoformat(str(body.get("makeTime"))[:10])
        except ValueError:
            raise _Fail(FAILED, f"制单日期 {body.get('makeTime')!r} 格式错误") from None
        rows = body.get("bodies")
        if not isinstance(rows, list):
            raise _Fail(FAILED, "凭证分录（bodies）不能为空")
        entries = []
        for no, row in enumerate(rows, 1):
            debit, credit = self._amount(no, row.get("debitOrg")), self._amount(no, row.get("creditOrg"))
            if (debit, credit) != (self._amount(no, row.get("debitOriginal")), self._amount(no, row.get("creditOriginal"))):
                raise _Fail(FAILED, f"第{no}行分录：原币与本币金额不一致（汇率 1）")
            entries.append(StoredEntry(str(row.get("description") or ""), str(row.get("accsubjectCode") or ""),
                                       debit, credit))
        ref = body.get(self.external_ref_field) or None
        with self.ledger.lock:
            if ref and self.ledger.by_external_ref(ref):
                raise _Fail("310504", f"凭证已存在：{self.external_ref_field} = {ref}")
            problem = self.ledger.problems(fiscal_year=date.year, period=date.month, entries=entries, messages=MESSAGES)
            if problem:
                raise _Fail(FAILED, problem[1])
            voucher = self.ledger.add(book=self.accbook_code, word=TYPES[kind], fiscal_year=date.year,
                                      period=date.month, date=date, number_format="{}",
                                      preparer=body.get("makerMobile") or body.get("makerEmail") or "OpenAPI",
                                      entries=entries, external_ref=ref,
                                      attachment_count=int(body.get("attachedBill") or 0))
        return {"code": "200", "message": "操作成功", "data": {
            "voucherId": str(voucher.id), "billCode": voucher.number,
            "voucherStatus": STATUS_CODES[voucher.status]}}, True

    def _record(self, v: StoredVoucher) -> dict[str, Any]:
        kind = next((code for code, word in TYPES.items() if word == v.word), "1")
        person = (lambda name: {"name": name} if name else None)
        return {"header": {
            "id": str(v.id), "billcode": v.number, "period": f"{v.fiscal_year}-{v.period:02d}",
            "maketime": v.date.isoformat(), "accbook": {"code": v.book}, "vouchertype": {"code": kind, "name": v.word},
            "voucherstatus": STATUS_CODES[v.status], "maker": person(v.preparer), "auditor": person(v.reviewer),
            "tallyman": person(v.poster), "attachedbill": v.attachment_count,
            "pubts": v.modified.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
                      .isoformat(sep=" ", timespec="milliseconds"),
            "totaldebitorg": v.debit_total, "totalcreditorg": v.credit_total,
            self.external_ref_field: v.external_ref},
            "body": [{"recordnumber": n, "description": e.summary,
                      "accsubject": {"code": e.account_code, "name": e.account_name},
                      "debitoriginal": e.debit, "debitorg": e.debit, "creditoriginal": e.credit, "creditorg": e.credit}
                     for n, e in enumerate(v.entries, 1)]}

    def _query(self, body: dict[str, Any]) -> tuple[Any, bool]:
        if not body.get("accbookCode"):
            raise _Fail(FAILED, "账簿编码（accbookCode）不能为空")
        pager = body.get("pager") or {}
        index, size = int(pager.get("pageIndex") or 1), int(pager.get("pageSize") or 20)
        start, end = str(body.get("periodStart") or ""), str(body.get("periodEnd") or "")
        ref = body.get(self.external_ref_field)
        found = [v for v in sorted(self.vouchers, key=lambda v: v.id)
                 if v.book == body["accbookCode"] and (not ref or v.external_ref == ref)
                 and (not start or f"{v.fiscal_year}-{v.period:02d}" >= start)
                 and (not end or f"{v.fiscal_year}-{v.period:02d}" <= end)]
        page = found[(index - 1) * size: index * size]
        return {"code": "200", "message": "OK", "data": {"pageIndex": index, "pageSize": size,
                                                        "recordCount": len(found),
                                                        "recordList": [self._record(v) for v in page]}}, False


def _json(payload: Any) -> Response:
    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{_DEC}{value:.2f}"
        raise TypeError(type(value).__name__)
    text = re.sub(r'"\\u0000DEC:(-?\d+\.\d+)"', r"\1", json.dumps(payload, ensure_ascii=False, default=mark))
    return Response(text, content_type="application/json", charset="utf-8")
