"""A fake Kingdee K/3 Cloud (金蝶云星空) WebAPI: the general-ledger voucher (GL_VOUCHER)
through its whole life, as Kingdee's own Python SDK (``kingdee.cdp.webapi.sdk``,
``k3cloud_webapi_sdk.main.K3CloudApiSdk``) drives it.

Served under ``<site>/K3Cloud/`` (every call ``POST <service>.common.kdsvc``):

* ``Kingdee.BOS.ServiceFacade.ServicesStub.Account.AccountService.GetDataCenterList``:
  the data centres (账套) the login page offers; no authentication, as on a real site.
* ``Kingdee.BOS.WebApi.ServicesStub.AuthService.LoginBySign``: a session (cookie
  ``kdservice-sessionid``).
* ``Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.<operation>`` with
  ``{"formid": "GL_VOUCHER", "data": {...}}`` (or the older ``{"parameters": [formid, "<json>"]}``):
  ``Save`` (new vouchers only), ``View``, ``Submit``, ``Audit``, ``UnAudit``,
  ``CancelAssign`` (撤销), ``Delete``, ``ExecuteBillQuery``, ``BillQuery`` and
  ``ExcuteOperation`` (the SDK's spelling) with the fake's posting operations
  ``opNumber`` ``Post`` (过账) and ``UnPost`` (反过账).

The rules (docs/accounting-systems.md, "Kingdee K/3 Cloud: what the fake relies on"):

* Document status ``FDocumentStatus``: A 创建, B 审核中 (submitted), C 已审核, D 重新审核;
  posting is a flag on an audited voucher (``FPOSTED``). Save -> A; Submit A/D -> B;
  CancelAssign B -> A; Audit B -> C; UnAudit C (not posted) -> D; Delete A/D only;
  Post C -> posted; UnPost posted -> C. Anything else is refused with ``MsgCode 12``
  (不可操作) and the voucher is left as it was. In a batch (``Ids`` "1,2,3") each voucher
  succeeds or fails on its own (``SuccessEntitys``, ``Errors[].DIndex``).
* K/3 Cloud posts vouchers in 总账 -> 凭证过账, not through a standard WebAPI call. The
  fake offers it as ``ExcuteOperation`` with ``opNumber`` ``Post``: the fake's own
  convention, for a site that registers such an operation; the adapter never posts.
* Accounts are K/3 Cloud chart numbers with dots (``6602.01``, ``2221.01.01``); only a
  leaf account (明细科目) takes entries; an unknown one is refused with ``MsgCode 9``.
* Replies: ``{"Result": {"ResponseStatus": {"ErrorCode", "IsSuccess", "Errors":
  [{"FieldName", "Message", "DIndex"}], "SuccessEntitys": [{"Id", "Number", "DIndex"}],
  "SuccessMessages", "MsgCode"}}}``; ExecuteBillQuery and BillQuery wrap a failure as
  ``[[{"Result": ...}]]``. MsgCode: 1 上下文丢失 (any authentication failure), 4 异常,
  8 参数错误, 9 指定字段/值不存在, 10 未找到对应数据, 11 验证失败, 12 不可操作.
* ``View`` answers with property names: a standard field's key without its leading
  ``F`` (``FDocumentStatus`` -> ``DocumentStatus``), base data as ``{"Id", "Number",
  "Name": [{"Key": 2052, "Value": ..}]}``; a custom field added with the BOS designer
  keeps its key (``F_IA_ExtRef``).
* ``ExecuteBillQuery`` answers rows of values, ``BillQuery`` one object per row keyed
  by the FieldKeys as asked. Asked only header fields (and filtering and sorting on
  header fields only), both give one row per voucher; as soon as an entry field
  (``FEXPLANATION``, ``FACCOUNTID.FNumber``, ``FDEBIT`` ...) is involved, one row per
  entry. Amounts come back as JSON numbers with ten decimals (``526.0000000000``),
  dates as ``2024-06-28T00:00:00``.
* Users: the integration user and the accountants (``users``, default 李会计), each
  signing their own requests with the app's credentials; the voucher records who
  saved, audited and posted it (``FCreatorId``, ``FCHECKERID``, ``FPOSTERID``).
* Authentication: a session from LoginBySign, or Kingdee's signed headers (see
  adapters/kingdee/signing.py). A signed request without a live session opens one and
  sets its cookie, as the site does; a client that sends it back (cookie or
  ``kdservice-sessionid`` header, as the SDK does) keeps using it (``sessions_opened``
  counts them). A failure is HTTP 200 with ``MsgCode 1``.

``FilterString`` understands ``field op 'value'`` with ``= <> > >= < <= like``,
``and``/``or`` and parentheses: enough for what clients send.
"""
from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import re
import secrets
import threading
import time
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from webob import Request, Response

