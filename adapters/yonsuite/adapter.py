"""Yonyou BIP / YonSuite (用友 BIP 旗舰版) open-platform adapter for general-ledger vouchers.

Authentication: a self-built application's ``access_token`` (adapters/yonsuite/auth.py),
fetched with the app key and secret, kept until shortly before it expires, sent as the
``access_token`` query parameter. A token the gateway refuses is fetched again once;
refused again, it is ``auth_failed`` and never retried.

Calls (``POST <gateway>/yonbip/fi/ficloud/openapi/voucher/<op>?access_token=..``, JSON):

* ``addVoucher`` (凭证保存) with ``{"accbookCode", "voucherTypeCode", "makeTime":
  "YYYY-MM-DD", "attachedBill", "makerMobile"|"makerEmail", <reference field>,
  "bodies": [{"description", "accsubjectCode", "debitOriginal", "debitOrg",
  "creditOriginal", "creditOrg", "rateType": "01", "rateOrg": 1, "busidate"}]}``
  -> ``{"code": "200", "data": {"voucherId", "billCode", "voucherStatus"}}``; amounts
  are JSON numbers with two decimals (written from Decimal, never through float);
* ``queryVouchers`` (凭证列表查询) with ``{"accbookCode", "pager": {"pageIndex",
  "pageSize"}, <reference field>: ref}`` -> ``{"code": "200", "data": {"recordCount",
  "recordList": [{"header": {..}, "body": [..]}]}}``, for the look-up by reference
  (the records are checked for the reference here too, whatever the site filtered),
  for reading back and for polling.

Replies carry ``code`` ``"200"`` on success; otherwise ``message`` is the system's own
words (a closed period says 结账). ``310036`` is a token the gateway refuses;
``310504``/``310074`` a voucher that already exists. Voucher status
(``header.voucherstatus``): ``01`` saved (保存), ``03`` audited (审核), ``04`` posted
(记账), ``05`` void (作废). Reversal is always a red voucher (红字冲销): the adapter
knows no delete call.

**Where the external reference lives**: in the voucher header field named by
``external_ref_field`` (default ``IA_ExtRef``), a header 自定义项 an administrator adds
once so that it is stored and can be filtered on (docs/accounting-systems.md).

Settings (``accounting.`` prefix optional): ``url`` (the gateway, e.g.
``https://c2.yonyoucloud.com/iuap-api-gateway``) or ``tenant_id`` (and ``datacenter_url``,
default ``https://apigateway.yonyoucloud.com``) to look the gateway up; ``token_url``
(default: the gateway); ``app_key``, ``app_secret``; ``accbook_code`` (账簿编码, the
``posting.book`` drafts carry); ``voucher_types`` (``记=1,收=2,付=3,转=4``); ``maker_mobile``
or ``maker_email`` (the maker user); ``external_ref_field``; ``page_size`` (100);
``token_margin`` (300 s); ``connect_timeout``, ``read_timeout``, ``verify_tls``,
``ca_bundle``.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from zope.interface import implementer

from invoice_archive_adapters._http import HttpTransport, Settings, json_bytes
from invoice_archive_adapters.yonsuite import auth
from invoice_archive.ports.accounting import (
    EXTERNAL_REF_RE,
    AccountingError,
    CheckResult,
    DraftEntry,
    DraftVoucher,
    IAccountingSystem,
    Outcome,
    PostResult,
    RemoteStatus,
    RemoteVoucher,
    post_unless_exists,
)

log = logging.getLogger(__name__)
LABEL = "用友 BIP"
API = "/yonbip/fi/ficloud/openapi/voucher"
OK = "200"
TOKEN_REFUSED = frozenset({"310036"})
ALREADY_EXISTS = frozenset({"310504", "310074"})
STATUSES = {"00": RemoteStatus.SAVED, "01": RemoteStatus.SAVED, "02": RemoteStatus.SAVED,
            "03": RemoteStatus.AUDITED, "04": RemoteStatus.POSTED, "05": RemoteStatus.VOID}


def _pairs(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in (p.strip() for p in text.split(",")) if "=" in part)


def _name(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("name") or value.get("code")
    return value or None


@implementer(IAccountingSystem)
class YonSuiteAdapter:
    name = "yonsuite"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        s = Settings(settings)
        self.app_key = s.require("app_key")
        self.app_secret = s.require("app_secret")
        self.accbook_code = s.require("accbook_code")
        self.voucher_types = _pairs(str(s.get("voucher_types", "记=1,收=2,付=3,转=4")))
        self.maker = {k: str(s.get(name)) for k, name in (("makerMobile", "maker_mobile"), ("makerEmail", "maker_email"))
                      if s.get(name)}
        self.external_ref_field = str(s.get("external_ref_field", "IA_ExtRef"))
        if not re.fullmatch(r"[A-Za-z_]\w*", self.external_ref_field):
            raise AccountingError("configuration_error", "accounting.external_ref_field 必须是字段编码，如 IA_ExtRef")
        self.page_size = s.int("page_size", 100)
        self.token_margin = s.float("token_margin", 300)
        self._settings = s
        gateway = s.get("url")
        if gateway is None and s.get("tenant_id") is None:
            raise AccountingError("configuration_error", "记账系统配置缺少 accounting.url（网关地址）或 accounting.tenant_id",
                                  retryable=False)
        self.http: HttpTransport | None = None
        self.token_http: HttpTransport | None = None
        if gateway is not None:
            self._connect(str(gateway), str(s.get("token_url", gateway)))
        self._token: str | None = None
        self._token_until = 0.0
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    def close(self) -> None:
        for transport in {id(t): t for t in (self.http, self.token_http) if t is not None}.values():
            transport.close()

    # -- gateway and token ---------------------------------------------------------------------
    def _connect(self, gateway: str, token_url: str) -> None:
        headers = {"Content-Type": "application/json;charset=UTF-8", "Accept": "application/json",
                   "User-Agent": "invoice-archive (YonBIP OpenAPI client)"}
        self.http = HttpTransport.from_settings(Settings({"url": gateway, **self._options()}), system_label=LABEL,
                                                headers=headers)
        self.token_http = self.http if token_url.rstrip("/") == gateway.rstrip("/") else HttpTransport.from_settings(
            Settings({"url": token_url, **self._options()}), system_label=LABEL, headers=headers)

    def _options(self) -> dict[str, Any]:
        return {k: self._settings.get(k) for k in ("connect_timeout", "read_timeout", "verify_tls", "ca_bundle")
                if self._settings.get(k) is not None}

    def _find_gateway(self) -> None:
        """The tenant's gateway, from the data centre (when the settings name a tenant)."""
        centre = HttpTransport.from_settings(Settings({
            "url": str(self._settings.get("datacenter_url", "https://apigateway.yonyoucloud.com")),
            **self._options()}), system_label=LABEL)
        try:
            response = centre.send("GET", auth.GATEWAY_PATH, params={"tenantId": str(self._settings.get("tenant_id"))})
            result = self._json(response)
        finally:
            centre.close()
        data = result.get("data") or {}
        if result.get("code") != auth.OK or not data.get("gatewayUrl"):
            raise AccountingError("configuration_error", f"{LABEL}数据中心没有租户 {self._settings.get('tenant_id')} 的网关："
                                                         f"{result.get('message') or result.get('code')}", retryable=False)
        self._connect(data["gatewayUrl"], data.get("tokenUrl") or data["gatewayUrl"])

    def _auth_failed(self, message: str) -> AccountingError:
        self._token = None
        return AccountingError(
            "auth_failed", f"{LABEL}认证失败：{message}。请检查自建应用的 appKey、appSecret 及接口授权；此错误不会自动重试",
            retryable=False, system_message=message)

    def _access_token(self) -> str:
        with self._lock:
            if self.http is None:
                self._find_gateway()
            if self._token is not None and time.monotonic() < self._token_until:
                return self._token
            assert self.token_http is not None
            params = auth.token_params(self.app_key, self.app_secret, int(time.time() * 1000))
            response = self.token_http.send("GET", auth.TOKEN_PATH, params=params)
            if response.status_code in (401, 403):
                raise self._auth_failed(f"HTTP {response.status_code}")
            result = self._json(response)
            data = result.get("data") or {}
            if result.get("code") != auth.OK or not data.get("access_token"):
                raise self._auth_failed(str(result.get("message") or result.get("code")))
            self.tokens_fetched += 1
            self._token = str(data["access_token"])
            self._token_until = time.monotonic() + max(0.0, float(data.get("expire") or 7200) - self.token_margin)
            return self._token

    # -- calls ------------------------------------------------------------------------------------
    @staticmethod
    def _json(response: Any) -> dict[str, Any]:
        if response.status_code in (429, 502, 503):
            raise AccountingError("busy", f"{LABEL}繁忙（HTTP {response.status_code}），请稍后重试", retryable=True)
        if response.status_code == 404:
            raise AccountingError("configuration_error", f"{LABEL}没有接口 {response.request.url.path}（HTTP 404），"
                                                         f"请检查 accounting.url", retryable=False)
        if response.status_code >= 500:
            raise AccountingError("timeout_outcome_unknown",
                                  f"{LABEL}处理出错（HTTP {response.status_code}），请求可能已被处理", retryable=True)
        try:
            result = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise AccountingError("protocol_error", f"{LABEL}返回了非 JSON 内容（HTTP {response.status_code}）")
        if not isinstance(result, dict):
            raise AccountingError("protocol_error", f"{LABEL}返回的内容无法识别")
        return result

    def _call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """One business call; a refused token is fetched again once (the gateway refuses
        it before doing anything, so sending again cannot write twice)."""
        for attempt in (1, 2):
            fresh = self._token is None
            token = self._access_token()
            assert self.http is not None
            response = self.http.send("POST", f"{API}/{operation}", params={"access_token": token},
                                      content=json_bytes(body))
            refused = response.status_code == 401
            result = None if refused else self._json(response)
            if not refused and str(result.get("code")) not in TOKEN_REFUSED:
                return result
            message = f"HTTP {response.status_code}" if refused else str(result.get("message") or result.get("code"))
            if fresh or attempt == 2:
                raise self._auth_failed(message)
            with self._lock:
                self._token = None
        raise AssertionError("unreachable")

    # -- reading ----------------------------------------------------------------------------------
    def _records(self, **filters: Any) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        page = 1
        while True:
            result = self._call("queryVouchers", {"accbookCode": self.accbook_code, **filters,
                                                  "pager": {"pageIndex": page, "pageSize": self.page_size}})
            if str(result.get("code")) != OK:
                message = str(result.get("message") or result.get("code"))
                raise AccountingError("query_failed", f"{LABEL}查询凭证失败：{message}", retryable=False,
                                      system_message=message, raw=result)
            data = result.get("data") or {}
            batch = data.get("recordList") or []
            records.extend(batch)
            if not batch or len(records) >= int(data.get("recordCount") or 0):
                return records
            page += 1

    def _remote(self, record: Mapping[str, Any]) -> RemoteVoucher:
        words = {code: word for word, code in self.voucher_types.items()}
        try:
            head = record["header"]
            year, period = (int(x) for x in str(head["period"]).split("-")[:2])
            entries = tuple(DraftEntry(
                str(b.get("description") or ""), str((b.get("accsubject") or {}).get("code")),
                Decimal(str(b.get("debitorg") or 0)).quantize(Decimal("0.01")),
                Decimal(str(b.get("creditorg") or 0)).quantize(Decimal("0.01")),
                account_name=(b.get("accsubject") or {}).get("name")) for b in record.get("body") or [])
            pubts = head.get("pubts")
            updated = dt.datetime.fromisoformat(str(pubts)).replace(tzinfo=dt.timezone(dt.timedelta(hours=8))) \
                if pubts else None
            vouchertype = head.get("vouchertype") or {}
            return RemoteVoucher(
                system_id=str(head["id"]), voucher_number=str(head["billcode"]),
                external_ref=head.get(self.external_ref_field) or None, fiscal_year=year, period=period,
                date=dt.date.fromisoformat(str(head["maketime"])[:10]),
                status=STATUSES.get(str(head.get("voucherstatus")), RemoteStatus.SAVED), entries=entries,
                updated_at=updated, voucher_word=words.get(str(vouchertype.get("code")), vouchertype.get("name") or "记"),
                book=(head.get("accbook") or {}).get("code") if isinstance(head.get("accbook"), dict) else None,
                preparer=_name(head.get("maker")), reviewer=_name(head.get("auditor")),
                poster=_name(head.get("tallyman")), attachment_count=int(head.get("attachedbill") or 0),
                raw=dict(head))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise AccountingError("protocol_error", f"{LABEL}返回的凭证数据无法识别：{exc!r}") from exc

    def find_by_external_ref(self, ref: str) -> RemoteVoucher | None:
        if not EXTERNAL_REF_RE.match(ref):
            return None
        found = [self._remote(r) for r in self._records(**{self.external_ref_field: ref})
                 if (r.get("header") or {}).get(self.external_ref_field) == ref]
        if len(found) > 1:
            log.error("%d YonBIP vouchers carry external ref %s", len(found), ref)
        return found[0] if found else None

    def pull_changes(self, since: str | None) -> tuple[list[RemoteVoucher], str]:
        """Watermark ``<pubts>|<id>``: the last change seen (header ``pubts``) and its voucher."""
        mark: tuple[dt.datetime, str] | None = None
        if since:
            text, _, ident = since.partition("|")
            mark = (dt.datetime.fromisoformat(text), ident)
        changes = sorted((v for v in (self._remote(r) for r in self._records()) if v.updated_at is not None),
                         key=lambda v: (v.updated_at, v.system_id))
        if mark is not None:
            changes = [v for v in changes if (v.updated_at, v.system_id) > mark]
        if not changes:
            return [], since or ""
        last = changes[-1]
        return changes, f"{last.updated_at.isoformat()}|{last.system_id}"

    # -- writing ----------------------------------------------------------------------------------
    def _body(self, draft: DraftVoucher) -> dict[str, Any]:
        kind = self.voucher_types.get(draft.voucher_word)
        if kind is None:
            raise AccountingError("validation_failed", f"凭证字「{draft.voucher_word}」没有对应的用友凭证类型编码，"
                                                       f"请在 accounting.voucher_types 中配置")
        if draft.book != self.accbook_code:
            raise AccountingError("validation_failed", f"凭证的账簿 {draft.book} 与 accounting.accbook_code "
                                                       f"{self.accbook_code} 不一致，请核对 posting.book")
        return {"accbookCode": draft.book, "voucherTypeCode": kind, "makeTime": draft.date.isoformat(),
                "attachedBill": draft.attachment_count, **self.maker, self.external_ref_field: draft.external_ref,
                "bodies": [{"description": e.summary, "accsubjectCode": e.account_code,
                            "debitOriginal": e.debit, "debitOrg": e.debit, "creditOriginal": e.credit,
                            "creditOrg": e.credit, "rateType": "01", "rateOrg": 1,
                            "busidate": draft.date.isoformat()} for e in draft.entries]}

    def _save(self, draft: DraftVoucher) -> PostResult:
        try:
            body = self._body(draft)
        except AccountingError as exc:
            return PostResult(Outcome.REJECTED, message=exc.message, code=exc.code)
        try:
            result = self._call("addVoucher", body)
        except AccountingError as exc:
            if exc.code in ("auth_failed", "configuration_error"):
                raise
            if exc.code in ("unreachable", "busy"):
                return PostResult.retryable(exc.message, code=exc.code)
            return PostResult.unknown(exc.message + f"；请先按外部参考号 {draft.external_ref} 查询")
        code = str(result.get("code"))
        if code in ALREADY_EXISTS:
            found = self.find_by_external_ref(draft.external_ref)
            if found is not None:
                return PostResult.existing(found)
        if code != OK:
            message = str(result.get("message") or f"{LABEL}未保存凭证（code {code}）")
            return PostResult(Outcome.REJECTED, message=message, raw=result,
                              code="period_closed" if "结账" in message else "validation_failed")
        data = result.get("data") or {}
        status = data.get("voucherStatus")
        return PostResult(Outcome.POSTED, str(data.get("billCode")), str(data.get("voucherId")), raw=result,
                          remote_status=STATUSES.get(str(status)) if status is not None else None)

    # -- the port -----------------------------------------------------------------------------------
    def check(self, draft: DraftVoucher) -> CheckResult:
        """No dry-run call: the draft is checked locally with the rules addVoucher applies."""
        problems = draft.problems()
        try:
            self._body(draft)
        except AccountingError as exc:
            problems.append(exc.message)
        return CheckResult(not problems, tuple(problems), code="validation_failed" if problems else None)

    def post(self, draft: DraftVoucher) -> PostResult:
        return post_unless_exists(self, draft, self._save)

    def reverse(self, system_id: str, *, date: dt.date, reason: str, external_ref: str) -> PostResult:
        try:
            existing = self.find_by_external_ref(external_ref)
            if existing is not None:
                return PostResult.existing(existing)
            originals = [v for v in (self._remote(r) for r in self._records()) if v.system_id == str(system_id)]
        except AccountingError as exc:
            if not exc.retryable:
                raise
            return PostResult.retryable(f"冲销前查询失败，未提交：{exc.message}", code=exc.code)
        if not originals:
            return PostResult(Outcome.REJECTED, message=f"{LABEL}中没有 ID 为 {system_id} 的凭证", code="not_found")
        original = originals[0]
        if original.status is RemoteStatus.VOID:
            return PostResult(Outcome.REJECTED, message=f"凭证 {original.voucher_number} 已作废，不能冲销",
                              code="validation_failed")
        summary = f"冲销 {original.voucher_word}-{original.voucher_number}号凭证 {reason}".strip()
        return self._save(DraftVoucher(
            external_ref=external_ref, book=self.accbook_code, voucher_word=original.voucher_word,
            fiscal_year=date.year, period=date.month, date=date, preparer=original.preparer or "", attachment_count=0,
            entries=tuple(DraftEntry(summary, e.account_code, -e.debit, -e.credit) for e in original.entries)))
