"""The HTTP client every adapter shares.

httpx (``httpx>=0.27,<1``) is used for its explicit per-phase timeouts
(``httpx.Timeout(connect=..., read=..., write=..., pool=...)``) and for an
exception hierarchy that tells "never reached the server" (``ConnectError``,
``ConnectTimeout``, ``PoolTimeout``) apart from "sent, but no answer"
(``ReadTimeout``, ``RemoteProtocolError``, ``ReadError``, ``WriteError``):
exactly the line between *retryable* and *outcome unknown*.

No automatic retries here: a write is sent once; the outbox worker decides.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from invoice_archive.ports.accounting import AccountingError

log = logging.getLogger(__name__)

_DEC = "\x00DEC:"


def json_bytes(payload: Any, places: int = 2) -> bytes:
    """UTF-8 JSON with Decimals written as exact JSON numbers with ``places`` decimals (never through float)."""
    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{_DEC}{value:.{places}f}"
        raise TypeError(type(value).__name__)
    text = json.dumps(payload, ensure_ascii=False, default=mark)
    return re.sub(r'"\\u0000DEC:(-?\d+\.\d+)"', r"\1", text).encode("utf-8")


#: errors raised before any byte of the request reached the server
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
#: errors raised after the request (or part of it) may have reached the server
MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError,
              httpx.WriteError)


class Settings:
    """Reads an adapter's own options from a flat dict (values may be ini strings).

    The service hands an accounting adapter ``Settings.accounting.options``: every
    ``accounting.*`` setting, environment applied, and nothing else. A key is
    looked up as ``<prefix><key>`` first (e.g. ``accounting.url``), then bare
    (``url``), so both those options and a small dict work. Missing required
    options fail at construction, not on first use.
    """

    def __init__(self, options: Mapping[str, Any], prefix: str = "accounting.") -> None:
        self._options = dict(options or {})
        self._prefix = prefix

    def get(self, key: str, default: Any = None) -> Any:
        for name in (self._prefix + key, key):
            if self._options.get(name) not in (None, ""):
                return self._options[name]
        return default

    def require(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise AccountingError("configuration_error",
                                  f"记账系统配置缺少 {self._prefix}{key}，请在配置文件中填写后重启服务",
                                  retryable=False)
        return str(value)

    def float(self, key: str, default: float) -> float:
        return float(self.get(key, default))

    def int(self, key: str, default: int) -> int:
        return int(self.get(key, default))

    def bool(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        return bool(value)


class HttpTransport:
    """One httpx.Client with explicit timeouts and error mapping.

    ``send`` raises ``AccountingError`` with code ``unreachable`` (nothing was
    sent: retryable) or ``timeout_outcome_unknown`` (the request may have been
    processed: look it up before retrying). HTTP error statuses are returned
    as they are: their meaning is the vendor's.
    """

    def __init__(self, base_url: str, *, connect_timeout: float = 3.0, read_timeout: float = 30.0,
                 verify: bool | str = True, headers: Mapping[str, str] | None = None,
                 system_label: str = "记账系统") -> None:
        self.base_url = base_url.rstrip("/")
        self.system_label = system_label
        self.read_timeout = read_timeout
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout,
                                  pool=connect_timeout),
            verify=verify,
            headers=dict(headers or {}),
            follow_redirects=False,
            trust_env=False,
        )

    @classmethod
    def from_settings(cls, s: Settings, *, system_label: str, headers: Mapping[str, str] | None = None,
                      url_key: str = "url") -> HttpTransport:
        verify: bool | str = s.bool("verify_tls", True)
        if s.get("ca_bundle"):
            verify = str(s.get("ca_bundle"))
        return cls(s.require(url_key), connect_timeout=s.float("connect_timeout", 3.0),
                   read_timeout=s.float("read_timeout", 30.0), verify=verify, headers=headers,
                   system_label=system_label)

    def close(self) -> None:
        self.client.close()

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        where = f"{self.base_url}{path}"
        try:
            return self.client.request(method, path, **kwargs)
        except NOT_SENT as exc:
            log.warning("%s unreachable at %s: %r", self.system_label, where, exc)
            raise AccountingError(
                "unreachable",
                f"无法连接{self.system_label}（{where}）：{exc.__class__.__name__}。请求未发出，可稍后重试；"
                f"若持续失败请检查地址、网络和{self.system_label}服务是否在运行",
                retryable=True) from exc
        except MAYBE_SENT as exc:
            log.warning("%s gave no answer at %s: %r", self.system_label, where, exc)
            raise AccountingError(
                "timeout_outcome_unknown",
                f"{self.system_label}在 {self.read_timeout:g} 秒内没有答复（{exc.__class__.__name__}）。"
                f"请求可能已被处理：请先按外部参考号查询，确认未入账后再重试",
                retryable=True) from exc
        except httpx.HTTPError as exc:  # anything else from the transport: be conservative
            log.warning("%s transport error at %s: %r", self.system_label, where, exc)
            raise AccountingError(
                "timeout_outcome_unknown",
                f"与{self.system_label}通信出错（{exc.__class__.__name__}）。请求可能已被处理：请先按外部参考号查询",
                retryable=True) from exc
