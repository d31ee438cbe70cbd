"""HTTP adapter for a tax platform verification API (wire format: :mod:`invoice_archive_adapters.taxplatform.protocol`).

Options (``taxplatform.`` prefix, or bare keys in a small dict). The service hands
the adapter its own options only, ``Settings.taxplatform.options`` (every
``taxplatform.*`` setting, environment applied), once at start-up; they are
checked here, in the constructor::

    taxplatform.url = https://check.example.com        (required)
    taxplatform.token = ...                             (sent as "Authorization: Bearer ...")
    taxplatform.connect_timeout = 3
    taxplatform.read_timeout = 10
    taxplatform.verify_tls = true                       (or taxplatform.ca_bundle = /path/ca.pem)
    taxplatform.max_age_days = 365                      (older invoices: not_checkable_online, no call)
    taxplatform.posting.status.* / taxplatform.posting.purpose.*   (see PostingCodes)

httpx (``httpx>=0.27,<1``) with explicit per-phase timeouts. A check is
read-only: no answer (connect error, read timeout, 5xx, busy) gives
``unavailable`` (retryable). A posting-status submission that gets no answer
raises a retryable :class:`TaxPlatformError`; resend the same
:class:`PostingStatus`: its idempotency key makes the platform answer
``duplicate`` instead of recording it twice. No automatic retries here.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Self

import httpx
from zope.interface import implementer

from invoice_archive_adapters.taxplatform import protocol as p
from invoice_archive.ports.taxplatform import (
    CheckQuery, CheckResult, CheckStatus, ITaxPlatform, PostingAck, PostingStatus, TaxPlatformError,
    posting_codes_from_settings,
)
from invoice_archive.rules.tax_checks import DEFAULT_MAX_AGE_DAYS, not_checkable_online

log = logging.getLogger(__name__)

PREFIX = "taxplatform."
LABEL = "税务查验平台"


def _option(options: Mapping[str, Any], key: str, default: Any = None) -> Any:
    for name in (PREFIX + key, key):
        value = options.get(name)
        if value not in (None, ""):
            return value
    return default


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        result = Decimal(str(value).replace(",", ""))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    text = str(value).strip().replace("-", "")
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None


@implementer(ITaxPlatform)
class HttpTaxPlatform:
    """:class:`ITaxPlatform` over HTTP+JSON."""

    def __init__(self, options: Mapping[str, Any], *, clock: Callable[[], dt.datetime] = _utcnow,
                 transport: httpx.BaseTransport | None = None) -> None:
        url = _option(options, "url")
        if not url:
            raise TaxPlatformError("configuration_error", "税务查验平台配置缺少 taxplatform.url，请在配置文件中填写后重启服务",
                                   retryable=False)
        try:
            self.connect_timeout = float(_option(options, "connect_timeout", 3.0))
            self.read_timeout = float(_option(options, "read_timeout", 10.0))
            self.max_age_days = int(_option(options, "max_age_days", DEFAULT_MAX_AGE_DAYS))
            self.codes = posting_codes_from_settings(options)
        except ValueError as exc:
            raise TaxPlatformError("configuration_error", f"税务查验平台配置有误：{exc}", retryable=False) from None
        self.base_url = str(url).rstrip("/")
        self.source = f"taxplatform:{self.base_url}"
        self._clock = clock
        verify: bool | str = _bool(_option(options, "verify_tls", True))
        if _option(options, "ca_bundle"):
            verify = str(_option(options, "ca_bundle"))
        headers = {"Accept": "application/json"}
        token = _option(options, "token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(connect=self.connect_timeout, read=self.read_timeout,
                                  write=self.read_timeout, pool=self.connect_timeout),
            verify=verify, headers=headers, follow_redirects=False, trust_env=False, transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- 查验 ----------------------------------------------------------------------------
    def check(self, query: CheckQuery) -> CheckResult:
        now = self._clock()
        local = not_checkable_online(query, now, max_age_days=self.max_age_days, source=self.source)
        if local is not None:
            return local
        body = self._check_body(query)
        try:
            response = self.client.post(p.CHECK_PATH, json=body)
        except httpx.TimeoutException as exc:
            return self._unavailable(query, now, "timeout",
                                     f"{LABEL}在 {self.read_timeout:g} 秒内没有答复（{exc.__class__.__name__}），"
                                     "本次未完成查验，请稍后重试。")
        except httpx.TransportError as exc:
            return self._unavailable(query, now, "unreachable",
                                     f"无法连接{LABEL}（{exc.__class__.__name__}），本次未完成查验，请稍后重试；"
                                     "若持续失败请检查网络和平台地址。")
        if response.status_code in (429,) or response.status_code >= 500:
            return self._unavailable(query, now, "busy",
                                     f"{LABEL}暂时不可用（HTTP {response.status_code}），请稍后重试。",
                                     raw=self._safe_json(response))
        payload = self._json(response)
        self._raise_for_client_error(response, payload, what="查验请求")
        code = str(payload.get("code", ""))
        message = str(payload.get("message") or "")
        if code == p.OK:
            data = payload.get("data")
            if not isinstance(data, dict):
                raise TaxPlatformError("protocol_error", f"{LABEL}答复缺少发票数据（data），无法判断查验结果",
                                       retryable=False, raw=payload)
            status = p.INVOICE_STATUS.get(str(data.get("invoice_status")))
            if status is None:
                raise TaxPlatformError("protocol_error",
                                       f"{LABEL}返回了未知的发票状态 {data.get('invoice_status')!r}，请联系系统管理员",
                                       retryable=False, raw=payload)
            return CheckResult(
                status=status, business_key=query.business_key, checked_at=now, source=self.source,
                message=self._status_message(status, query, message),
                buyer_name=data.get("buyer_name"), buyer_tax_id=data.get("buyer_tax_id"),
                seller_name=data.get("seller_name"), seller_tax_id=data.get("seller_tax_id"),
                amount_excl_tax=_decimal(data.get("amount_excl_tax")), tax=_decimal(data.get("tax")),
                total=_decimal(data.get("total")), issue_date=_date(data.get("issue_date")), raw=payload,
            )
        if code in (p.NOT_FOUND, p.MISMATCH):
            reason = "查验信息与平台记录不一致" if code == p.MISMATCH else "查无此票"
            return CheckResult(
                status=CheckStatus.NOT_FOUND, business_key=query.business_key, checked_at=now, source=self.source,
                message=(f"发票 {query.business_key}：{reason}（{message or code}）。请核对发票代码、号码、开票日期和"
                         "金额（或校验码）是否与发票一致；一致仍查无此票的，发票可能不真实，请勿报销。"),
                error_code="mismatch" if code == p.MISMATCH else "not_found", raw=payload,
            )
        if code in (p.RATE_LIMITED, p.BUSY):
            return self._unavailable(query, now, "rate_limited" if code == p.RATE_LIMITED else "busy",
                                     f"{LABEL}暂不受理该发票的查验（{message or code}），请稍后（或次日）再查验。",
                                     raw=payload)
        raise TaxPlatformError("rejected", f"{LABEL}拒绝了查验请求：{message or code}", retryable=False, raw=payload)

    def _check_body(self, query: CheckQuery) -> dict[str, Any]:
        if query.total is not None:
            amount, amount_type = str(query.total), "total"
        elif query.amount_excl_tax is not None:
            amount, amount_type = str(query.amount_excl_tax), "excl_tax"
        else:
            amount, amount_type = None, None
        return {
            "invoice_code": query.code,
            "invoice_number": query.number,
            "issue_date": query.issue_date.strftime("%Y%m%d"),
            "amount": amount,
            "amount_type": amount_type,
            "check_code": query.check_code,
        }

    def _unavailable(self, query: CheckQuery, now: dt.datetime, error_code: str, message: str,
                     raw: Any = None) -> CheckResult:
        log.warning("tax platform unavailable for %s: %s", query.business_key, error_code)
        return CheckResult(status=CheckStatus.UNAVAILABLE, business_key=query.business_key, checked_at=now,
                           source=self.source, message=message, error_code=error_code,
                           raw=raw if isinstance(raw, dict) else {})

    @staticmethod
    def _status_message(status: CheckStatus, query: CheckQuery, platform_message: str) -> str:
        if status is CheckStatus.NORMAL:
            return f"发票 {query.business_key} 查验通过，状态正常。"
        if status is CheckStatus.VOIDED:
            return f"发票 {query.business_key} 已被开票方作废，不能报销；请联系开票方重新开具。"
        return (f"发票 {query.business_key} 已被红字发票冲销（红冲），不能报销；"
                "如已报销，请通知财务冲销相应报销单和凭证。")

    # -- 入账标识 --------------------------------------------------------------------------
    def report_posting(self, status: PostingStatus) -> PostingAck:
        body = status.wire(self.codes)
        try:
            response = self.client.post(p.POSTING_PATH, json=body,
                                        headers={"Idempotency-Key": status.idempotency_key})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TaxPlatformError(
                "unreachable", f"无法连接{LABEL}（{exc.__class__.__name__}），入账状态未提交，请稍后重试", retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            raise TaxPlatformError(
                "timeout",
                f"{LABEL}在 {self.read_timeout:g} 秒内没有答复（{exc.__class__.__name__}）。入账状态可能已被受理："
                f"请用同一幂等键 {status.idempotency_key} 重新提交，平台不会重复记录",
                retryable=True,
            ) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TaxPlatformError("unavailable", f"{LABEL}暂时不可用（HTTP {response.status_code}），入账状态未提交，请稍后重试",
                                   retryable=True, raw=self._safe_json(response))
        payload = self._json(response)
        if response.status_code == 409:
            raise TaxPlatformError(
                "idempotency_conflict",
                f"幂等键 {status.idempotency_key} 已用于另一笔不同的入账状态提交（{payload.get('message') or '冲突'}）；"
                "请核对该发票的入账记录，勿用旧键提交新内容",
                retryable=False, raw=payload)
        self._raise_for_client_error(response, payload, what="入账状态提交")
        if str(payload.get("code")) != p.OK or not isinstance(payload.get("data"), dict):
            raise TaxPlatformError("rejected", f"{LABEL}未受理入账状态：{payload.get('message') or payload.get('code')}",
                                   retryable=False, raw=payload)
        data = payload["data"]
        received = self._clock()
        try:
            if data.get("received_at"):
                parsed = dt.datetime.fromisoformat(str(data["received_at"]))
                if parsed.tzinfo is not None:
                    received = parsed
        except ValueError:
            pass
        duplicate = bool(data.get("duplicate"))
        return PostingAck(
            idempotency_key=status.idempotency_key, business_key=status.business_key,
            accepted=bool(data.get("accepted", True)), duplicate=duplicate, received_at=received,
            source=self.source, receipt_id=data.get("receipt_id"),
            message=("平台此前已受理同一提交（幂等键相同），未重复记录。" if duplicate else "入账状态已提交并被平台受理。"),
            raw=payload,
        )

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _safe_json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return {"text": response.text[:500]}

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise TaxPlatformError(
                "protocol_error",
                f"{LABEL}的答复不是预期的 JSON（HTTP {response.status_code}）；请检查 taxplatform.url 是否指向查验接口",
                retryable=False, raw={"text": response.text[:500]})
        return payload

    def _raise_for_client_error(self, response: httpx.Response, payload: dict[str, Any], *, what: str) -> None:
        status = response.status_code
        if status in (401, 403):
            raise TaxPlatformError("auth_failed", f"{LABEL}拒绝了身份认证（HTTP {status}），请检查 taxplatform.token",
                                   retryable=False, raw=payload)
        if status == 404:
            raise TaxPlatformError("configuration_error",
                                   f"{LABEL}没有该接口（HTTP 404），请检查 taxplatform.url", retryable=False, raw=payload)
        if 400 <= status < 500:
            raise TaxPlatformError("invalid_query",
                                   f"{LABEL}拒绝了{what}：{payload.get('message') or status}", retryable=False,
                                   raw=payload)
