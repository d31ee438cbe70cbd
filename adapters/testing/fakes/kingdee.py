"""A fake Kingdee K/3 Cloud WebAPI (general-ledger vouchers only).

Serves ``POST <site>/K3Cloud/Kingdee.BOS.WebApi.ServicesStub.{AuthService.LoginBySign,
DynamicFormService.{Save,View,ExecuteBillQuery,Submit,Audit}}.common.kdsvc`` and
accepts both authentication styles (the ``kdservice-sessionid`` cookie from
LoginBySign, or the SDK's signed headers; see adapters/kingdee/signing.py). A
failed authentication looks like K/3 Cloud's: HTTP 200 with ``MsgCode 1``.

Bodies are accepted in the SDK's shape (``{"formid": .., "data": {..}}``,
``{"data": {..}}`` for queries) and in the older ``{"parameters": [formid, "<json>"]}``.
``FilterString`` understands ``field op 'value'`` with ``= <> > >= < <= like``,
``and``/``or`` and parentheses: enough for what adapters send.
"""
from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import re
import secrets
import time
from decimal import Decimal
from typing import Any, Callable

from webob import Request, Response

from invoice_archive_adapters.testing.fakes.base import FakeApp, StoredEntry, StoredVoucher
from invoice_archive_adapters.kingdee import signing

SERVICE_RE = re.compile(r"^/k3cloud/Kingdee\.BOS\.WebApi\.ServicesStub\.(AuthService|DynamicFormService)\."
                        r"(\w+)\.common\.kdsvc$", re.IGNORECASE)
GROUPS = {"PRE001": "记", "PRE002": "收", "PRE003": "付", "PRE004": "转"}
WORD_GROUP = {word: group for group, word in GROUPS.items()}
SESSION_LOST = "会话信息已丢失，请重新登录"
MESSAGES = {
    "period_closed": "凭证日期所在的会计期间（{year}年第{period}期）已结账，不能新增或修改凭证",
    "empty": "凭证分录不能为空",
    "account": "第{no}行分录：科目编码 {code} 在当前账簿中不存在或已禁用",
    "one_side": "第{no}行分录：借方金额和贷方金额必须且只能录入一个",
    "unbalanced": "凭证借贷不平衡，借方合计：{debit}，贷方合计：{credit}",
}
DEFAULT_APP_ID = "229973_" + base64.b64encode(b"fake-k3cloud-gateway-sec").decode()  # 32 chars after "_"


def kd_time(value: dt.datetime | None) -> str | None:
    """K/3 Cloud's datetime text: server-local, no zone, milliseconds."""
    if value is None:
        return None
    return value.astimezone().replace(tzinfo=None).isoformat(timespec="milliseconds")


def kd_status(v: StoredVoucher) -> dict[str, Any]:
    return {"FDocumentStatus": {"saved": "A", "audited": "C", "posted": "C", "void": "C"}[v.status],
            "FPOSTED": v.status == "posted", "FInvalid": v.status == "void"}


# -- FilterString -----------------------------------------------------------------------------
TOKEN_RE = re.compile(r"\s*(?:(\()|(\))|('(?:[^']|'')*')|(<>|>=|<=|=|>|<)|([A-Za-z_][\w.]*)|(-?\d+(?:\.\d+)?))",
                      re.IGNORECASE)