from invoice_archive_adapters.testing.fakes.base import FakeApp, StoredEntry, StoredVoucher
from invoice_archive_adapters._http import json_bytes
from invoice_archive_adapters.kingdee import signing

STUB = r"Kingdee\.BOS\.WebApi\.ServicesStub\.(?P<service>AuthService|DynamicFormService)\.(?P<operation>\w+)"
DATA_CENTERS = r"Kingdee\.BOS\.ServiceFacade\.ServicesStub\.Account\.AccountService\.GetDataCenterList"
SERVICE_RE = re.compile(rf"^/k3cloud/(?:{STUB}|(?P<datacenters>{DATA_CENTERS}))\.common\.kdsvc$", re.IGNORECASE)
GROUPS = {"PRE001": "记", "PRE002": "收", "PRE003": "付", "PRE004": "转"}
WORD_GROUP = {word: group for group, word in GROUPS.items()}
SESSION_LOST = "会话信息已丢失，请重新登录"

#: a K/3 Cloud chart of accounts (新会计准则科目表, a few accounts): numbers with dots
ACCOUNTS = {
    "1001": "库存现金", "1002": "银行存款", "1221": "其他应收款", "2202": "应付账款",
    "2221": "应交税费", "2221.01": "应交增值税", "2221.01.01": "进项税额", "2241": "其他应付款",
    "6601": "销售费用", "6602": "管理费用", "6602.01": "差旅费", "6602.02": "办公费", "6602.03": "业务招待费",
    "6602.99": "其他",
}
MESSAGES = {
    "period_closed": "凭证日期所在的会计期间（{year}年第{period}期）已结账，不能新增或修改凭证",
    "empty": "凭证分录不能为空",
    "account": "第{no}行分录：科目编码 {code} 在当前账簿的科目表中不存在或已禁用",
    "not_leaf": "第{no}行分录：科目 {code} {name} 不是明细科目，不能录入凭证",
    "one_side": "第{no}行分录：借方金额和贷方金额必须且只能录入一个",
    "unbalanced": "凭证借贷不平衡，借方合计：{debit}，贷方合计：{credit}",
}
#: MsgCode, as K/3 Cloud's WebAPI documents them
MSG_SESSION_LOST, MSG_EXCEPTION, MSG_BAD_PARAMETER, MSG_NO_SUCH_VALUE = 1, 4, 8, 9
MSG_NOT_FOUND, MSG_VALIDATION, MSG_NOT_ALLOWED = 10, 11, 12
#: the fake's own posting operations (ExcuteOperation opNumber)
POST_OPERATION, UNPOST_OPERATION = "Post", "UnPost"
DEFAULT_APP_ID = "229973_" + base64.b64encode(b"fake-k3cloud-gateway-sec").decode()  # 32 chars after "_"
ENTRY_FIELDS = ("FEXPLANATION", "FACCOUNTID", "FDEBIT", "FCREDIT", "FDETAILID", "FENTRYID", "FENTITY_", "FSEQ")
#: the field keys the fake answers in queries (upper case), besides the reference field
HEAD_FIELDS = frozenset({
    "FVOUCHERID", "FID", "FBILLNO", "FVOUCHERGROUPNO", "FYEAR", "FPERIOD", "FDATE", "FACCOUNTBOOKID.FNUMBER",
    "FVOUCHERGROUPID.FNUMBER", "FVOUCHERGROUPID.FNAME", "FATTACHMENTS", "FDOCUMENTSTATUS", "FPOSTED", "FINVALID",
    "FMODIFYDATE", "FCREATEDATE", "FAUDITDATE", "FPOSTDATE", "FCREATORID.FNAME", "FCHECKERID.FNAME",
    "FPOSTERID.FNAME", "FDEBITTOTAL", "FCREDITTOTAL"})
ENTRY_VALUES = frozenset({"FEXPLANATION", "FACCOUNTID.FNUMBER", "FACCOUNTID.FNAME", "FDEBIT", "FCREDIT", "FENTRYID",
                          "FSEQ"})


def kd_time(value: dt.datetime | None) -> str | None:
    """K/3 Cloud's datetime text: server-local, no zone, milliseconds."""
    if value is None:
        return None
    return value.astimezone().replace(tzinfo=None).isoformat(timespec="milliseconds")


def kd_document_status(v: StoredVoucher) -> str:
    """FDocumentStatus: C once audited (posting is a flag on an audited voucher)."""
    if v.status in ("audited", "posted", "void"):
        return "C"
    return v.extra.get("document_status", "A")


