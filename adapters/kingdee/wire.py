"""How the Kingdee adapter's requests reach K/3 Cloud: one ``call(service, body)``.

:class:`HttpWire` is the adapter's own client (httpx, explicit timeouts). It sends
what Kingdee's official Python SDK (``kingdee.cdp.webapi.sdk`` 8.x,
``k3cloud_webapi_sdk.core.webapi_client.WebApiClient``) sends, in the details a
site or its gateway may check (docs/accounting-systems.md):

* the signed headers of adapters/kingdee/signing.py, with the nonce equal to the
  timestamp (seconds), as the SDK makes it;
* the session the site opens for a signed request is kept: its
  ``kdservice-sessionid`` cookie goes back as that header and as a cookie, with
  the site's other cookies, so one integration user holds one session instead of
  logging in on every call;
* ``User-Agent`` starting with the SDK's product token
  (``Kingdee/Python WebApi SDK 7.3``), then this service's name, ``Accept-Charset:
  utf-8`` and ``Content-Type: application/json``.

With ``auth = session`` it logs in with ``AuthService.LoginBySign`` first and renews
the session before ``session_max_age``.

Any other object with ``call(service, body) -> parsed JSON`` and ``close()`` can
stand in (the tests drive the adapter through the official SDK itself). A wire
raises :class:`AccountingError`: ``unreachable`` (nothing sent), ``busy`` (429, 502,
503: nothing written), ``timeout_outcome_unknown`` (sent, no answer),
``configuration_error`` (404: no such service on the site), ``protocol_error``.
"""
from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

from invoice_archive_adapters._http import HttpTransport, Settings, json_bytes
from invoice_archive_adapters.kingdee import signing
from invoice_archive.ports.accounting import AccountingError

LABEL = "金蝶云星空"
SUFFIX = ".common.kdsvc"
LOGIN = "Kingdee.BOS.WebApi.ServicesStub.AuthService.LoginBySign"
SESSION_COOKIE = "kdservice-sessionid"
#: the SDK's product token first (a gateway may look for it), then who we are
USER_AGENT = "Kingdee/Python WebApi SDK 7.3 (compatible; invoice-archive)"


class Wire(Protocol):
    def call(self, service: str, body: dict[str, Any]) -> Any: ...

    def close(self) -> None: ...


dumps = json_bytes   # Decimals as exact JSON numbers with two decimals, never through float


def auth_failed(message: str) -> AccountingError:
    return AccountingError(
        "auth_failed",
        f"{LABEL}认证失败：{message}。请检查账套 ID、集成用户、应用 ID/密钥及「第三方系统登录授权」"
        f"是否有效；此错误不会自动重试", retryable=False, system_message=message)


class HttpWire:
    """The adapter's own HTTP client for K/3 Cloud (see the module docstring)."""

    def __init__(self, s: Settings) -> None:
        self.acct_id = s.require("acct_id")
        self.username = s.require("username")
        self.app_id = s.require("app_id")
        self.app_secret = s.require("app_secret")
        self.lcid = s.int("lcid", 2052)
        self.org_num = str(s.get("org_num", 0))
        self.auth = str(s.get("auth", "signature")).lower()
        if self.auth not in ("signature", "session"):
            raise AccountingError("configuration_error", f"accounting.auth 只能是 signature 或 session，收到 {self.auth}")
        self.session_max_age = s.float("session_max_age", 600)
        self.http = HttpTransport.from_settings(s, system_label=LABEL, headers={
            "Accept-Charset": "utf-8", "Content-Type": "application/json",
            "User-Agent": str(s.get("user_agent", USER_AGENT))})
        self._base_path = urlsplit(self.http.base_url).path.rstrip("/")
        self._session: str | None = None
        self._session_at = 0.0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def forget_session(self) -> None:
        with self._lock:
            self._session = None
            self.http.client.cookies.clear()

    # -- sessions -------------------------------------------------------------------------------
    def _login(self) -> None:
        timestamp = str(int(time.time()))
        sign = signing.login_sign(self.acct_id, self.username, self.app_id, self.app_secret, timestamp)
        response = self.http.send("POST", f"/{LOGIN}{SUFFIX}", content=dumps(
            {"parameters": [self.acct_id, self.username, self.app_id, timestamp, sign, self.lcid]}))
        try:
            result = response.json()
        except ValueError:
            raise AccountingError("protocol_error", f"{LABEL}登录接口返回了非 JSON 内容（HTTP {response.status_code}）",
                                  retryable=response.status_code >= 500)
        if result.get("LoginResultType") not in (1, -5):  # -5: 登录成功但需要修改密码 (still a session)
            raise auth_failed(str(result.get("Message") or f"LoginResultType={result.get('LoginResultType')}"))
        session = result.get("KDSVCSessionId") or response.cookies.get(SESSION_COOKIE)
        if not session:
            raise AccountingError("protocol_error", f"{LABEL}登录成功但未返回会话 ID")
        self._session, self._session_at = session, time.monotonic()

    def _headers(self, path: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        with self._lock:
            if self.auth == "session":
                if self._session is None or time.monotonic() - self._session_at > self.session_max_age:
                    self._login()
            else:
                timestamp = str(int(time.time()))
                headers.update(signing.signed_headers(
                    self._base_path + path, acct_id=self.acct_id, username=self.username, app_id=self.app_id,
                    app_secret=self.app_secret, lcid=self.lcid, org_num=self.org_num, now=int(timestamp),
                    nonce=timestamp))
            if self._session:  # (the site's cookies, this one too, travel in the client's cookie jar)
                headers[SESSION_COOKIE] = self._session
        return headers

    def _keep_session(self, response: Any) -> None:
        session = response.cookies.get(SESSION_COOKIE)
        if session:
            with self._lock:
                self._session = session
                if self.auth == "signature":
                    self._session_at = time.monotonic()

    # -- calls ------------------------------------------------------------------------------------
    def call(self, service: str, body: dict[str, Any]) -> Any:
        path = f"/{service}{SUFFIX}"
        response = self.http.send("POST", path, content=dumps(body), headers=self._headers(path))
        if response.status_code in (429, 502, 503):
            raise AccountingError("busy", f"{LABEL}繁忙（HTTP {response.status_code}），请稍后重试", retryable=True)
        if response.status_code == 404:
            raise AccountingError("configuration_error", f"{LABEL}没有接口 {path}（HTTP 404），请检查 accounting.url")
        if response.status_code >= 500:
            raise AccountingError("timeout_outcome_unknown",
                                  f"{LABEL}处理出错（HTTP {response.status_code}），请求可能已被处理", retryable=True)
        self._keep_session(response)
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise AccountingError("protocol_error", f"{LABEL}返回了非 JSON 内容（HTTP {response.status_code}）")