def parse_filter(text: str) -> Callable[[Callable[[str], Any]], bool]:
    """Compile a FilterString into a predicate over ``lookup(field) -> value``."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text or ""
    while pos < len(text.rstrip()):
        m = TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"过滤条件语法错误，位置 {pos}：{text[pos:pos + 20]!r}")
        pos = m.end()
        kinds = ("lp", "rp", "str", "op", "word", "num")
        kind = next(k for k, g in zip(kinds, m.groups()) if g is not None)
        value = m.group(kinds.index(kind) + 1)
        if kind == "word" and value.lower() in ("and", "or", "like"):
            kind = value.lower()
        tokens.append((kind, value))
    if not tokens:
        return lambda lookup: True
    index = 0

    def peek() -> str | None:
        return tokens[index][0] if index < len(tokens) else None

    def take(kind: str) -> str:
        nonlocal index
        if peek() != kind:
            raise ValueError(f"过滤条件语法错误：此处应为 {kind}")
        index += 1
        return tokens[index - 1][1]

    def expr() -> Callable:
        left = term()
        while peek() == "or":
            take("or")
            right = term()
            left = (lambda a, b: lambda lk: a(lk) or b(lk))(left, right)
        return left

    def term() -> Callable:
        left = factor()
        while peek() == "and":
            take("and")
            right = factor()
            left = (lambda a, b: lambda lk: a(lk) and b(lk))(left, right)
        return left

    def factor() -> Callable:
        if peek() == "lp":
            take("lp")
            inner = expr()
            take("rp")
            return inner
        field = take("word")
        op = take("like") if peek() == "like" else take("op")
        if peek() == "str":
            literal: Any = take("str")[1:-1].replace("''", "'")
        else:
            literal = Decimal(take("num"))

        def compare(lookup: Callable[[str], Any]) -> bool:
            value = lookup(field)
            if value is None:
                return False
            if op == "like":
                pattern = "^" + re.escape(str(literal)).replace("%", ".*").replace("_", ".") + "$"
                return re.match(pattern, str(value)) is not None
            left, right = (value, literal) if isinstance(literal, Decimal) else _comparable(value, literal)
            return {"=": left == right, "<>": left != right, ">": left > right, ">=": left >= right,
                    "<": left < right, "<=": left <= right}[op]
        return compare

    result = expr()
    if index != len(tokens):
        raise ValueError("过滤条件语法错误：多余的内容")
    return result


def _comparable(value: Any, literal: str) -> tuple[Any, Any]:
    """Dates and times compare as such (K/3 Cloud converts the literal to the column's type)."""
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", literal) and re.match(r"^\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.datetime.fromisoformat(value), dt.datetime.fromisoformat(literal)
        except ValueError:
            pass
    return str(value), str(literal)


class _Fail(Exception):
    def __init__(self, message: str, msg_code: int = 0, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.msg_code, self.field = message, msg_code, field


class K3CloudFake(FakeApp):
    system = "kingdee"
    url_path = "/K3Cloud"

    def __init__(self, *, acct_id: str = "62f3c9b0acct", username: str = "invoice-archive",
                 app_id: str = DEFAULT_APP_ID, app_secret: str = "fake-app-secret-0123456789abcdef",
                 external_ref_field: str = "F_IA_ExtRef", signature_window: int = 900, **kw: Any) -> None:
        super().__init__(**kw)
        self.acct_id, self.username, self.app_id, self.app_secret = acct_id, username, app_id, app_secret
        self.external_ref_field = external_ref_field
        self.signature_window = signature_window
        self.sessions: set[str] = set()
        self.logins = 0

    @property
    def credentials(self) -> dict[str, str]:
        """Settings an adapter needs to talk to this fake."""
        return {"acct_id": self.acct_id, "username": self.username, "app_id": self.app_id,
                "app_secret": self.app_secret, "external_ref_field": self.external_ref_field}

    # -- WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        match = SERVICE_RE.match(request.path_info)
        self.log_request(environ, service=match.group(2) if match else None)
        if request.method != "POST" or not match:
            return Response("Not Found", status=404)(environ, start_response)
        service, operation = match.group(1), match.group(2)
        try:
            body = json.loads(request.body or b"{}", parse_float=Decimal)
        except ValueError:
            body = {}
        if service == "AuthService":
            return self._login(operation, body)(environ, start_response)
        failure = None
        query = operation == "ExecuteBillQuery"
        try:
            self._authenticate(request)
            if operation in ("Save", "Submit", "Audit"):
                failure = self.script.take({"unavailable"})
                if failure:
                    return Response("Service Unavailable", status=503)(environ, start_response)
            handler = getattr(self, f"_op_{operation.lower()}", None)
            if handler is None:
                raise _Fail(f"不支持的操作 {operation}")
            formid, data = self._unpack(body)
            if formid and formid.upper() != "GL_VOUCHER":
                raise _Fail(f"表单 {formid} 不存在或未授权")
            payload, committed = handler(data)
        except _Fail as fail:
            status = {"ErrorCode": 500, "IsSuccess": False, "MsgCode": fail.msg_code, "SuccessEntitys": [],
                      "SuccessMessages": [],
                      "Errors": [{"FieldName": fail.field, "Message": fail.message, "DIndex": 0}]}
            payload = [[{"Result": {"ResponseStatus": status}}]] if query else {"Result": {"ResponseStatus": status}}
            committed = False
        response = _json(payload)
        if committed:
            self.after_commit(self.script.take({"timeout_after_commit", "drop_after_commit"}), environ)
        return response(environ, start_response)

    # -- authentication ------------------------------------------------------------------------------
    def _login(self, operation: str, body: Any) -> Response:
        if operation != "LoginBySign":
            return _json({"LoginResultType": 0, "Message": f"本服务只支持 LoginBySign，不支持 {operation}"})
        params = body.get("parameters") if isinstance(body, dict) else None
        if isinstance(params, list) and len(params) >= 5:
            acct, user, app_id, timestamp, sign = (str(p) for p in params[:5])
        elif isinstance(body, dict):
            acct, user, app_id, timestamp, sign = (str(body.get(k, "")) for k in
                                                   ("acctID", "username", "appId", "timestamp", "sign"))
        else:
            acct = user = app_id = timestamp = sign = ""
        expected = signing.login_sign(self.acct_id, self.username, self.app_id, self.app_secret, timestamp)
        if (self.script.auth_broken or (acct, user, app_id) != (self.acct_id, self.username, self.app_id)
                or not hmac.compare_digest(sign, expected)):
            self.auth_failures += 1
            return _json({"LoginResultType": 0, "Message": "第三方系统登录授权验证失败：应用ID、用户或签名不正确",
                          "KDSVCSessionId": None})
        self.logins += 1
        session = secrets.token_hex(16)
        self.sessions.add(session)
        response = _json({"LoginResultType": 1, "Message": None, "KDSVCSessionId": session,
                          "Context": {"UserName": user, "DBid": acct, "LogId": session[:8]}})
        response.set_cookie("kdservice-sessionid", session, path="/")
        response.set_cookie("ASP.NET_SessionId", secrets.token_hex(12), path="/")
        return response

    def _authenticate(self, request: Request) -> None:
        if self.script.auth_broken:
            self.auth_failures += 1
            raise _Fail(SESSION_LOST, msg_code=1)
        session = request.cookies.get("kdservice-sessionid") or request.headers.get("kdservice-sessionid")
        if session and session in self.sessions:
            return
        if request.headers.get("X-Kd-Appkey") and self._signature_ok(request):
            return
        self.auth_failures += 1
        raise _Fail(SESSION_LOST, msg_code=1)

    def _signature_ok(self, request: Request) -> bool:
        h = request.headers
        if h.get("X-Kd-Appkey") != self.app_id:
            return False
        try:
            data = base64.b64decode(h.get("X-Kd-Appdata", "")).decode("utf-8")
        except ValueError:
            return False
        if data.split(",")[:2] != [self.acct_id, self.username]:
            return False
        if not hmac.compare_digest(h.get("X-Kd-Signature", ""), signing.hmac_b64hex(self.app_id + data,
                                                                                    self.app_secret)):
            return False
        client_id, client_secret = signing.split_app_id(self.app_id)
        if client_id:  # the gateway half must be present and right too
            timestamp, nonce = h.get("x-api-timestamp", ""), h.get("x-api-nonce", "")
            if h.get("X-Api-ClientID") != client_id or not timestamp.isdigit():
                return False
            seconds = int(timestamp) / (1000 if len(timestamp) > 11 else 1)
            if abs(time.time() - seconds) > self.signature_window:
                return False
            expected = signing.hmac_b64hex(signing.api_string_to_sign(request.path_info, nonce, timestamp),
                                           client_secret)
            if not hmac.compare_digest(h.get("X-Api-Signature", ""), expected):
                return False
        return True

    # -- operations ------------------------------------------------------------------------------------
    @staticmethod
    def _unpack(body: Any) -> tuple[str | None, dict[str, Any]]:
        if isinstance(body, dict) and isinstance(body.get("parameters"), list):
            params = body["parameters"]
            if len(params) == 1:
                data = params[0]
                formid = None
            else:
                formid, data = params[0], params[1]
        elif isinstance(body, dict):
            formid, data = body.get("formid") or body.get("FormId"), body.get("data", {})
        else:
            raise _Fail("请求格式错误")
        if isinstance(data, str):
            data = json.loads(data, parse_float=Decimal)
        if not isinstance(data, dict):
            raise _Fail("请求参数 data 格式错误")
        return formid or data.get("FormId"), data

    def _op_save(self, data: dict[str, Any]) -> tuple[Any, bool]:
        failure = self.script.take({"validation", "period_closed"})
        if failure:
            default = MESSAGES["period_closed"].format(year="?", period="?")
            raise _Fail(failure.get("message", default if failure["kind"] == "period_closed" else "数据校验失败"))
        model = data.get("Model")
        if not isinstance(model, dict):
            raise _Fail("Model 不能为空")
        if model.get("FVOUCHERID") not in (None, 0, "0", ""):
            raise _Fail("本测试服务只支持新增凭证（FVOUCHERID 应为 0）")
        try:
            book = model["FAccountBookID"]["FNumber"]
            date = dt.date.fromisoformat(str(model["FDate"])[:10])
            year, period = int(model.get("FYEAR") or date.year), int(model.get("FPERIOD") or date.month)
            group = (model.get("FVOUCHERGROUPID") or {}).get("FNumber", "PRE001")
            entries = []
            for row in model.get("FEntity") or []:
                aux = {k.replace("FDETAILID__", ""): (v or {}).get("FNumber") for k, v in
                       (row.get("FDetailID") or {}).items()}
                entries.append(StoredEntry(str(row.get("FEXPLANATION") or ""), row["FACCOUNTID"]["FNumber"],
                                           Decimal(str(row.get("FDEBIT") or 0)).quantize(Decimal("0.01")),
                                           Decimal(str(row.get("FCREDIT") or 0)).quantize(Decimal("0.01")), aux))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise _Fail(f"字段值不合法：{exc}")
        if group not in GROUPS:
            raise _Fail(f"凭证字 {group} 不存在", field="FVOUCHERGROUPID")
        problem = self.ledger.problems(fiscal_year=year, period=period, entries=entries, messages=MESSAGES)
        if problem:
            raise _Fail(problem[1])
        auto = str(data.get("IsAutoSubmitAndAudit", "false")).lower() == "true"
        voucher = self.ledger.add(book=book, word=GROUPS[group], fiscal_year=year, period=period, date=date,
                                  preparer=self.username, entries=entries,
                                  external_ref=model.get(self.external_ref_field) or None,
                                  attachment_count=int(model.get("FATTACHMENTS") or 0), number_format="{}",
                                  status="saved", bill_no=None)
        voucher.extra["bill_no"] = f"PZ{voucher.id:08d}"
        if auto:
            self.ledger.set_status(voucher.id, "audited", by=self.username)
        need = data.get("NeedReturnFields") or []
        returned = {k: self._field(voucher, None, k) for k in need} if need else {}
        status = {"ErrorCode": 0, "IsSuccess": True, "Errors": [], "MsgCode": 0, "SuccessMessages": [],
                  "SuccessEntitys": [{"Id": voucher.id, "Number": voucher.extra["bill_no"], "DIndex": 0}]}
        return {"Result": {"ResponseStatus": status, "Id": voucher.id, "Number": voucher.extra["bill_no"],
                           "NeedReturnData": [returned]}}, True

    def _vouchers_by(self, data: dict[str, Any]) -> list[StoredVoucher]:
        ids = data.get("Ids") or data.get("Id") or ""
        numbers = data.get("Numbers") or ([data["Number"]] if data.get("Number") else [])
        wanted = [int(i) for i in str(ids).split(",") if str(i).strip().isdigit()]
        found = [v for v in self.vouchers if v.id in wanted or v.extra.get("bill_no") in numbers]
        if not found:
            raise _Fail("单据不存在或已被删除")
        return found

    def _op_view(self, data: dict[str, Any]) -> tuple[Any, bool]:
        [v] = self._vouchers_by(data)[:1]
        model = {"Id": v.id, "BillNo": v.extra.get("bill_no"), "VOUCHERGROUPNO": v.number, "YEAR": v.fiscal_year,
                 "PERIOD": v.period, "Date": v.date.isoformat() + "T00:00:00",
                 "DocumentStatus": kd_status(v)["FDocumentStatus"], "POSTED": v.status == "posted",
                 "Invalid": v.status == "void", "AccountBookID": {"Number": v.book},
                 "VOUCHERGROUPID": {"Number": WORD_GROUP.get(v.word, "PRE001")},
                 self.external_ref_field[1:] if self.external_ref_field.startswith("F") else
                 self.external_ref_field: v.external_ref,
                 "Entity": [{"EXPLANATION": e.summary, "ACCOUNTID": {"Number": e.account_code},
                             "DEBIT": e.debit, "CREDIT": e.credit} for e in v.entries]}
        return {"Result": {"ResponseStatus": None, "Result": model}}, False

    def _op_submit(self, data: dict[str, Any]) -> tuple[Any, bool]:
        return self._status_change(data, None)

    def _op_audit(self, data: dict[str, Any]) -> tuple[Any, bool]:
        return self._status_change(data, "audited")

    def _status_change(self, data: dict[str, Any], status: str | None) -> tuple[Any, bool]:
        done = []
        for v in self._vouchers_by(data):
            if status and v.status == "saved":
                self.ledger.set_status(v.id, status, by=self.username)
            done.append({"Id": v.id, "Number": v.extra.get("bill_no"), "DIndex": 0})
        status_json = {"ErrorCode": 0, "IsSuccess": True, "Errors": [], "SuccessEntitys": done,
                       "SuccessMessages": [], "MsgCode": 0}
        return {"Result": {"ResponseStatus": status_json}}, False

    def _field(self, v: StoredVoucher, entry: StoredEntry | None, key: str) -> Any:
        k = key.upper()
        head = {
            "FVOUCHERID": v.id, "FBILLNO": v.extra.get("bill_no"), "FVOUCHERGROUPNO": v.number,
            "FYEAR": v.fiscal_year, "FPERIOD": v.period, "FDATE": v.date.isoformat() + "T00:00:00",
            "FACCOUNTBOOKID.FNUMBER": v.book, "FVOUCHERGROUPID.FNUMBER": WORD_GROUP.get(v.word, "PRE001"),
            "FVOUCHERGROUPID.FNAME": v.word, "FATTACHMENTS": v.attachment_count,
            "FDOCUMENTSTATUS": kd_status(v)["FDocumentStatus"], "FPOSTED": kd_status(v)["FPOSTED"],
            "FINVALID": kd_status(v)["FInvalid"], "FMODIFYDATE": kd_time(v.modified),
            "FCREATEDATE": kd_time(v.created), "FAUDITDATE": kd_time(v.audited_at),
            "FPOSTDATE": kd_time(v.posted_at), "FCREATORID.FNAME": v.preparer,
            "FCHECKERID.FNAME": v.reviewer, "FPOSTERID.FNAME": v.poster,
            self.external_ref_field.upper(): v.external_ref,
        }
        if k in head:
            return head[k]
        if entry is None:
            return None
        body = {"FEXPLANATION": entry.summary, "FACCOUNTID.FNUMBER": entry.account_code,
                "FACCOUNTID.FNAME": entry.account_name, "FDEBIT": entry.debit, "FCREDIT": entry.credit}
        if k in body:
            return body[k]
        flex = re.fullmatch(r"FDETAILID\.(FFLEX\d+)\.FNUMBER", k)
        if flex:
            return entry.auxiliary.get(flex.group(1))
        raise _Fail(f"字段 {key} 不存在", field=key)

    def _op_executebillquery(self, data: dict[str, Any]) -> tuple[Any, bool]:
        keys = [k.strip() for k in str(data.get("FieldKeys") or "").split(",") if k.strip()]
        if not keys:
            raise _Fail("FieldKeys 不能为空")
        try:
            predicate = parse_filter(str(data.get("FilterString") or ""))
        except ValueError as exc:
            raise _Fail(str(exc))
        order = [o.strip().split() for o in str(data.get("OrderString") or "").split(",") if o.strip()]
        rows: list[tuple[StoredVoucher, StoredEntry]] = []
        for v in self.vouchers:
            for e in v.entries:
                if predicate(lambda key, v=v, e=e: self._field(v, e, key)):
                    rows.append((v, e))
        for parts in reversed(order or [["FVOUCHERID"]]):
            descending = len(parts) > 1 and parts[1].upper() == "DESC"
            rows.sort(key=lambda row, f=parts[0]: (self._field(row[0], row[1], f) is None,
                                                  self._field(row[0], row[1], f) or ""), reverse=descending)
        start = int(data.get("StartRow") or 0)
        limit = int(data.get("Limit") or 0) or int(data.get("TopRowCount") or 0) or 2000
        page = rows[start:start + limit]
        return [[self._field(v, e, k) for k in keys] for v, e in page], False


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False, default=_default), content_type="application/json",
                    charset="utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # what K/3 Cloud's own JSON carries; readers use parse_float=Decimal
    raise TypeError(type(value).__name__)
