"""Kingdee K/3 Cloud (金蝶云星空) WebAPI adapter for general-ledger vouchers (GL_VOUCHER).

Operations used (all ``POST <url>/Kingdee.BOS.WebApi.ServicesStub.<Service>.common.kdsvc``):

* ``DynamicFormService.Save`` with ``{"formid": "GL_VOUCHER", "data": {"Model": {...},
  "NeedReturnFields": [...], "IsAutoSubmitAndAudit": bool}}``;
* ``DynamicFormService.ExecuteBillQuery`` with ``{"data": {"FormId": "GL_VOUCHER",
  "FieldKeys": "...", "FilterString": "...", "OrderString": "...", "StartRow": n, "Limit": n}}``
  for the look-up by external reference, for polling and for reading a voucher
  to reverse (one row per entry, a bare array of arrays);
* ``AuthService.LoginBySign`` when ``auth = session``.

**Where the external reference lives**: in a header-level custom text field of
GL_VOUCHER, ``F_IA_ExtRef`` by default (setting ``external_ref_field``). An
administrator adds it once with the BOS designer (扩展 GL_VOUCHER, 文本, length
>= 64) so that it can be filtered on. The reference is not written into the
entry explanations (摘要), which stay readable for people.

Replies: ``Result.ResponseStatus{IsSuccess, Errors[{FieldName, Message}],
SuccessEntitys[{Id, Number}], MsgCode}``. ``MsgCode 1`` (session lost) is how
K/3 Cloud answers any authentication failure: raised as ``auth_failed`` and
never retried. A session (``auth = session``) is renewed before it reaches
``session_max_age`` seconds, below K/3 Cloud's idle timeout, so a live session
is never lost in normal operation.

Status: ``FInvalid`` -> void; ``FPOSTED`` -> posted; ``FDocumentStatus`` C
(audited) -> audited; A/B/D -> saved. Reversal: a new voucher with red-letter
(negative) amounts on the same sides, explanation ``冲销 记-<n>号凭证 <reason>``.

Settings (``accounting.`` prefix optional): ``url`` (the site, e.g.
``http://erp/K3Cloud``), ``acct_id``, ``username``, ``app_id``, ``app_secret``,
``lcid`` (2052), ``org_num`` (0), ``auth`` (``signature`` | ``session``),
``external_ref_field`` (``F_IA_ExtRef``), ``voucher_groups`` (``记=PRE001,收=PRE002,
付=PRE003,转=PRE004``), ``flex_fields`` (``supplier=FFLEX4,department=FFLEX5,
employee=FFLEX7``), ``auto_audit`` (false), ``session_max_age`` (600),
``connect_timeout``, ``read_timeout``, ``verify_tls``, ``ca_bundle``.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from zope.interface import implementer

from invoice_archive_adapters._http import HttpTransport, Settings
from invoice_archive_adapters.kingdee import signing
from invoice_archive.ports.accounting import (
    EXTERNAL_REF_RE,
    post_unless_exists,
    AccountingError,
    CheckResult,
    DraftEntry,
    DraftVoucher,
    IAccountingSystem,
    Outcome,
    PostResult,
    RemoteStatus,
    RemoteVoucher,
)

log = logging.getLogger(__name__)
LABEL = "金蝶云星空"
STUB = "Kingdee.BOS.WebApi.ServicesStub"
FORM = "GL_VOUCHER"
PAGE = 2000
HEAD_KEYS = ["FVOUCHERID", "FVOUCHERGROUPNO", "FVOUCHERGROUPID.FNumber", "FAccountBookID.FNumber", "FYEAR",
             "FPERIOD", "FDate", "FDocumentStatus", "FPOSTED", "FInvalid", "FModifyDate", "FAuditDate",
             "FPOSTDATE", "FCreatorId.FName", "FCHECKERID.FName", "FPOSTERID.FName", "FATTACHMENTS"]
ENTRY_KEYS = ["FEXPLANATION", "FACCOUNTID.FNumber", "FACCOUNTID.FName", "FDEBIT", "FCREDIT"]
_DEC = "\x00DEC:"


def _pairs(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in (p.strip() for p in text.split(",")) if "=" in part)


def _dumps(payload: Any) -> bytes:
    """JSON with Decimals written as exact JSON numbers (never through float)."""
    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{_DEC}{value:.2f}"
        raise TypeError(type(value).__name__)
    text = json.dumps(payload, ensure_ascii=False, default=mark)
    return re.sub(r'"\\u0000DEC:(-?\d+\.\d+)"', r"\1", text).encode("utf-8")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _kd_datetime(text: Any) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(str(text))
    return value if value.tzinfo else value.astimezone()  # server-local time, as K/3 Cloud keeps it


@implementer(IAccountingSystem)
class K3CloudAdapter:
    name = "kingdee"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        s = Settings(settings)
        self.acct_id = s.require("acct_id")
        self.username = s.require("username")
        self.app_id = s.require("app_id")
        self.app_secret = s.require("app_secret")
        self.lcid = s.int("lcid", 2052)
        self.org_num = str(s.get("org_num", 0))
        self.auth = str(s.get("auth", "signature")).lower()
        if self.auth not in ("signature", "session"):
            raise AccountingError("configuration_error", f"accounting.auth 只能是 signature 或 session，收到 {self.auth}")
        self.external_ref_field = str(s.get("external_ref_field", "F_IA_ExtRef"))
        if not re.fullmatch(r"F\w+", self.external_ref_field):
            raise AccountingError("configuration_error", "accounting.external_ref_field 必须是金蝶字段标识，如 F_IA_ExtRef")
        self.voucher_groups = _pairs(str(s.get("voucher_groups", "记=PRE001,收=PRE002,付=PRE003,转=PRE004")))
        self.flex_fields = _pairs(str(s.get("flex_fields", "supplier=FFLEX4,department=FFLEX5,employee=FFLEX7")))
        self.auto_audit = s.bool("auto_audit", False)
        self.session_max_age = s.float("session_max_age", 600)
        self.http = HttpTransport.from_settings(s, system_label=LABEL,
                                                headers={"Accept-Charset": "utf-8",
                                                         "Content-Type": "application/json"})
        self._base_path = urlsplit(self.http.base_url).path.rstrip("/")
        self._session: str | None = None
        self._session_at = 0.0
        self._session_lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    # -- transport ---------------------------------------------------------------------------------
    def _auth_failed(self, message: str) -> AccountingError:
        self._session = None
        return AccountingError(
            "auth_failed",
            f"{LABEL}认证失败：{message}。请检查账套 ID、集成用户、应用 ID/密钥及「第三方系统登录授权」"
            f"是否有效；此错误不会自动重试", retryable=False, system_message=message)

    def _login(self) -> None:
        timestamp = str(int(time.time()))
        sign = signing.login_sign(self.acct_id, self.username, self.app_id, self.app_secret, timestamp)
        response = self.http.send("POST", f"/{STUB}.AuthService.LoginBySign.common.kdsvc", content=_dumps(
            {"parameters": [self.acct_id, self.username, self.app_id, timestamp, sign, self.lcid]}))
        try:
            result = response.json()
        except ValueError:
            raise AccountingError("protocol_error", f"{LABEL}登录接口返回了非 JSON 内容（HTTP {response.status_code}）",
                                  retryable=response.status_code >= 500)
        if result.get("LoginResultType") not in (1, -5):  # -5: 登录成功但需要修改密码 (still a session)
            raise self._auth_failed(str(result.get("Message") or f"LoginResultType={result.get('LoginResultType')}"))
        session = result.get("KDSVCSessionId") or response.cookies.get("kdservice-sessionid")
        if not session:
            raise AccountingError("protocol_error", f"{LABEL}登录成功但未返回会话 ID")
        self._session, self._session_at = session, time.monotonic()

    def _call(self, operation: str, body: dict[str, Any]) -> Any:
        path = f"/{STUB}.DynamicFormService.{operation}.common.kdsvc"
        headers: dict[str, str] = {}
        if self.auth == "session":
            with self._session_lock:
                if self._session is None or time.monotonic() - self._session_at > self.session_max_age:
                    self._login()
                headers["Cookie"] = f"kdservice-sessionid={self._session}"
        else:
            headers.update(signing.signed_headers(
                self._base_path + path, acct_id=self.acct_id, username=self.username, app_id=self.app_id,
                app_secret=self.app_secret, lcid=self.lcid, org_num=self.org_num, nonce=uuid.uuid4().hex))
        response = self.http.send("POST", path, content=_dumps(body), headers=headers)
        if response.status_code in (429, 502, 503):
            raise AccountingError("busy", f"{LABEL}繁忙（HTTP {response.status_code}），请稍后重试", retryable=True)
        if response.status_code == 404:
            raise AccountingError("configuration_error", f"{LABEL}没有接口 {path}（HTTP 404），请检查 accounting.url")
        if response.status_code >= 500:
            raise AccountingError("timeout_outcome_unknown",
                                  f"{LABEL}处理出错（HTTP {response.status_code}），请求可能已被处理", retryable=True)
        try:
            result = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise AccountingError("protocol_error", f"{LABEL}返回了非 JSON 内容（HTTP {response.status_code}）")
        status = self._response_status(result)
        if status is not None and not status.get("IsSuccess") and status.get("MsgCode") == 1:
            raise self._auth_failed(self._messages(status) or "会话信息已丢失")
        return result

    @staticmethod
    def _response_status(result: Any) -> dict[str, Any] | None:
        if isinstance(result, list) and result and isinstance(result[0], list) and result[0] \
                and isinstance(result[0][0], dict):
            result = result[0][0]  # ExecuteBillQuery wraps its errors as [[{"Result": ...}]]
        if isinstance(result, dict):
            status = (result.get("Result") or {}).get("ResponseStatus")
            return status if isinstance(status, dict) else None
        return None

    @staticmethod
    def _messages(status: Mapping[str, Any]) -> str:
        return "；".join(str(e.get("Message")) for e in status.get("Errors") or [] if e.get("Message"))

    # -- queries ----------------------------------------------------------------------------------------
    def _query(self, filter_string: str, order: str = "FVOUCHERID ASC") -> list[RemoteVoucher]:
        keys = HEAD_KEYS + [self.external_ref_field] + ENTRY_KEYS + \
            [f"FDetailID.{flex}.FNumber" for flex in self.flex_fields.values()]
        rows: list[list[Any]] = []
        start = 0
        while True:
            result = self._call("ExecuteBillQuery", {"data": {
                "FormId": FORM, "FieldKeys": ",".join(keys), "FilterString": filter_string,
                "OrderString": order, "TopRowCount": 0, "StartRow": start, "Limit": PAGE, "SubSystemId": ""}})
            status = self._response_status(result)
            if status is not None:
                raise AccountingError("query_failed", f"{LABEL}查询凭证失败：{self._messages(status)}",
                                      retryable=False, system_message=self._messages(status), raw=result)
            if not isinstance(result, list):
                raise AccountingError("protocol_error", f"{LABEL}查询结果格式无法识别", raw=result)
            rows.extend(result)
            if len(result) < PAGE:
                break
            start += PAGE
        return self._group(rows, keys)

    def _group(self, rows: list[list[Any]], keys: list[str]) -> list[RemoteVoucher]:
        by_id: dict[str, dict[str, Any]] = {}
        aux_keys = {f"FDetailID.{flex}.FNumber": name for name, flex in self.flex_fields.items()}
        words = {group: word for word, group in self.voucher_groups.items()}
        try:
            for row in rows:
                r = dict(zip(keys, row))
                head = by_id.setdefault(str(r["FVOUCHERID"]), {"row": r, "entries": []})
                head["entries"].append(DraftEntry(
                    str(r["FEXPLANATION"] or ""), str(r["FACCOUNTID.FNumber"]),
                    Decimal(str(r["FDEBIT"] or 0)).quantize(Decimal("0.01")),
                    Decimal(str(r["FCREDIT"] or 0)).quantize(Decimal("0.01")),
                    {name: str(r[k]) for k, name in aux_keys.items() if r.get(k)},
                    r.get("FACCOUNTID.FName")))
            vouchers = []
            for system_id, item in by_id.items():
                r = item["row"]
                if r["FInvalid"] in (True, "1", "true", "True"):
                    status = RemoteStatus.VOID
                elif r["FPOSTED"] in (True, "1", "true", "True"):
                    status = RemoteStatus.POSTED
                elif r["FDocumentStatus"] == "C":
                    status = RemoteStatus.AUDITED
                else:
                    status = RemoteStatus.SAVED
                stamps = [s for s in (_kd_datetime(r[k]) for k in ("FModifyDate", "FAuditDate", "FPOSTDATE")) if s]
                vouchers.append(RemoteVoucher(
                    system_id=system_id, voucher_number=str(r["FVOUCHERGROUPNO"]),
                    external_ref=r.get(self.external_ref_field) or None, fiscal_year=int(r["FYEAR"]),
                    period=int(r["FPERIOD"]), date=dt.date.fromisoformat(str(r["FDate"])[:10]), status=status,
                    entries=tuple(item["entries"]), updated_at=max(stamps) if stamps else None,
                    voucher_word=words.get(r["FVOUCHERGROUPID.FNumber"], r["FVOUCHERGROUPID.FNumber"]),
                    book=r["FAccountBookID.FNumber"], preparer=r["FCreatorId.FName"],
                    reviewer=r["FCHECKERID.FName"], poster=r["FPOSTERID.FName"],
                    attachment_count=int(r["FATTACHMENTS"] or 0), raw=r))
            return vouchers
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise AccountingError("protocol_error", f"{LABEL}返回的凭证数据无法识别：{exc!r}") from exc

    # -- building the Save body ---------------------------------------------------------------------
    def _model(self, draft: DraftVoucher) -> dict[str, Any]:
        group = self.voucher_groups.get(draft.voucher_word)
        if group is None:
            raise AccountingError("validation_failed", f"凭证字「{draft.voucher_word}」没有对应的金蝶凭证字编码，"
                                                       f"请在 accounting.voucher_groups 中配置")
        entries = []
        for e in draft.entries:
            row: dict[str, Any] = {"FEXPLANATION": e.summary, "FACCOUNTID": {"FNumber": e.account_code},
                                   "FDEBIT": e.debit, "FCREDIT": e.credit}
            detail = {f"FDETAILID__{self.flex_fields[k]}": {"FNumber": v} for k, v in e.auxiliary.items()
                      if k in self.flex_fields}
            if detail:
                row["FDetailID"] = detail
            entries.append(row)
        return {"FVOUCHERID": 0, "FAccountBookID": {"FNumber": draft.book}, "FDate": draft.date.isoformat(),
                "FYEAR": draft.fiscal_year, "FPERIOD": draft.period, "FVOUCHERGROUPID": {"FNumber": group},
                "FATTACHMENTS": draft.attachment_count, self.external_ref_field: draft.external_ref,
                "FEntity": entries}

    def _save(self, draft: DraftVoucher) -> PostResult:
        try:
            model = self._model(draft)
        except AccountingError as exc:
            return PostResult(Outcome.REJECTED, message=exc.message, code=exc.code)
        body = {"formid": FORM, "data": {"NeedUpDateFields": [], "NeedReturnFields": ["FVOUCHERGROUPNO", "FBillNo"],
                                         "IsDeleteEntry": "true", "IsVerifyBaseDataField": "true",
                                         "IsAutoSubmitAndAudit": "true" if self.auto_audit else "false",
                                         "Model": model}}
        try:
            result = self._call("Save", body)
        except AccountingError as exc:
            if exc.code == "auth_failed" or exc.code == "configuration_error":
                raise
            if exc.code in ("unreachable", "busy"):
                return PostResult.retryable(exc.message, code=exc.code)
            return PostResult.unknown(exc.message + f"；请先按外部参考号 {draft.external_ref} 查询")
        status = self._response_status(result) or {}
        if status.get("IsSuccess"):
            entity = (status.get("SuccessEntitys") or [{}])[0]
            returned = ((result.get("Result") or {}).get("NeedReturnData") or [{}])[0] or {}
            number = returned.get("FVOUCHERGROUPNO")
            system_id = str(entity.get("Id") or (result.get("Result") or {}).get("Id"))
            if number in (None, ""):
                found = self.find_by_external_ref(draft.external_ref)
                number = found.voucher_number if found else entity.get("Number")
            return PostResult(Outcome.POSTED, str(number), system_id, raw=result)
        message = self._messages(status) or "金蝶云星空未保存凭证，且没有给出原因"
        code = "period_closed" if "结账" in message else "validation_failed"
        return PostResult(Outcome.REJECTED, message=message, code=code, raw=result)

    # -- the port -----------------------------------------------------------------------------------
    def check(self, draft: DraftVoucher) -> CheckResult:
        """K/3 Cloud has no dry-run Save: the draft is checked locally with the rules
        Save applies (balance, one side per entry, voucher word known)."""
        problems = draft.problems()
        if draft.voucher_word not in self.voucher_groups:
            problems.append(f"凭证字「{draft.voucher_word}」没有对应的金蝶凭证字编码")
        unknown = sorted({k for e in draft.entries for k in e.auxiliary} - set(self.flex_fields))
        if unknown:
            problems.append(f"核算维度 {', '.join(unknown)} 未在 accounting.flex_fields 中配置，将不会传给金蝶")
        return CheckResult(not problems, tuple(problems), code="validation_failed" if problems else None)

    def post(self, draft: DraftVoucher) -> PostResult:
        return post_unless_exists(self, draft, self._save)

    def find_by_external_ref(self, ref: str) -> RemoteVoucher | None:
        if not EXTERNAL_REF_RE.match(ref):
            return None
        found = self._query(f"{self.external_ref_field} = {_quote(ref)}")
        if len(found) > 1:
            log.error("%d K/3 Cloud vouchers carry external ref %s", len(found), ref)
        return found[0] if found else None

    def pull_changes(self, since: str | None) -> tuple[list[RemoteVoucher], str]:
        """Watermark ``<ISO time>|<FVOUCHERID>``: the latest change seen (modified,
        audited or posted time, whichever is latest) and its voucher, so vouchers
        sharing one timestamp are neither repeated nor skipped."""
        mark_time, mark_id = None, 0
        if since:
            text, _, ident = since.partition("|")
            mark_time, mark_id = dt.datetime.fromisoformat(text), int(ident or 0)
        if mark_time is None:
            filter_string = ""
        else:
            local = _quote(mark_time.astimezone().replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds"))
            filter_string = f"(FModifyDate >= {local} or FAuditDate >= {local} or FPOSTDATE >= {local})"
        changes = [v for v in self._query(filter_string) if v.updated_at is not None]
        changes.sort(key=lambda v: (v.updated_at, int(v.system_id)))
        if mark_time is not None:
            changes = [v for v in changes if (v.updated_at, int(v.system_id)) > (mark_time, mark_id)]
        if not changes:
            return [], since or ""
        last = changes[-1]
        return changes, f"{last.updated_at.isoformat()}|{last.system_id}"

    def reverse(self, system_id: str, *, date: dt.date, reason: str, external_ref: str) -> PostResult:
        try:
            existing = self.find_by_external_ref(external_ref)
            originals = self._query(f"FVOUCHERID = {int(system_id)}")
        except AccountingError as exc:
            if not exc.retryable:
                raise
            return PostResult.retryable(f"冲销前查询失败，未提交：{exc.message}", code=exc.code)
        if existing is not None:
            return PostResult(Outcome.POSTED, existing.voucher_number, existing.system_id,
                              message="冲销凭证已存在（同一外部参考号）", already_existed=True, raw=existing.raw)
        if not originals:
            return PostResult(Outcome.REJECTED, message=f"{LABEL}中没有内码为 {system_id} 的凭证", code="not_found")
        original = originals[0]
        if original.status is RemoteStatus.VOID:
            return PostResult(Outcome.REJECTED, message=f"凭证 {original.voucher_number} 已作废，不能冲销",
                              code="validation_failed")
        summary = f"冲销 {original.voucher_word}-{original.voucher_number}号凭证 {reason}".strip()
        draft = DraftVoucher(
            external_ref=external_ref, book=original.book or "", voucher_word=original.voucher_word,
            fiscal_year=date.year, period=date.month, date=date, preparer=self.username,
            attachment_count=0,
            entries=tuple(DraftEntry(summary, e.account_code, -e.debit, -e.credit, e.auxiliary)
                          for e in original.entries))
        return self._save(draft)