def kd_status(v: StoredVoucher) -> dict[str, Any]:
    return {"FDocumentStatus": kd_document_status(v), "FPOSTED": v.status == "posted", "FInvalid": v.status == "void"}


def is_entry_field(key: str) -> bool:
    return key.upper().startswith(ENTRY_FIELDS)


# -- FilterString -----------------------------------------------------------------------------
TOKEN_RE = re.compile(r"\s*(?:(\()|(\))|('(?:[^']|'')*')|(<>|>=|<=|=|>|<)|([A-Za-z_][\w.]*)|(-?\d+(?:\.\d+)?))",
                      re.IGNORECASE)


def filter_fields(text: str) -> list[str]:
    """The field keys a FilterString names."""
    return [m.group(5) for m in TOKEN_RE.finditer(text or "")
            if m.group(5) and m.group(5).lower() not in ("and", "or", "like")]


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
    def __init__(self, message: str, msg_code: int = MSG_EXCEPTION, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.msg_code, self.field = message, msg_code, field


def response_status(*, success: list[dict[str, Any]] | None = None,
                    errors: list[dict[str, Any]] | None = None, msg_code: int = 0) -> dict[str, Any]:
    errors = errors or []
    return {"ErrorCode": 500 if errors else 0, "IsSuccess": not errors, "Errors": errors,
            "SuccessEntitys": success or [], "SuccessMessages": [], "MsgCode": msg_code if errors else 0}


class K3CloudFake(FakeApp):
    system = "kingdee"
    url_path = "/K3Cloud"
    posting_accounts = {
        "posting.account.expense.default": "6602.99", "posting.account.expense.travel": "6602.01",
        "posting.account.input_vat": "2221.01.01", "posting.account.credit": "2241",
    }

    def __init__(self, *, acct_id: str = "62f3c9b0acct", username: str = "invoice-archive",
                 app_id: str = DEFAULT_APP_ID, app_secret: str = "fake-app-secret-0123456789abcdef",
                 external_ref_field: str = "F_IA_ExtRef", signature_window: int = 900,
                 accounts: dict[str, str] | None = None, users: tuple[str, ...] = ("李会计",), **kw: Any) -> None:
        super().__init__(accounts=accounts or ACCOUNTS, **kw)
        self.acct_id, self.username, self.app_id, self.app_secret = acct_id, username, app_id, app_secret
        #: K/3 Cloud users authorised for this app besides the integration user (the accountants),
        #: who sign their own requests; each operation records who did it (制单人, 审核人, 过账人)
        self.users = frozenset((username, *users))
        self.external_ref_field = external_ref_field
        self.signature_window = signature_window
        self.sessions: dict[str, str] = {}          # session id -> user
        self._acting = threading.local()
        self.logins = 0            # LoginBySign calls that opened a session
        self.sessions_opened = 0   # every session opened, by LoginBySign or by a signed request

    @property
    def credentials(self) -> dict[str, str]:
        """Settings an adapter needs to talk to this fake."""
        return {"acct_id": self.acct_id, "username": self.username, "app_id": self.app_id,
                "app_secret": self.app_secret, "external_ref_field": self.external_ref_field}

    # -- as an accountant in K/3 Cloud would ------------------------------------------------
    def audit_and_post(self, voucher_id: int, *, by: str = "李会计") -> StoredVoucher:
        """Submit, audit and post one voucher (凭证审核、过账), as the accountant does in 总账."""
        with self.ledger.lock:
            voucher = self.ledger.vouchers[int(voucher_id)]
            voucher.extra["document_status"] = "C"
            return self.ledger.set_status(voucher.id, "posted", by=by)

    # -- WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        match = SERVICE_RE.match(request.path_info)
        operation = (match.group("operation") or "GetDataCenterList") if match else None
        self.log_request(environ, service=operation)
        if request.method != "POST" or not match:
            return Response("Not Found", status=404)(environ, start_response)
        try:
            body = json.loads(request.body or b"{}", parse_float=Decimal)
        except ValueError:
            body = None
        if match.group("datacenters"):
            return _json([{"Id": self.acct_id, "Number": "001", "Name": "模拟账套（invoice-archive 测试）",
                           "DatabaseType": 3, "Language": 2052}])(environ, start_response)
        if match.group("service") == "AuthService":
            return self._login(operation, body)(environ, start_response)
        handler = getattr(self, f"_op_{operation.lower()}", None)
        if handler is None:  # the site has no such service method
            return Response("Not Found", status=404)(environ, start_response)
        query = operation in ("ExecuteBillQuery", "BillQuery")
        committed, new_session = False, None
        try:
            new_session = self._authenticate(request)
            self._acting.user = self._user_of(request, new_session)
            if operation in ("Save", "Submit", "Audit", "UnAudit", "Delete", "ExcuteOperation"):
                if self.script.take({"unavailable"}):
                    return Response("Service Unavailable", status=503)(environ, start_response)
            if body is None:
                raise _Fail("请求内容不是有效的 JSON", MSG_BAD_PARAMETER)
            formid, data = self._unpack(body)
            if formid and formid.upper() != "GL_VOUCHER":
                raise _Fail(f"表单 {formid} 不存在或未授权", MSG_NO_SUCH_VALUE)
            payload, committed = handler(body, data)
        except _Fail as fail:
            status = response_status(errors=[{"FieldName": fail.field, "Message": fail.message, "DIndex": 0}],
                                     msg_code=fail.msg_code)
            payload = [[{"Result": {"ResponseStatus": status}}]] if query else {"Result": {"ResponseStatus": status}}
        response = _json(payload)
        if new_session:
            response.set_cookie("kdservice-sessionid", new_session, path="/")
            response.set_cookie("ASP.NET_SessionId", secrets.token_hex(12), path="/")
        if committed:
            self.after_commit(self.script.take({"timeout_after_commit", "drop_after_commit"}), environ)
        return response(environ, start_response)

    # -- authentication ------------------------------------------------------------------------------
    def _open_session(self, user: str) -> str:
        session = secrets.token_hex(16)
        self.sessions[session] = user
        self.sessions_opened += 1
        return session

    def _user_of(self, request: Request, new_session: str | None) -> str:
        session = new_session or request.cookies.get("kdservice-sessionid") or request.headers.get("kdservice-sessionid")
        return self.sessions.get(session or "", self.username)

    @property
    def acting_user(self) -> str:
        """Who sent the request being handled."""
        return getattr(self._acting, "user", self.username)

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
        expected = signing.login_sign(self.acct_id, user, self.app_id, self.app_secret, timestamp)
        if (self.script.auth_broken or (acct, app_id) != (self.acct_id, self.app_id) or user not in self.users
                or not hmac.compare_digest(sign, expected)):
            self.auth_failures += 1
            return _json({"LoginResultType": 0, "Message": "第三方系统登录授权验证失败：应用ID、用户或签名不正确",
                          "KDSVCSessionId": None})
        self.logins += 1
        session = self._open_session(user)
        response = _json({"LoginResultType": 1, "Message": None, "KDSVCSessionId": session,
                          "Context": {"UserName": user, "DBid": acct, "LogId": session[:8]}})
        response.set_cookie("kdservice-sessionid", session, path="/")
        response.set_cookie("ASP.NET_SessionId", secrets.token_hex(12), path="/")
        return response

    def _authenticate(self, request: Request) -> str | None:
        """None when the request's session is live; the new session's id when a
        signed request opened one; raises (MsgCode 1) otherwise."""
        if self.script.auth_broken:
            self.auth_failures += 1
            raise _Fail(SESSION_LOST, msg_code=MSG_SESSION_LOST)
        session = request.cookies.get("kdservice-sessionid") or request.headers.get("kdservice-sessionid")
        if session and session in self.sessions:
            return None
        user = self._signature_ok(request)
        if request.headers.get("X-Kd-Appkey") and user:
            return self._open_session(user)
        self.auth_failures += 1
        raise _Fail(SESSION_LOST, msg_code=MSG_SESSION_LOST)

    def _signature_ok(self, request: Request) -> str | None:
        """The signing user when the signed headers are right, else None."""
        h = request.headers
        if h.get("X-Kd-Appkey") != self.app_id:
            return None
        try:
            data = base64.b64decode(h.get("X-Kd-Appdata", "")).decode("utf-8")
        except ValueError:
            return None
        acct, _, rest = data.partition(",")
        user = rest.split(",")[0]
        if acct != self.acct_id or user not in self.users:
            return None
        if not hmac.compare_digest(h.get("X-Kd-Signature", ""), signing.hmac_b64hex(self.app_id + data,
                                                                                    self.app_secret)):
            return None
        client_id, client_secret = signing.split_app_id(self.app_id)
        if client_id:  # the gateway half must be present and right too
            timestamp, nonce = h.get("x-api-timestamp", ""), h.get("x-api-nonce", "")
            if h.get("X-Api-ClientID") != client_id or not timestamp.isdigit():
                return None
            seconds = int(timestamp) / (1000 if len(timestamp) > 11 else 1)
            if abs(time.time() - seconds) > self.signature_window:
                return None
            expected = signing.hmac_b64hex(signing.api_string_to_sign(request.path_info, nonce, timestamp),
                                           client_secret)
            if not hmac.compare_digest(h.get("X-Api-Signature", ""), expected):
                return None
        return user

    # -- requests ----------------------------------------------------------------------------------------
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
            raise _Fail("请求格式错误", MSG_BAD_PARAMETER)
        if isinstance(data, str):
            try:
                data = json.loads(data, parse_float=Decimal)
            except ValueError:
                raise _Fail("请求参数 data 不是有效的 JSON", MSG_BAD_PARAMETER) from None
        if not isinstance(data, dict):
            raise _Fail("请求参数 data 格式错误", MSG_BAD_PARAMETER)
        return formid or data.get("FormId"), data

    def _account(self, no: int, code: Any) -> str:
        code = str(code or "")
        if code not in self.ledger.accounts:
            raise _Fail(MESSAGES["account"].format(no=no, code=code), MSG_NO_SUCH_VALUE, field="FACCOUNTID")
        if any(other.startswith(code + ".") for other in self.ledger.accounts):
            raise _Fail(MESSAGES["not_leaf"].format(no=no, code=code, name=self.ledger.accounts[code]),
                        MSG_VALIDATION, field="FACCOUNTID")
        return code

    @staticmethod
    def _amount(no: int, value: Any, field: str) -> Decimal:
        """K/3 Cloud's decimal fields take a JSON number or a numeric string."""
        if value in (None, ""):
            return Decimal("0.00")
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
            raise _Fail(f"第{no}行分录：{field} 的值 {value!r} 不是数值", MSG_BAD_PARAMETER, field=field)
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise _Fail(f"第{no}行分录：{field} 的值 {value!r} 不是数值", MSG_BAD_PARAMETER, field=field) from None
        if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
            raise _Fail(f"第{no}行分录：{field} 的值 {value} 超出金额精度（2 位小数）", MSG_VALIDATION, field=field)
        return amount.quantize(Decimal("0.01"))

    # -- Save and the lifecycle ---------------------------------------------------------------------------
    def _op_save(self, body: Any, data: dict[str, Any]) -> tuple[Any, bool]:
        failure = self.script.take({"validation", "period_closed"})
        if failure:
            default = MESSAGES["period_closed"].format(year="?", period="?")
            raise _Fail(failure.get("message", default if failure["kind"] == "period_closed" else "数据校验失败"),
                        MSG_VALIDATION)
        model = data.get("Model")
        if not isinstance(model, dict):
            raise _Fail("Model 不能为空", MSG_BAD_PARAMETER)
        if model.get("FVOUCHERID") not in (None, 0, "0", ""):
            raise _Fail("本模拟服务只支持新增凭证（FVOUCHERID 应为 0）", MSG_NOT_ALLOWED)
        try:
            book = model["FAccountBookID"]["FNumber"]
            date = dt.date.fromisoformat(str(model["FDate"])[:10])
            year, period = int(model.get("FYEAR") or date.year), int(model.get("FPERIOD") or date.month)
            group = (model.get("FVOUCHERGROUPID") or {}).get("FNumber", "PRE001")
            rows = model.get("FEntity") or []
        except (KeyError, TypeError, ValueError) as exc:
            raise _Fail(f"字段值不合法：{exc}", MSG_BAD_PARAMETER)
        if group not in GROUPS:
            raise _Fail(f"凭证字 {group} 不存在", MSG_NO_SUCH_VALUE, field="FVOUCHERGROUPID")
        if (year, period) in self.ledger.closed_periods:
            raise _Fail(MESSAGES["period_closed"].format(year=year, period=period), MSG_VALIDATION)
        entries = []
        for no, row in enumerate(rows, 1):
            if not isinstance(row, dict):
                raise _Fail(f"第{no}行分录格式错误", MSG_BAD_PARAMETER)
            aux = {k.replace("FDETAILID__", ""): (v or {}).get("FNumber") for k, v in
                   (row.get("FDetailID") or {}).items()}
            entries.append(StoredEntry(str(row.get("FEXPLANATION") or ""),
                                       self._account(no, (row.get("FACCOUNTID") or {}).get("FNumber")),
                                       self._amount(no, row.get("FDEBIT"), "FDEBIT"),
                                       self._amount(no, row.get("FCREDIT"), "FCREDIT"), aux))
        problem = self.ledger.problems(fiscal_year=year, period=period, entries=entries, messages=MESSAGES)
        if problem:
            raise _Fail(problem[1], MSG_VALIDATION)
        auto = str(data.get("IsAutoSubmitAndAudit", "false")).lower() == "true"
        voucher = self.ledger.add(book=book, word=GROUPS[group], fiscal_year=year, period=period, date=date,
                                  preparer=self.acting_user, entries=entries,
                                  external_ref=model.get(self.external_ref_field) or None,
                                  attachment_count=int(model.get("FATTACHMENTS") or 0), number_format="{}",
                                  status="saved", bill_no=None, document_status="A")
        voucher.extra["bill_no"] = f"PZ{voucher.id:08d}"
        if auto:
            self.ledger.set_status(voucher.id, "audited", by=self.acting_user)
        need = data.get("NeedReturnFields") or []
        returned = {k: self._field(voucher, None, k) for k in need} if need else {}
        status = response_status(success=[{"Id": voucher.id, "Number": voucher.extra["bill_no"], "DIndex": 0}])
        return {"Result": {"ResponseStatus": status, "Id": voucher.id, "Number": voucher.extra["bill_no"],
                           "NeedReturnData": [returned]}}, True

    def _targets(self, data: dict[str, Any]) -> list[tuple[str, StoredVoucher | None]]:
        """(how the caller named it, the voucher or None) for ``Ids`` "1,2" / ``Numbers`` [..]."""
        ids = data.get("Ids") if data.get("Ids") not in (None, "") else data.get("Id")
        numbers = data.get("Numbers") or ([data["Number"]] if data.get("Number") else [])
        named: list[str] = []
        if isinstance(ids, list):
            named += [str(i).strip() for i in ids]
        elif ids not in (None, ""):
            named += [i.strip() for i in str(ids).split(",") if i.strip()]
        if not named and not numbers:
            raise _Fail("请指定单据内码（Ids）或单据编号（Numbers）", MSG_BAD_PARAMETER)
        by_bill_no = {v.extra.get("bill_no"): v for v in self.vouchers}
        found: list[tuple[str, StoredVoucher | None]] = []
        for name in named:
            found.append((name, self.ledger.vouchers.get(int(name)) if name.isdigit() else None))
        for number in numbers:
            found.append((str(number), by_bill_no.get(str(number))))
        return found

    def _lifecycle(self, data: dict[str, Any], step: Callable[[StoredVoucher], None]) -> tuple[Any, bool]:
        """Apply ``step`` to each voucher named; each succeeds or fails on its own."""
        success, errors, codes = [], [], []
        with self.ledger.lock:
            for index, (name, voucher) in enumerate(self._targets(data)):
                try:
                    if voucher is None:
                        raise _Fail(f"单据 {name} 不存在或已被删除", MSG_NOT_FOUND)
                    step(voucher)
                    success.append({"Id": voucher.id, "Number": voucher.extra.get("bill_no"), "DIndex": index})
                except _Fail as fail:
                    errors.append({"FieldName": fail.field, "Message": fail.message, "DIndex": index})
                    codes.append(fail.msg_code)
        status = response_status(success=success, errors=errors, msg_code=codes[0] if codes else 0)
        return {"Result": {"ResponseStatus": status}}, bool(success)

    def _refuse(self, v: StoredVoucher, action: str) -> _Fail:
        state = {"A": "创建", "B": "审核中", "C": "已审核", "D": "重新审核"}[kd_document_status(v)]
        if v.status == "posted":
            state = "已过账"
        return _Fail(f"凭证 {v.word}-{v.number}（{v.extra.get('bill_no')}）当前状态为「{state}」，不能{action}",
                     MSG_NOT_ALLOWED)

    def _open_period(self, v: StoredVoucher, action: str) -> None:
        if (v.fiscal_year, v.period) in self.ledger.closed_periods:
            raise _Fail(f"凭证 {v.word}-{v.number} 所在期间（{v.fiscal_year}年第{v.period}期）已结账，不能{action}",
                        MSG_NOT_ALLOWED)

    def _op_submit(self, body: Any, data: dict[str, Any]) -> tuple[Any, bool]:
        def submit(v: StoredVoucher) -> None:
            if v.status != "saved" or kd_document_status(v) not in ("A", "D"):
                raise self._refuse(v, "提交")
            v.extra["document_status"] = "B"
            self.ledger._stamp(v)
        return self._lifecycle(data, submit)

    def _op_cancelassign(self, body: Any, data: dict[str, Any]) -> tuple[Any, bool]:
        def cancel(v: StoredVoucher) -> None:
            if v.status != "saved" or kd_document_status(v) != "B":
                raise self._refuse(v, "撤销")
            v.extra["document_status"] = "A"
            self.ledger._stamp(v)
        return self._lifecycle(data, cancel)

    def _op_audit(self, body: Any, data: dict[str, Any]) -> tuple[Any, bool]:
        def audit(v: StoredVoucher) -> None:
            if v.status != "saved" or kd_document_status(v) != "B":
                raise self._refuse(v, "审核（凭证须先提交）")
            v.extra["document_status"] = "C"
            self.ledger.set_status(v.id, "audited", by=self.acting_user)
        return self._lifecycle(data, audit)

    def _op_unaudit(self, body: Any, data: dict[str, Any]) -> tuple[Any, bool]:
        def unaudit(v: StoredVoucher) -> None:
            if v.status != "audited":
                raise self._refuse(v, "反审核" + ("（已过账的凭证须先反过账）" if v.status == "posted" else ""))
            self._open_period(v, "反审核")
            v.extra["document_status"] = "D"
            v.reviewer, v.audited_at = None, None
            self.ledger.set_status(v.id, "saved")
        return self._lifecycle(data, unaudit)

    def _op_delete(self, body: Any, data: dict[str, Any]) -> tuple[Any, bool]:
        def delete(v: StoredVoucher) -> None:
            if v.status != "saved" or kd_document_status(v) not in ("A", "D"):
                raise self._refuse(v, "删除")
            self._open_period(v, "删除")
            self.ledger.remove(v.id)
        return self._lifecycle(data, delete)

    def _op_excuteoperation(self, body: Any, data: dict[str, Any]) -> tuple[Any, bool]:
        op = str((body.get("opNumber") if isinstance(body, dict) else None) or data.get("opNumber") or "")
        if not op:
            raise _Fail("操作编码（opNumber）不能为空", 3)

        def post(v: StoredVoucher) -> None:
            if v.status != "audited":
                raise self._refuse(v, "过账（凭证须先审核）")
            self.ledger.set_status(v.id, "posted", by=self.acting_user)

        def unpost(v: StoredVoucher) -> None:
            if v.status != "posted":
                raise self._refuse(v, "反过账")
            self._open_period(v, "反过账")
            v.poster, v.posted_at = None, None
            self.ledger.set_status(v.id, "audited")

        steps = {POST_OPERATION.lower(): post, UNPOST_OPERATION.lower(): unpost}
        if op.lower() not in steps:
            raise _Fail(f"表单 GL_VOUCHER 没有操作 {op}（本模拟服务支持 {POST_OPERATION}、{UNPOST_OPERATION}）",
                        MSG_NO_SUCH_VALUE)
        return self._lifecycle(data, steps[op.lower()])

    # -- reading -----------------------------------------------------------------------------------------
    def _base(self, ident: int, number: str | None, name: str | None) -> dict[str, Any] | None:
        if number is None:
            return None
        return {"Id": ident, "Number": number, "Name": [{"Key": 2052, "Value": name}] if name else []}

    def _op_view(self, body: Any, data: dict[str, Any]) -> tuple[Any, bool]:
        [(name, v)] = self._targets(data)[:1]
        if v is None:
            raise _Fail(f"单据 {name} 不存在或已被删除", MSG_NOT_FOUND)
        status = kd_status(v)
        model = {
            "Id": v.id, "BillNo": v.extra.get("bill_no"), "VOUCHERGROUPNO": v.number, "YEAR": v.fiscal_year,
            "PERIOD": v.period, "Date": v.date.isoformat() + "T00:00:00", "DocumentStatus": status["FDocumentStatus"],
            "POSTED": status["FPOSTED"], "Invalid": status["FInvalid"], "ATTACHMENTS": v.attachment_count,
            "AccountBookID": self._base(1, v.book, f"账簿 {v.book}"),
            "VOUCHERGROUPID": self._base(list(GROUPS).index(WORD_GROUP.get(v.word, "PRE001")) + 1,
                                         WORD_GROUP.get(v.word, "PRE001"), v.word),
            "CreatorId": self._base(100, v.preparer, v.preparer), "CHECKERID": self._base(101, v.reviewer, v.reviewer),
            "POSTERID": self._base(102, v.poster, v.poster),
            "CreateDate": kd_time(v.created), "ModifyDate": kd_time(v.modified), "AuditDate": kd_time(v.audited_at),
            "POSTDATE": kd_time(v.posted_at),
            self.external_ref_field: v.external_ref,   # a custom field keeps its key as its property name
            "Entity": [{"Id": v.id * 100 + n, "Seq": n, "EXPLANATION": e.summary,
                        "ACCOUNTID": self._base(n, e.account_code, self.ledger.accounts.get(e.account_code)),
                        "DEBIT": e.debit, "CREDIT": e.credit} for n, e in enumerate(v.entries, 1)],
        }
        return {"Result": {"ResponseStatus": None, "Result": model}}, False

    def _field(self, v: StoredVoucher, entry: tuple[int, StoredEntry] | None, key: str) -> Any:
        k = key.upper()
        status = kd_status(v)
        head = {
            "FVOUCHERID": v.id, "FID": v.id, "FBILLNO": v.extra.get("bill_no"), "FVOUCHERGROUPNO": v.number,
            "FYEAR": v.fiscal_year, "FPERIOD": v.period, "FDATE": v.date.isoformat() + "T00:00:00",
            "FACCOUNTBOOKID.FNUMBER": v.book, "FVOUCHERGROUPID.FNUMBER": WORD_GROUP.get(v.word, "PRE001"),
            "FVOUCHERGROUPID.FNAME": v.word, "FATTACHMENTS": v.attachment_count,
            "FDOCUMENTSTATUS": status["FDocumentStatus"], "FPOSTED": status["FPOSTED"],
            "FINVALID": status["FInvalid"], "FMODIFYDATE": kd_time(v.modified),
            "FCREATEDATE": kd_time(v.created), "FAUDITDATE": kd_time(v.audited_at),
            "FPOSTDATE": kd_time(v.posted_at), "FCREATORID.FNAME": v.preparer,
            "FCHECKERID.FNAME": v.reviewer, "FPOSTERID.FNAME": v.poster,
            "FDEBITTOTAL": v.debit_total, "FCREDITTOTAL": v.credit_total,
            self.external_ref_field.upper(): v.external_ref,
        }
        if k in head:
            return head[k]
        if not is_entry_field(k):
            raise _Fail(f"字段 {key} 不存在", MSG_NO_SUCH_VALUE, field=key)
        if entry is None:
            return None
        seq, e = entry
        body = {"FEXPLANATION": e.summary, "FACCOUNTID.FNUMBER": e.account_code,
                "FACCOUNTID.FNAME": self.ledger.accounts.get(e.account_code), "FDEBIT": e.debit, "FCREDIT": e.credit,
                "FENTRYID": v.id * 100 + seq, "FSEQ": seq}
        if k in body:
            return body[k]
        flex = re.fullmatch(r"FDETAILID\.(FFLEX\d+)\.FNUMBER", k)
        if flex:
            return e.auxiliary.get(flex.group(1))
        raise _Fail(f"字段 {key} 不存在", MSG_NO_SUCH_VALUE, field=key)

    def _known(self, key: str) -> bool:
        k = key.upper()
        return (k in HEAD_FIELDS or k == self.external_ref_field.upper() or k in ENTRY_VALUES
                or re.fullmatch(r"FDETAILID\.FFLEX\d+\.FNUMBER", k) is not None)

    def _rows(self, data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        keys = [k.strip() for k in str(data.get("FieldKeys") or "").split(",") if k.strip()]
        if not keys:
            raise _Fail("FieldKeys 不能为空", MSG_BAD_PARAMETER)
        filter_string = str(data.get("FilterString") or "")
        order_string = str(data.get("OrderString") or "")
        try:
            predicate = parse_filter(filter_string)
        except ValueError as exc:
            raise _Fail(str(exc), MSG_BAD_PARAMETER)
        order = [o.strip().split() for o in order_string.split(",") if o.strip()]
        unknown = [k for k in keys + filter_fields(filter_string) + [o[0] for o in order] if not self._known(k)]
        if unknown:
            raise _Fail(f"字段 {unknown[0]} 不存在", MSG_NO_SUCH_VALUE, field=unknown[0])
        per_entry = any(is_entry_field(k) for k in keys + filter_fields(filter_string) + [o[0] for o in order])
        found: list[tuple[StoredVoucher, tuple[int, StoredEntry] | None]] = []
        for v in sorted(self.vouchers, key=lambda v: v.id):
            lines: list[tuple[int, StoredEntry] | None] = list(enumerate(v.entries, 1)) if per_entry else [None]
            for line in lines:
                if predicate(lambda key, v=v, line=line: self._field(v, line, key)):
                    found.append((v, line))
        for parts in reversed(order):
            descending = len(parts) > 1 and parts[1].upper() == "DESC"
            found.sort(key=lambda row, f=parts[0]: (self._field(row[0], row[1], f) is None,
                                                   self._field(row[0], row[1], f) or ""), reverse=descending)
        start = int(data.get("StartRow") or 0)
        limit = int(data.get("Limit") or 0) or int(data.get("TopRowCount") or 0) or 2000
        return keys, [[self._field(v, line, k) for k in keys] for v, line in found[start:start + limit]]

    def _op_executebillquery(self, body: Any, data: dict[str, Any]) -> tuple[Any, bool]:
        return self._rows(data)[1], False

    def _op_billquery(self, body: Any, data: dict[str, Any]) -> tuple[Any, bool]:
        keys, rows = self._rows(data)
        return [dict(zip(keys, row)) for row in rows], False


def _json(payload: Any) -> Response:
    """K/3 Cloud's JSON: amounts as numbers with ten decimals (its decimal(23,10) columns), never via float."""
    return Response(json_bytes(payload, places=10).decode("utf-8"), content_type="application/json", charset="utf-8")
